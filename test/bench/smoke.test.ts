/**
 * The benchmark harness (bench/run.ts) in smoke mode: every case against every server for a
 * fraction of a second, small connection counts, no targets. It only has to run: this keeps the
 * harness (servers, load generator, report) from rotting between benchmark runs.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runBench, type SmokeCase } from './run-bench.js';

// The fan-out cases have their own smoke test (fanout-smoke.test.ts), so each stays within its time.
const CASES = ['echo-64b', 'echo-16k', 'echo-1m', 'idle-10k', 'handshake', 'latency', 'deflate-4k'];

it('bench/run.ts --smoke runs every echo, idle, handshake, latency and deflate case against every server and reports a number for each', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rfc6455-bench-smoke-'));
  try {
    const out = join(dir, 'results.json');
    const { code, output } = await runBench(['--smoke', '--cases', CASES.join(','), '--out', out]);
    expect(code, output).toBe(0);
    const results = JSON.parse(readFileSync(out, 'utf8')) as { cases: Record<string, SmokeCase> };
    expect(Object.keys(results.cases).sort()).toEqual([...CASES].sort());
    for (const id of CASES) {
      const result = results.cases[id]!;
      expect(result.servers.length, id).toBeGreaterThanOrEqual(2);
      expect(result.servers, id).toContain('ours');
      expect(result.servers, id).toContain('ws');
      for (const run of result.runs) expect(run.ok, `${id} ${run.server}: ${run.error}`).toBe(true);
      for (const server of result.servers) {
        const [headline, ...others] = result.metrics;
        expect(result.medians[server]?.[headline!], `${id} ${server} ${headline}`).toBeGreaterThan(0);
        for (const metric of others) expect(Number.isFinite(result.medians[server]?.[metric]), `${id} ${server} ${metric}`).toBe(true);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
