/**
 * The benchmark harness (bench/run.ts) in smoke mode: every case against every server for a
 * fraction of a second, small connection counts, no targets. It only has to run: this keeps the
 * harness (servers, load generator, report) from rotting between benchmark runs.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CASES = ['echo-64b', 'echo-16k', 'echo-1m', 'idle-10k', 'handshake', 'latency', 'deflate-4k'];

interface SmokeCase {
  readonly servers: string[];
  readonly metrics: string[];
  readonly medians: Record<string, Record<string, number>>;
  readonly runs: { server: string; ok: boolean; error?: string }[];
}

function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, output })));
}

it('bench/run.ts --smoke runs every case against every server and reports a number for each', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rfc6455-bench-smoke-'));
  try {
    const out = join(dir, 'results.json');
    const { code, output } = await runBench(['--smoke', '--out', out]);
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
