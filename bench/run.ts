/**
 * `npm run bench`: runs every case against rfc6455 ("ours"), ws + bufferutil, and a raw TCP echo
 * (the ceiling, where it means something), interleaved (ours, ws, raw, ours, ws, raw...) for
 * several rounds, each run with a fresh server process pinned to one core and a fresh load
 * generator (bench/load.ts) pinned to another. Prints a Markdown table of medians and ours/ws,
 * ours/raw ratios (per round, and their median), checks the targets, writes bench/results.json
 * and regenerates the table in bench/README.md.
 *
 *   npm run bench                                  # 3 rounds, 5 s per run
 *   npm run bench -- --rounds 5 --duration 10
 *   npm run bench -- --cases echo-64b,latency      # a subset (README and results.json untouched)
 *   npm run bench:smoke                            # 1 round, short runs, small counts, no targets
 *
 * Options: --rounds N, --duration S, --warmup S, --cases a,b, --servers ours,ws,raw,socketio, --smoke, --out FILE (results JSON),
 * --no-pin (no taskset), --no-readme, --no-wait (neither wait for a quiet machine before a run nor
 * run a disturbed run again), --strict (exit 3 when a target is missed), --profile DIR (each server
 * process writes V8 CPU profiles to DIR/<case>-<server>-r<round>/, one per thread, the largest
 * being the main thread's, and the load generator to DIR/<case>-<server>-r<round>-generator/;
 * the figures of such a run are printed only), --server-flags="FLAGS" (Node flags for every server
 * process, ours and the peers alike, e.g. "--max-semi-space-size=2" or "--trace-gc"; figures printed
 * only, each server's own output kept in $TMPDIR/rfc6455-bench-server-output/<case>-<server>-r<round>.log).
 * Exit code: 0 when every run completed, 1 when one failed, 2 for bad arguments.
 *
 * This module parses the arguments and runs the rounds; the only one that runs anything on import.
 * The cases are declared in cases.ts, one run is measure.ts, the machine checks machine.ts,
 * the processes child.ts, the figures summed up summary.ts, and the output report.ts.
 */

import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CASES, SERVER_LABEL, heldConnections, type CaseDef, type Scale } from './cases.js';
import { choosePinning } from './child.js';
import { formatNumber } from './lib/stats.js';
import type { ServerKind } from './lib/ipc.js';
import {
  BUSY,
  DISTURBED,
  MAX_ATTEMPTS,
  QUIET_WAIT_MS,
  checkFileLimit,
  describeLoad,
  describeMachine,
  measureBackground,
  waitForQuiet,
} from './machine.js';
import { runOne, type RunRecord } from './measure.js';
import { missedTargets, renderMachine, renderTables, runLine, updateReadme, writeResults } from './report.js';
import { summarize, type CaseSummary } from './summary.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function usage(message: string): never {
  console.error(`bench: ${message}`);
  console.error(
    'usage: tsx bench/run.ts [--rounds N] [--duration S] [--warmup S] [--cases a,b] [--servers ours,ws,raw,socketio] [--smoke] [--out FILE] [--no-pin] [--no-readme] [--no-wait] [--strict] [--profile DIR] [--server-flags="FLAGS"]',
  );
  console.error(`cases: ${CASES.map((c) => c.id).join(', ')}`);
  process.exit(2);
}

interface Options {
  readonly rounds: number;
  readonly scale: Scale;
  readonly cases: readonly CaseDef[];
  readonly out: string | null;
  readonly pin: boolean;
  readonly readme: boolean;
  readonly strict: boolean;
  /** Wait for a quiet machine before each run, and run again a run that other processes disturbed. */
  readonly guard: boolean;
  /** Where server processes write CPU profiles, or null. */
  readonly profile: string | null;
  /** Node flags for every server process (--server-flags). */
  readonly serverFlags: readonly string[];
}

function parseOptions(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        rounds: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        cases: { type: 'string' },
        servers: { type: 'string' },
        smoke: { type: 'boolean', default: false },
        out: { type: 'string' },
        'no-pin': { type: 'boolean', default: false },
        'no-readme': { type: 'boolean', default: false },
        strict: { type: 'boolean', default: false },
        'no-wait': { type: 'boolean', default: false },
        profile: { type: 'string' },
        'server-flags': { type: 'string' },
      },
    }));
  } catch (error) {
    usage((error as Error).message);
  }
  const smoke = values.smoke === true;
  const number = (name: string, raw: string | undefined, fallback: number, min: number): number => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) usage(`--${name} must be a number >= ${min}, got ${JSON.stringify(raw)}`);
    return value;
  };
  const rounds = number('rounds', values.rounds, smoke ? 1 : 3, 1);
  if (!Number.isInteger(rounds)) usage('--rounds must be an integer');
  const duration = number('duration', values.duration, smoke ? 0.25 : 5, 0.1);
  const warmup = number('warmup', values.warmup, smoke ? 0.1 : 1.5, 0);
  let cases = CASES;
  if (values.cases !== undefined) {
    const ids = values.cases.split(',').map((id) => id.trim()).filter((id) => id !== '');
    const unknown = ids.filter((id) => !CASES.some((c) => c.id === id));
    if (unknown.length > 0) usage(`unknown case ${unknown.join(', ')}`);
    cases = CASES.filter((c) => ids.includes(c.id));
  }
  if (smoke) cases = cases.map((c) => (c.smokeServers === undefined ? c : { ...c, servers: c.smokeServers }));
  let everything = cases.length === CASES.length;
  if (values.servers !== undefined) {
    const kinds = values.servers.split(',').map((kind) => kind.trim());
    const known = Object.keys(SERVER_LABEL);
    const unknown = kinds.filter((kind) => !known.includes(kind));
    if (unknown.length > 0) usage(`unknown server ${unknown.join(', ')} (${known.join(', ')})`);
    cases = cases
      .map((c) => ({ ...c, servers: c.servers.filter((kind) => kinds.includes(kind)) }))
      .filter((c) => c.servers.length > 0);
    if (cases.length === 0) usage('no case runs any of those servers');
    everything = false;
  }
  const profile = values.profile === undefined ? null : resolvePath(values.profile);
  // A profiler slows the server it watches: such a run's figures go nowhere but the terminal.
  if (profile !== null) everything = false;
  const serverFlags = (values['server-flags'] ?? '').split(/\s+/).filter((flag) => flag !== '');
  if (serverFlags.some((flag) => !flag.startsWith('--'))) usage('--server-flags takes Node flags, each starting with --');
  // Servers not run as users run them: their figures go nowhere but the terminal either.
  if (serverFlags.length > 0) everything = false;
  const out = values.out ?? (smoke || !everything ? null : `${ROOT}bench/results.json`);
  return {
    rounds,
    scale: { smoke, warmupMs: Math.round(warmup * 1000), durationMs: Math.round(duration * 1000) },
    cases,
    out,
    pin: values['no-pin'] !== true,
    readme: values['no-readme'] !== true && !smoke && everything && values.out === undefined,
    strict: values.strict === true,
    guard: !smoke && values['no-wait'] !== true,
    profile,
    serverFlags,
  };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const pinning = choosePinning(options.pin);
  const machine = describeMachine(pinning);
  const serverInfo = new Map<ServerKind, Record<string, string | boolean>>();
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  log(`bench: ${options.cases.map((c) => c.id).join(', ')}; ${options.rounds} round(s); ${machine.pinning}`);

  // Other work on the machine skews every number: measure it for a second before starting.
  const background = await measureBackground(options.scale.smoke ? 200 : 1000);
  if (background !== null) {
    log(`bench: machine load before starting: ${describeLoad(background)}`);
    if (background.processes > BUSY) {
      log(
        options.guard
          ? 'bench: the machine is not idle: each run waits for a quiet half second first'
          : 'bench: WARNING: the machine is not idle; the numbers will be noisy',
      );
    }
  }

  const largest = Math.max(0, ...options.cases.map((c) => heldConnections(c.spec(options.scale))));
  const files = checkFileLimit(largest);
  if (files !== null) log(`bench: WARNING: ${files}`);

  const summaries: CaseSummary[] = [];
  let failures = 0;
  for (const def of options.cases) {
    const runs: RunRecord[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (const kind of def.servers) {
        const began = performance.now();
        let run: RunRecord;
        for (let attempt = 1; ; attempt++) {
          if (options.guard && (await waitForQuiet(QUIET_WAIT_MS, log)) < 0) {
            log('bench: WARNING: the machine stayed busy; running anyway');
          }
          const result = await runOne(def, kind, round, options, pinning, serverInfo);
          const disturbed = result.ok && (result.metrics.otherCpu ?? 0) > DISTURBED;
          run = { ...result, attempts: attempt, disturbed };
          if (!disturbed || !options.guard || attempt >= MAX_ATTEMPTS) break;
          log(
            `[${def.id} ${round}/${options.rounds}] ${kind}: other processes used ` +
              `${formatNumber(result.metrics.otherCpu)}% of a core during the window; running it again`,
          );
        }
        const took = `${((performance.now() - began) / 1000).toFixed(1)} s`;
        runs.push(run);
        log(runLine(def, run, options.rounds, took));
        if (!run.ok) {
          failures++;
          continue;
        }
        // Let the kernel finish tearing the last run's sockets down.
        await new Promise((resolve) => setTimeout(resolve, options.scale.smoke ? 50 : 250));
      }
    }
    summaries.push(summarize(def, runs, options.rounds));
  }

  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const tables = renderTables(summaries, options);
  const header = renderMachine(machine, options, date, background);
  console.log(`\n${header}\n\n${tables}\n`);

  const missed = missedTargets(summaries);
  if (!options.scale.smoke) {
    if (missed.length === 0) log('bench: every target met');
    else log(`bench: targets missed:\n  ${missed.join('\n  ')}`);
  }

  if (options.out !== null) {
    writeResults(options.out, { date, machine, background, serverInfo, shape: options, cases: options.cases, summaries });
    log(`bench: results written to ${options.out}`);
  }
  if (options.readme && failures === 0) {
    updateReadme(`${header}\n\n${tables}`);
    log('bench: bench/README.md updated');
  }
  if (failures > 0) {
    log(`bench: ${failures} run(s) failed`);
    process.exitCode = 1;
  } else if (options.strict && !options.scale.smoke && missed.length > 0) {
    process.exitCode = 3;
  }
}

await main();
