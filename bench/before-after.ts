/**
 * `npm run bench:before-after -- --before <commit> --cases a,b [--rounds N] [--duration S]`:
 * the cases of `npm run bench` run against this checkout's build and another commit's, on the same
 * machine, alternating (before, after, before, after...) so that a quiet or busy minute falls on
 * both. Issue 14 asks that no case be slower than before; another day's figures are another host's
 * (the bench of 2026-12-02 ran on an Intel Xeon, the one of 2026-12-07 on an AMD EPYC at about half
 * the speed), so only a same-machine run says whether the code got slower.
 *
 * The other commit is checked out in a git worktree under the system's temporary directory, with
 * this checkout's node_modules linked in and its library built (`tsc -p tsconfig.build.json`); the
 * bench's servers and clients load it through BENCH_LIB (bench/lib/library.ts). The harness, the
 * load generator and the peers (ws, raw) are this checkout's in both. Prints, per case and server,
 * the median of each metric before and after, and after/before; each round's results are kept as
 * JSON in the worktree's directory.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './lib/stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface RunJson {
  readonly server: string;
  readonly ok: boolean;
  readonly metrics: Record<string, number | undefined>;
}
interface ResultsJson {
  readonly cases: Record<string, { readonly metrics: readonly string[]; readonly runs: readonly RunJson[] }>;
}

function fail(message: string): never {
  console.error(`bench:before-after: ${message}`);
  console.error('usage: tsx bench/before-after.ts --before <commit> --cases a,b [--servers ours,ws] [--rounds N] [--duration S]');
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    cases: { type: 'string' },
    servers: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
  },
});
if (values.before === undefined) fail('--before <commit> is required');
if (values.cases === undefined) fail('--cases is required (a full run twice over would take most of an hour)');
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) fail('--rounds must be an integer >= 1');

const git = (...args: string[]): string => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
const commit = git('rev-parse', '--verify', `${values.before}^{commit}`);
const dir = join(tmpdir(), `rfc6455-before-${commit.slice(0, 12)}`);
if (!existsSync(join(dir, 'dist', 'index.js'))) {
  if (!existsSync(dir)) git('worktree', 'add', '--detach', dir, commit);
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' });
}
// This checkout's build, as `npm run bench` makes it.
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });

const results: Record<'before' | 'after', ResultsJson[]> = { before: [], after: [] };
mkdirSync(join(dir, 'results'), { recursive: true });
for (let round = 1; round <= rounds; round++) {
  for (const side of ['before', 'after'] as const) {
    const out = join(dir, 'results', `${side}-${round}.json`);
    const args = ['bench/run.ts', '--cases', values.cases, '--rounds', '1', '--duration', values.duration, '--no-readme', '--out', out];
    if (values.servers !== undefined) args.push('--servers', values.servers);
    const env = { ...process.env, BENCH_LIB: side === 'before' ? join(dir, 'dist') : '' };
    console.error(`round ${round}/${rounds}, ${side}: tsx ${args.join(' ')}`);
    const run = spawnSync('npx', ['tsx', ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
    if (run.status !== 0) fail(`the ${side} run of round ${round} exited with ${run.status}`);
    results[side].push(JSON.parse(readFileSync(out, 'utf8')) as ResultsJson);
  }
}

const collect = (side: 'before' | 'after', id: string, server: string, metric: string): number[] =>
  results[side].flatMap((r) =>
    (r.cases[id]?.runs ?? []).filter((run) => run.ok && run.server === server).map((run) => run.metrics[metric]),
  ).filter((value): value is number => value !== undefined);

const format = (value: number): string => (Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en-US') : value.toPrecision(3));

console.log(`Before: ${commit.slice(0, 12)}; after: ${git('rev-parse', '--short=12', 'HEAD')} (this checkout). Medians of ${rounds} alternated rounds.\n`);
console.log('| case | server | metric | before | after | after/before | rounds before | rounds after |');
console.log('| --- | --- | --- | ---: | ---: | ---: | --- | --- |');
const first = results.after[0]!;
for (const [id, summary] of Object.entries(first.cases)) {
  const servers = [...new Set(summary.runs.map((run) => run.server))];
  for (const server of servers) {
    for (const metric of [...summary.metrics, 'perServerCore']) {
      const before = collect('before', id, server, metric);
      const after = collect('after', id, server, metric);
      if (before.length === 0 || after.length === 0) continue;
      const b = median(before);
      const a = median(after);
      const list = (xs: number[]): string => xs.map(format).join(', ');
      console.log(`| ${id} | ${server} | ${metric} | ${format(b)} | ${format(a)} | ${(a / b).toFixed(2)}× | ${list(before)} | ${list(after)} |`);
    }
  }
}
