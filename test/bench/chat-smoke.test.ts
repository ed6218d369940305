/**
 * The chat cases of the benchmark harness (bench/run.ts, issue 15) in smoke mode: 100 users in 4
 * rooms, a fraction of a second per rate, against ours (`@rfc6455/chat`, the workspace chat/) and
 * the Socket.IO peer. It only has to run, deliver and report: the numbers mean nothing.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { ChatResult } from '../../bench/lib/ipc.js';
import { runBench, type SmokeCase } from './run-bench.js';

const SERVERS = ['ours', 'socketio'];
const CASES = ['chat-1k-1ps', 'chat-1k-max'];
const USERS = 100;

it('bench/run.ts --smoke runs the chat cases against ours and Socket.IO, and every message reaches its room', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rfc6455-bench-chat-'));
  try {
    const out = join(dir, 'results.json');
    const { code, output } = await runBench(['--smoke', '--cases', CASES.join(','), '--servers', SERVERS.join(','), '--out', out]);
    expect(code, output).toBe(0);
    const results = JSON.parse(readFileSync(out, 'utf8')) as { cases: Record<string, SmokeCase> };
    expect(Object.keys(results.cases).sort()).toEqual([...CASES].sort());
    for (const id of CASES) {
      const result = results.cases[id]!;
      expect(result.servers, id).toEqual(SERVERS);
      for (const run of result.runs) {
        expect(run.ok, `${id} ${run.server}: ${run.error}`).toBe(true);
        const detail = run.detail as unknown as ChatResult & { baseline: object; loaded: object };
        expect(detail.users, `${id} ${run.server}`).toBe(USERS);
        expect(detail.windowStep, `${id} ${run.server}`).toBeGreaterThanOrEqual(0);
        // Every user got its own messages back, and the others' reached their rooms.
        expect(detail.acknowledgments, `${id} ${run.server}`).toBeGreaterThanOrEqual(USERS);
        expect(detail.deliveries, `${id} ${run.server}`).toBeGreaterThan(detail.acknowledgments);
        expect(detail.steps.length, `${id} ${run.server}`).toBeGreaterThan(0);
        expect(detail.baseline, `${id} ${run.server}`).toBeDefined();
        expect(detail.loaded, `${id} ${run.server}`).toBeDefined();
      }
      for (const server of result.servers) {
        const medians = result.medians[server]!;
        expect(medians['messagesPerSec'], `${id} ${server} deliveries/s`).toBeGreaterThan(0);
        for (const metric of ['p50Us', 'p99Us', 'heapPerConnKiB', 'rssPerConnKiB', 'serverCpu', 'generatorCpu']) {
          expect(Number.isFinite(medians[metric]), `${id} ${server} ${metric}`).toBe(true);
        }
      }
    }
    // The chat cases' own table: ours and Socket.IO, nothing else.
    expect(output).toContain('| case | metric | ours | Socket.IO | ours/socketio | target | |');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
