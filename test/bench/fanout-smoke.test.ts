/**
 * The fan-out cases of the benchmark harness (bench/run.ts, issue 11) in smoke mode: every
 * fan-out server script (ours with and without the topic's noContextTakeover, ws's broadcast loop,
 * the raw ceiling), uncompressed and compressed, for a fraction of a second with a few hundred
 * subscribers. It only has to run, deliver, and report; the numbers mean nothing.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runBench, type SmokeCase } from './run-bench.js';

/** Each case, the servers its smoke run starts, and its smoke subscriber count. */
const CASES: Record<string, { servers: string[]; subscribers: number; deflate: boolean }> = {
  'fanout-64b-1k': { servers: ['ours', 'ws', 'raw'], subscribers: 100, deflate: false },
  'fanout-64b-10k': { servers: ['ours'], subscribers: 400, deflate: false },
  'fanout-4k-1k': { servers: ['ours'], subscribers: 100, deflate: false },
  'fanout-4k-10k': { servers: ['ours'], subscribers: 400, deflate: false },
  'fanout-deflate-4k-1k': { servers: ['ours', 'ws'], subscribers: 100, deflate: true },
  'fanout-deflate-own-4k-1k': { servers: ['ours', 'ws'], subscribers: 100, deflate: true },
};

it('bench/run.ts --smoke runs every fan-out case and every message reaches every subscriber', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rfc6455-bench-fanout-'));
  try {
    const out = join(dir, 'results.json');
    const { code, output } = await runBench(['--smoke', '--cases', Object.keys(CASES).join(','), '--out', out]);
    expect(code, output).toBe(0);
    const results = JSON.parse(readFileSync(out, 'utf8')) as { cases: Record<string, SmokeCase> };
    expect(Object.keys(results.cases).sort()).toEqual(Object.keys(CASES).sort());
    for (const [id, expected] of Object.entries(CASES)) {
      const result = results.cases[id]!;
      expect(result.servers, id).toEqual(expected.servers);
      expect(result.metrics, id).toEqual(['messagesPerSec', 'p50Us', 'p99Us']);
      for (const run of result.runs) {
        expect(run.ok, `${id} ${run.server}: ${run.error}`).toBe(true);
        const detail = run.detail as { subscribers: number; verified: number; messages: number; compressedDeliveries: number; extensions: Record<string, number> };
        // Every subscriber's first message was checked byte for byte (inflated when compressed).
        expect(detail.subscribers, `${id} ${run.server}`).toBe(expected.subscribers);
        expect(detail.verified, `${id} ${run.server}`).toBe(expected.subscribers);
        expect(detail.messages, `${id} ${run.server}`).toBeGreaterThan(0);
        if (expected.deflate) {
          expect(detail.compressedDeliveries, `${id} ${run.server}`).toBeGreaterThan(0);
          // Chromium's offer keeps context takeover on both servers (within ours's context budget),
          // so ours's default case takes its per-connection path and the shared case resets them.
          const takeover = Object.entries(detail.extensions).filter(([answer]) => !answer.includes('server_no_context_takeover'));
          expect(takeover.reduce((sum, [, count]) => sum + count, 0), `${id} ${run.server} ${JSON.stringify(detail.extensions)}`).toBe(expected.subscribers);
        } else {
          expect(detail.compressedDeliveries, `${id} ${run.server}`).toBe(0);
        }
      }
      for (const server of result.servers) {
        expect(result.medians[server]?.['messagesPerSec'], `${id} ${server} deliveries/s`).toBeGreaterThan(0);
        for (const metric of ['p50Us', 'p99Us']) expect(Number.isFinite(result.medians[server]?.[metric]), `${id} ${server} ${metric}`).toBe(true);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
