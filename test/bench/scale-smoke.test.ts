/**
 * The several-instance cases of the benchmark harness (issue 16) in smoke mode: the echo server
 * with --workers 2 against one process, and the chat through Redis (two instances, a redis-server
 * of the run's own) against Socket.IO with @socket.io/redis-adapter. They only have to run, deliver
 * and report Redis' cost: the numbers mean nothing.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeWithPeer } from '../interop/peers.js';
import { redisPeer } from '../../redis/test/redis-server.js';
import { runBench, type SmokeCase } from './run-bench.js';

const CASES = ['echo-64b-workers', 'chat-redis-1k-1ps'];

describeWithPeer(redisPeer, 'bench/run.ts --smoke, the several-instance cases', () => {
  it('runs --workers 2 against one process, and the chat through Redis against Socket.IO + redis-adapter, with Redis’ cost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rfc6455-bench-scale-'));
    try {
      const out = join(dir, 'results.json');
      const { code, output } = await runBench(['--smoke', '--cases', CASES.join(','), '--out', out]);
      expect(code, output).toBe(0);
      const results = JSON.parse(readFileSync(out, 'utf8')) as { cases: Record<string, SmokeCase> };
      expect(results.cases['echo-64b-workers']!.servers).toEqual(['ours', 'single']);
      expect(results.cases['chat-redis-1k-1ps']!.servers).toEqual(['ours', 'socketio-redis']);
      for (const id of CASES) {
        for (const run of results.cases[id]!.runs) expect(run.ok, `${id} ${run.server}: ${run.error}`).toBe(true);
        for (const server of results.cases[id]!.servers) expect(results.cases[id]!.medians[server]!['messagesPerSec'], `${id} ${server}`).toBeGreaterThan(0);
      }
      // The chat through Redis reports no memory: its servers are not measured (no forced
      // collections before its windows: bench/lib/ipc.ts, ChatSpec.memory).
      for (const run of results.cases['chat-redis-1k-1ps']!.runs) {
        expect(run.detail, run.server).not.toHaveProperty('baseline');
        expect(run.detail, run.server).not.toHaveProperty('loaded');
      }
      for (const server of ['ours', 'socketio-redis']) {
        const medians = results.cases['chat-redis-1k-1ps']!.medians[server]!;
        for (const metric of ['redisCpu', 'redisCommandsPerMessage', 'redisCpuUsPerMessage', 'serverCpu']) {
          expect(Number.isFinite(medians[metric]), `${server} ${metric}`).toBe(true);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
