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
 * Options: --rounds N, --duration S, --warmup S, --cases a,b, --servers ours,ws,raw, --smoke, --out FILE (results JSON),
 * --no-pin (no taskset), --no-readme, --no-wait (neither wait for a quiet machine before a run nor
 * run a disturbed run again), --strict (exit 3 when a target is missed), --profile DIR (each server
 * process writes V8 CPU profiles to DIR/<case>-<server>-r<round>/, one per thread, the largest
 * being the main thread's, and the load generator to DIR/<case>-<server>-r<round>-generator/;
 * the figures of such a run are printed only).
 * Exit code: 0 when every run completed, 1 when one failed, 2 for bad arguments.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { choosePinning } from './child.js';
import { SATURATED, runOne, type RunRecord } from './measure.js';
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
  type Machine,
  type MachineLoad,
} from './machine.js';
import { CASES, METRIC_KEYS, heldConnections, type CaseDef, type MetricKey, type Metrics, type Scale } from './cases.js';
import type { ServerKind } from './lib/ipc.js';
import { formatNumber, formatRatio, median } from './lib/stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README_START = '<!-- bench:results:start -->';
const README_END = '<!-- bench:results:end -->';

// --- Arguments ---------------------------------------------------------------------------------

function usage(message: string): never {
  console.error(`bench: ${message}`);
  console.error(
    'usage: tsx bench/run.ts [--rounds N] [--duration S] [--warmup S] [--cases a,b] [--servers ours,ws,raw] [--smoke] [--out FILE] [--no-pin] [--no-readme] [--no-wait] [--strict] [--profile DIR]',
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
    const unknown = kinds.filter((kind) => kind !== 'ours' && kind !== 'ws' && kind !== 'raw');
    if (unknown.length > 0) usage(`unknown server ${unknown.join(', ')} (ours, ws, raw)`);
    cases = cases
      .map((c) => ({ ...c, servers: c.servers.filter((kind) => kinds.includes(kind)) }))
      .filter((c) => c.servers.length > 0);
    if (cases.length === 0) usage('no case runs any of those servers');
    everything = false;
  }
  const profile = values.profile === undefined ? null : resolvePath(values.profile);
  // A profiler slows the server it watches: such a run's figures go nowhere but the terminal.
  if (profile !== null) everything = false;
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
  };
}

// --- Summaries ---------------------------------------------------------------------------------

interface TargetResult {
  readonly text: string;
  readonly metric: MetricKey;
  readonly against: 'ws' | 'raw';
  readonly value: number;
  readonly met: boolean;
}

interface CaseSummary {
  readonly id: string;
  readonly title: string;
  readonly servers: readonly ServerKind[];
  /** The metrics the main table shows for this case (the first is its headline number). */
  readonly metrics: readonly MetricKey[];
  readonly runs: RunRecord[];
  /** Median over rounds, per server, per metric. */
  readonly medians: Partial<Record<ServerKind, Metrics>>;
  /** ours/other per round, per metric. */
  readonly ratios: Partial<Record<'ws' | 'raw', Partial<Record<MetricKey, number[]>>>>;
  readonly medianRatios: Partial<Record<'ws' | 'raw', Metrics>>;
  readonly targets: TargetResult[];
  readonly generatorSaturated: Partial<Record<ServerKind, number>>;
}


/** Messages per server write system call (Linux), for the echo and fan-out cases. */
function perWrite(m: Metrics): number | undefined {
  if (m.messagesPerSec === undefined || m.writesPerSec === undefined || m.writesPerSec <= 0) return undefined;
  return m.messagesPerSec / m.writesPerSec;
}

function summarize(def: CaseDef, runs: RunRecord[], rounds: number): CaseSummary {
  const medians: CaseSummary['medians'] = {};
  const generatorSaturated: CaseSummary['generatorSaturated'] = {};
  for (const kind of def.servers) {
    const mine = runs.filter((run) => run.server === kind && run.ok);
    const metrics: Metrics = {};
    for (const key of METRIC_KEYS) {
      const values = mine.map((run) => run.metrics[key]).filter((v): v is number => v !== undefined);
      if (values.length > 0) metrics[key] = median(values);
    }
    medians[kind] = metrics;
    const saturated = mine.filter((run) => run.generatorSaturated).length;
    if (saturated > 0) generatorSaturated[kind] = saturated;
  }
  const ratios: CaseSummary['ratios'] = {};
  const medianRatios: CaseSummary['medianRatios'] = {};
  for (const against of ['ws', 'raw'] as const) {
    if (!def.servers.includes(against)) continue;
    const perMetric: Partial<Record<MetricKey, number[]>> = {};
    const medianPerMetric: Metrics = {};
    for (const key of METRIC_KEYS) {
      const list: number[] = [];
      for (let round = 1; round <= rounds; round++) {
        const ours = runs.find((run) => run.server === 'ours' && run.round === round && run.ok)?.metrics[key];
        const other = runs.find((run) => run.server === against && run.round === round && run.ok)?.metrics[key];
        if (ours !== undefined && other !== undefined && other !== 0) list.push(ours / other);
      }
      if (list.length > 0) {
        perMetric[key] = list;
        medianPerMetric[key] = median(list);
      }
    }
    ratios[against] = perMetric;
    medianRatios[against] = medianPerMetric;
  }
  const targets = def.targets.map((target) => {
    const value = medianRatios[target.against]?.[target.metric] ?? NaN;
    const met = Number.isFinite(value) && (target.op === '>=' ? value >= target.ratio : value <= target.ratio);
    return { text: target.text, metric: target.metric, against: target.against, value, met };
  });
  return {
    id: def.id,
    title: def.title,
    servers: def.servers,
    metrics: def.metrics.map((metric) => metric.key),
    runs,
    medians, ratios, medianRatios, targets, generatorSaturated };
}

// --- Report ------------------------------------------------------------------------------------

const SERVER_LABEL: Record<ServerKind, string> = { ours: 'ours', ws: 'ws + bufferutil', raw: 'raw TCP echo' };

function ratioCell(summary: CaseSummary, against: 'ws' | 'raw', key: MetricKey): string {
  const list = summary.ratios[against]?.[key];
  if (list === undefined) return '—';
  const perRound = list.length > 1 ? ` (${list.map((r) => r.toFixed(2)).join(', ')})` : '';
  return `**${formatRatio(summary.medianRatios[against]?.[key])}**${perRound}`;
}

function renderTables(summaries: readonly CaseSummary[], options: Options): string {
  const lines: string[] = [];
  lines.push(
    `Medians of ${options.rounds} round${options.rounds === 1 ? '' : 's'}; ratios are ours/ws and ours/raw per round (in parentheses) and their median (bold).`,
  );
  lines.push('');
  lines.push('| case | metric | ours | ws + bufferutil | raw TCP echo | ours/ws | ours/raw | target | |');
  lines.push('| --- | --- | ---: | ---: | ---: | --- | --- | --- | --- |');
  for (const summary of summaries) {
    const def = CASES.find((c) => c.id === summary.id)!;
    def.metrics.forEach((metric, index) => {
      const targets = summary.targets.filter((t) => t.metric === metric.key);
      const targetText = targets.map((t) => t.text).join('; ') || '—';
      const met = targets.map((t) => (t.met ? 'met' : '**missed**')).join('; ');
      const cell = (kind: ServerKind): string =>
        summary.servers.includes(kind) ? formatNumber(summary.medians[kind]?.[metric.key]) : '—';
      lines.push(
        `| ${index === 0 ? summary.title : ''} | ${metric.label} | ${cell('ours')} | ${cell('ws')} | ${cell('raw')} | ` +
          `${ratioCell(summary, 'ws', metric.key)} | ${ratioCell(summary, 'raw', metric.key)} | ${targetText} | ${met} |`,
      );
    });
  }
  lines.push('');
  lines.push('Details (medians per server). CPU is % of one core over the measurement window, every thread of the process;');
  lines.push(`"saturated" marks a run whose load generator used ≥ ${SATURATED}% of its core, where the number may be the generator's limit, not the server's.`);
  lines.push(
    '"others" is the CPU every other process used during the window (from /proc/stat, minus the server and the generator); "irq" is interrupt and softirq time, mostly the loopback network path, which is charged to no process.',
  );
  lines.push(
    '"per server core" is msg/s (handshakes/s for the handshake case) divided by the server\'s CPU: the work the server does per second of CPU it gets.',
  );
  lines.push(
    '"msg/write" is msg/s divided by the server\'s write system calls per second (syscw of /proc/self/io over the window): how many messages one write carries.',
  );
  lines.push(
    'For the fan-out cases msg/s is deliveries/s (messages read by the subscribers, all together), MB/s their uncompressed payload, and p50/p99 the time from the publisher\'s write to the last subscriber\'s read of a message.',
  );
  lines.push('');
  lines.push(
    '| case | server | msg/s | MB/s | handshakes/s | p50 µs | p99 µs | server CPU | per server core | msg/write | generator CPU | others | irq |',
  );
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const summary of summaries) {
    if (summary.id === 'idle-10k') continue;
    for (const kind of summary.servers) {
      const m = summary.medians[kind] ?? {};
      const saturated = summary.generatorSaturated[kind];
      const disturbedRuns = summary.runs.filter((run) => run.server === kind && run.disturbed === true).length;
      const disturbed = disturbedRuns === 0 ? '' : ` ⚠ disturbed (${disturbedRuns}/${options.rounds})`;
      const generator =
        `${formatNumber(m.generatorCpu)}%` + (saturated === undefined ? '' : ` ⚠ saturated (${saturated}/${options.rounds})`);
      lines.push(
        `| ${summary.id} | ${SERVER_LABEL[kind]} | ${formatNumber(m.messagesPerSec)} | ${formatNumber(m.mbPerSec)} | ` +
          `${formatNumber(m.handshakesPerSec)} | ${formatNumber(m.p50Us)} | ${formatNumber(m.p99Us)} | ` +
          `${formatNumber(m.serverCpu)}% | ${formatNumber(m.perServerCore)} | ${formatNumber(perWrite(m))} | ${generator} | ${formatNumber(m.otherCpu)}%${disturbed} | ${formatNumber(m.irqCpu)}% |`,
      );
    }
  }
  const idle = summaries.find((s) => s.id === 'idle-10k');
  if (idle !== undefined) {
    const runs = idle.runs.find((run) => run.ok)?.detail['opened'];
    lines.push('');
    lines.push(
      `Idle connections (${typeof runs === 'number' ? runs.toLocaleString('en-US') : '?'} per run): growth of the server's own ` +
        'process.memoryUsage() after forced GCs, from a baseline taken after a warm-up of handshakes, divided by the connections.',
    );
    lines.push('');
    lines.push('| server | heap KiB/conn | RSS KiB/conn | external KiB/conn |');
    lines.push('| --- | ---: | ---: | ---: |');
    for (const kind of idle.servers) {
      const m = idle.medians[kind] ?? {};
      lines.push(
        `| ${SERVER_LABEL[kind]} | ${formatNumber(m.heapPerConnKiB)} | ${formatNumber(m.rssPerConnKiB)} | ${formatNumber(m.externalPerConnKiB)} |`,
      );
    }
  }
  return lines.join('\n');
}

function renderMachine(
  machine: Machine,
  options: Options,
  date: string,
  background: MachineLoad | null,
): string {
  const load = background === null ? [] : [`- Machine load in the second before the run: ${describeLoad(background)}`];
  return [
    `Run ${date}: \`npm run bench\` (${options.rounds} rounds, ${options.scale.durationMs / 1000} s per run after ${options.scale.warmupMs / 1000} s of warm-up).`,
    '',
    `- CPU: ${machine.cpu}, ${machine.cores} cores; ${machine.memoryGiB} GiB RAM; ${machine.os}`,
    `- Node.js ${machine.node}; ws ${machine.ws} with bufferutil ${machine.bufferutil} (native prebuilt binary)`,
    `- Pinning: ${machine.pinning}`,
    ...load,
  ].join('\n');
}

function updateReadme(section: string): void {
  const path = `${ROOT}bench/README.md`;
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf(README_START);
  const end = text.indexOf(README_END);
  if (start < 0 || end < start) throw new Error(`bench/README.md has no ${README_START} ... ${README_END} markers`);
  writeFileSync(path, `${text.slice(0, start + README_START.length)}\n${section}\n${text.slice(end)}`);
}

// --- Main --------------------------------------------------------------------------------------

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
        if (!run.ok) {
          failures++;
          log(`[${def.id} ${round}/${options.rounds}] ${kind}: FAILED after ${took}: ${run.error}`);
          continue;
        }
        const shown = def.metrics.map((m) => `${formatNumber(run.metrics[m.key])} ${m.label}`).join(', ');
        const cpu =
          run.metrics.serverCpu === undefined
            ? ''
            : ` (server CPU ${formatNumber(run.metrics.serverCpu)}%, generator ${formatNumber(run.metrics.generatorCpu)}%, ` +
              `other processes ${formatNumber(run.metrics.otherCpu)}%, irq ${formatNumber(run.metrics.irqCpu)}%)` +
              `${run.generatorSaturated ? ' GENERATOR SATURATED' : ''}${run.disturbed ? ' DISTURBED' : ''}`;
        log(`[${def.id} ${round}/${options.rounds}] ${kind}: ${shown}${cpu} [${took}]`);
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

  const missed = summaries.flatMap((s) => s.targets.filter((t) => !t.met).map((t) => `${s.id}: ${t.metric} ${t.text} (${formatRatio(t.value)})`));
  if (!options.scale.smoke) {
    if (missed.length === 0) log('bench: every target met');
    else log(`bench: targets missed:\n  ${missed.join('\n  ')}`);
  }

  if (options.out !== null) {
    const json = {
      date,
      machine,
      backgroundLoad: background,
      servers: Object.fromEntries(serverInfo),
      options: { rounds: options.rounds, ...options.scale, cases: options.cases.map((c) => c.id) },
      cases: Object.fromEntries(summaries.map((s) => [s.id, s])),
    };
    writeFileSync(options.out, `${JSON.stringify(json, null, 2)}\n`);
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
