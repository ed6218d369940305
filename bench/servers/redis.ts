/**
 * A redis-server of a benchmark run's own (the chat-redis cases): Debian's, on a free port, without
 * persistence, started by the server process (so it runs on the server's CPUs) and stopped with it.
 * `sample()` reads its CPU and commands from INFO, for the cost of Redis per message.
 */

import { spawn } from 'node:child_process';
import { createClient } from 'redis';
import { freePort } from './common.js';

export interface BenchRedis {
  readonly url: string;
  readonly pid: number;
  /** redis-server's CPU so far (user + system, µs) and the commands it processed. */
  sample(): Promise<{ redisCpuUs: number; redisCommands: number }>;
}

export async function startRedis(): Promise<BenchRedis> {
  const port = await freePort();
  // Its pipes are this process's own (not inherited): they never keep bench/run.ts's open.
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', ''], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  // The server exits when bench/run.ts closes its IPC channel (common.ts): redis-server goes with it.
  process.on('exit', () => child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output}`)));
  });
  child.stdout!.resume();
  const url = `redis://127.0.0.1:${port}`;
  const client = createClient({ url });
  await client.connect();
  return {
    url,
    pid: child.pid!,
    async sample() {
      const info = await client.info();
      const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
      return { redisCpuUs: Math.round((field('used_cpu_user') + field('used_cpu_sys')) * 1e6), redisCommands: field('total_commands_processed') };
    },
  };
}
