/** Runs bench/run.ts as `npm run bench` does (tsx), for the smoke tests; resolves with its exit code and output. */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A case as bench/run.ts writes it to its results JSON. */
export interface SmokeCase {
  readonly servers: string[];
  readonly metrics: string[];
  readonly medians: Record<string, Record<string, number>>;
  readonly runs: { server: string; ok: boolean; error?: string; detail: Record<string, unknown> }[];
}

export function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  const child = spawn(process.execPath, ['--import', 'tsx/esm', 'bench/run.ts', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, output })));
}
