/**
 * The HTTP/2 cases of the benchmark harness (issue 17) in smoke mode: ours over one HTTP/2
 * session (bench/servers/h2.ts under bench/load-h2.ts) against ours over TCP connections, opening
 * WebSockets and echoing on them. It only has to run, and report a number for each; the numbers
 * mean nothing at this scale.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runBench, type SmokeCase } from './run-bench.js';

const CASES = ['h2-open-1k', 'h2-echo-64b'];

it('bench/run.ts --smoke runs the HTTP/2 cases over HTTP/2 and over HTTP/1.1 and reports every figure', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rfc6455-bench-h2-'));
  try {
    const out = join(dir, 'results.json');
    const { code, output } = await runBench(['--smoke', '--cases', CASES.join(','), '--out', out]);
    expect(code, output).toBe(0);
    // The report has its own table for them, with the h2/HTTP/1.1 ratio.
    expect(output).toContain('| case | metric | over HTTP/2 | over HTTP/1.1 | h2/HTTP/1.1 | target | |');
    const results = JSON.parse(readFileSync(out, 'utf8')) as { cases: Record<string, SmokeCase & { subject: string }> };
    for (const id of CASES) {
      const result = results.cases[id]!;
      expect(result.servers, id).toEqual(['h2', 'ours']);
      expect(result.subject, id).toBe('h2');
      for (const run of result.runs) expect(run.ok, `${id} ${run.server}: ${run.error}`).toBe(true);
      for (const server of result.servers) {
        for (const metric of result.metrics) {
          expect(Number.isFinite(result.medians[server]?.[metric]), `${id} ${server} ${metric}`).toBe(true);
        }
        expect(result.medians[server]![result.metrics[0]!], `${id} ${server}`).toBeGreaterThan(0);
      }
    }
    const opened = results.cases['h2-open-1k']!.runs.map((run) => (run.detail as { opened: number }).opened);
    expect(opened).toEqual([100, 100]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
