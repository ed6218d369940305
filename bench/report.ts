/**
 * The report: the Markdown tables (printed, and written into bench/README.md between its
 * markers), the console line of each run, the targets missed, and results.json.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CASES, SERVER_LABEL, peersOf, type CaseDef, type MetricKey, type Metrics, type Peer, type Scale } from './cases.js';
import type { ChatResult, ServerKind } from './lib/ipc.js';
import { describeLoad, type Machine, type MachineLoad } from './machine.js';
import { SATURATED, type RunRecord } from './measure.js';
import { formatNumber, formatRatio, formatRounds } from './lib/stats.js';
import type { CaseSummary } from './summary.js';

const README_PATH = fileURLToPath(new URL('README.md', import.meta.url));
const README_START = '<!-- bench:results:start -->';
const README_END = '<!-- bench:results:end -->';

/** What the report says about the run as a whole. */
export interface RunShape {
  readonly rounds: number;
  readonly scale: Scale;
}

/** The idle case has a table of its own: memory per connection (its headline), not throughput. */
function holdsIdleConnections(summary: CaseSummary): boolean {
  return summary.metrics[0] === 'heapPerConnKiB';
}

function caseOf(summary: CaseSummary): CaseDef {
  return CASES.find((c) => c.id === summary.id)!;
}

/** Consecutive cases with the same peers share a table (its columns are ours and those peers). */
function groupByPeers(summaries: readonly CaseSummary[]): { subject: ServerKind; peers: readonly Peer[]; summaries: CaseSummary[] }[] {
  const groups: { subject: ServerKind; peers: readonly Peer[]; summaries: CaseSummary[] }[] = [];
  for (const summary of summaries) {
    const peers = peersOf(caseOf(summary));
    const last = groups[groups.length - 1];
    if (last !== undefined && last.subject === summary.subject && last.peers.join() === peers.join()) last.summaries.push(summary);
    else groups.push({ subject: summary.subject, peers, summaries: [summary] });
  }
  return groups;
}

/** The cases of ours over HTTP/2 against ours over HTTP/1.1 have a table of their own. */
function overHttp2(summary: CaseSummary): boolean {
  return summary.subject === 'h2';
}

/** A kind's name in the details: in the HTTP/2 cases, ours is ours over HTTP/1.1. */
function labelIn(summary: CaseSummary, kind: ServerKind): string {
  return overHttp2(summary) && kind === 'ours' ? 'ours over HTTP/1.1' : SERVER_LABEL[kind];
}

/** Messages per server write system call (Linux), for the echo and fan-out cases. */
function perWrite(m: Metrics): number | undefined {
  if (m.messagesPerSec === undefined || m.writesPerSec === undefined || m.writesPerSec <= 0) return undefined;
  return m.messagesPerSec / m.writesPerSec;
}

function ratioCell(summary: CaseSummary, against: Peer, key: MetricKey): string {
  const list = summary.ratios[against]?.[key];
  if (list === undefined) return '—';
  const perRound = list.length > 1 ? ` (${formatRounds(list)})` : '';
  return `**${formatRatio(summary.medianRatios[against]?.[key])}**${perRound}`;
}

export function renderTables(summaries: readonly CaseSummary[], options: RunShape): string {
  const lines: string[] = [];
  groupByPeers(summaries).forEach(({ subject, peers, summaries: group }, index) => {
    if (index > 0) lines.push('');
    const name = (kind: ServerKind): string => (subject === 'h2' && kind === 'ours' ? 'HTTP/1.1' : kind === 'h2' ? 'h2' : kind);
    const ratios = peers.map((peer) => `${name(subject)}/${name(peer)}`);
    if (subject === 'h2') {
      lines.push(
        'WebSockets over HTTP/2 (RFC 8441), ours against ours: every WebSocket a stream of one h2c session, against a TCP connection each (HTTP/1.1).',
      );
    }
    lines.push(
      `Medians of ${options.rounds} round${options.rounds === 1 ? '' : 's'}; ratios are ${ratios.join(' and ')} per round (in parentheses) and their median (bold).`,
    );
    lines.push('');
    // Ours against ours over HTTP/2: the columns name the transports.
    const label = (kind: ServerKind): string =>
      subject !== 'h2' ? SERVER_LABEL[kind] : kind === 'h2' ? 'over HTTP/2' : kind === 'ours' ? 'over HTTP/1.1' : SERVER_LABEL[kind];
    lines.push(`| case | metric | ${label(subject)} | ${peers.map(label).join(' | ')} | ${ratios.join(' | ')} | target | |`);
    lines.push(`| --- | --- | ---: | ${peers.map(() => '---:').join(' | ')} | ${peers.map(() => '---').join(' | ')} | --- | --- |`);
    for (const summary of group) {
      caseOf(summary).metrics.forEach((metric, index) => {
        const targets = summary.targets.filter((t) => t.metric === metric.key);
        const targetText = targets.map((t) => t.text).join('; ') || '—';
        const met = targets.map((t) => (t.met ? 'met' : '**missed**')).join('; ');
        const cell = (kind: ServerKind): string =>
          summary.servers.includes(kind) ? formatNumber(summary.medians[kind]?.[metric.key]) : '—';
        lines.push(
          `| ${index === 0 ? summary.title : ''} | ${metric.label} | ${[cell(subject), ...peers.map(cell)].join(' | ')} | ` +
            `${peers.map((peer) => ratioCell(summary, peer, metric.key)).join(' | ')} | ${targetText} | ${met} |`,
        );
      });
    }
    const notes = group.flatMap((summary) => caseOf(summary).notes ?? []);
    if (notes.length > 0) lines.push('', ...notes);
  });
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
  const chats = summaries.filter((summary) => summary.runs.some((run) => run.detail['mode'] === 'chat'));
  if (chats.length > 0) {
    lines.push(
      'For the chat cases msg/s is deliveries/s (chat messages read by members of the room other than their sender), and p50/p99 the time from the sender\'s write to a member\'s read.',
    );
  }
  lines.push('');
  lines.push(
    '| case | server | msg/s | MB/s | handshakes/s | p50 µs | p99 µs | server CPU | per server core | msg/write | generator CPU | others | irq |',
  );
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const summary of summaries) {
    if (holdsIdleConnections(summary)) continue;
    for (const kind of summary.servers) {
      const m = summary.medians[kind] ?? {};
      const saturated = summary.generatorSaturated[kind];
      const disturbedRuns = summary.runs.filter((run) => run.server === kind && run.disturbed === true).length;
      const disturbed = disturbedRuns === 0 ? '' : ` ⚠ disturbed (${disturbedRuns}/${options.rounds})`;
      const generator =
        `${formatNumber(m.generatorCpu)}%` + (saturated === undefined ? '' : ` ⚠ saturated (${saturated}/${options.rounds})`);
      lines.push(
        `| ${summary.id} | ${labelIn(summary, kind)} | ${formatNumber(m.messagesPerSec)} | ${formatNumber(m.mbPerSec)} | ` +
          `${formatNumber(m.handshakesPerSec)} | ${formatNumber(m.p50Us)} | ${formatNumber(m.p99Us)} | ` +
          `${formatNumber(m.serverCpu)}% | ${formatNumber(m.perServerCore)} | ${formatNumber(perWrite(m))} | ${generator} | ${formatNumber(m.otherCpu)}%${disturbed} | ${formatNumber(m.irqCpu)}% |`,
      );
    }
  }
  const idle = summaries.find((summary) => holdsIdleConnections(summary) && !overHttp2(summary));
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
        `| ${kind === 'raw' ? 'bare node:net server (the floor)' : SERVER_LABEL[kind]} | ${formatNumber(m.heapPerConnKiB)} | ${formatNumber(m.rssPerConnKiB)} | ${formatNumber(m.externalPerConnKiB)} |`,
      );
    }
  }
  if (chats.length > 0) lines.push('', ...renderChatSteps(chats));
  return lines.join('\n');
}

/** Every step of every chat run: the rate, its p99 and the server's CPU, and the generator's own cost. */
function renderChatSteps(summaries: readonly CaseSummary[]): string[] {
  const lines = [
    'Chat runs, step by step: messages per second per user: p99 (server CPU), ✗ where p99 passed the bound and the search stopped. ' +
      '"generator µs/delivery" is the load generator\'s CPU per delivery in the reported window (its own cost: at 250,000 deliveries/s a generator can be the limit); ' +
      '"late p99" how late it wrote messages against their even schedule.',
    '',
    '| case | server | round | steps | generator µs/delivery | late p99 ms |',
    '| --- | --- | ---: | --- | ---: | ---: |',
  ];
  for (const summary of summaries) {
    for (const run of summary.runs) {
      if (!run.ok) continue;
      const result = run.detail as unknown as ChatResult;
      const cpu = (run.detail['stepServerCpu'] as (number | null)[] | undefined) ?? [run.metrics.serverCpu ?? null];
      const steps = result.steps.map((step, i) => {
        const p99 = `${formatNumber(step.p99Us / 1000)} ms`;
        const server = cpu[i] === null || cpu[i] === undefined ? '' : ` (${formatNumber(cpu[i]!)}%)`;
        return `${formatNumber(step.rate)}: ${i === result.windowStep ? `**${p99}**` : p99}${server}${step.sustained ? '' : ' ✗'}`;
      });
      const shown = result.steps[Math.max(0, result.windowStep)];
      lines.push(
        `| ${summary.id} | ${SERVER_LABEL[run.server]} | ${run.round} | ${steps.join(' · ')} | ` +
          `${formatNumber(result.generatorUsPerDelivery)} | ${formatNumber(shown === undefined ? undefined : shown.lateP99Us / 1000)} |`,
      );
    }
  }
  return lines;
}

export function renderMachine(
  machine: Machine,
  options: RunShape,
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

/** Replaces the results section of bench/README.md (between its markers) with `section`. */
export function updateReadme(section: string): void {
  const path = README_PATH;
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf(README_START);
  const end = text.indexOf(README_END);
  if (start < 0 || end < start) throw new Error(`bench/README.md has no ${README_START} ... ${README_END} markers`);
  writeFileSync(path, `${text.slice(0, start + README_START.length)}\n${section}\n${text.slice(end)}`);
}

/** The console line of a finished run: its figures and CPU, or why it failed. */
export function runLine(def: CaseDef, run: RunRecord, rounds: number, took: string): string {
  const head = `[${def.id} ${run.round}/${rounds}] ${run.server}:`;
  if (!run.ok) return `${head} FAILED after ${took}: ${run.error}`;
  const shown = def.metrics.map((m) => `${formatNumber(run.metrics[m.key])} ${m.label}`).join(', ');
  const cpu =
    run.metrics.serverCpu === undefined
      ? ''
      : ` (server CPU ${formatNumber(run.metrics.serverCpu)}%, generator ${formatNumber(run.metrics.generatorCpu)}%, ` +
        `other processes ${formatNumber(run.metrics.otherCpu)}%, irq ${formatNumber(run.metrics.irqCpu)}%)` +
        `${run.generatorSaturated ? ' GENERATOR SATURATED' : ''}${run.disturbed ? ' DISTURBED' : ''}`;
  return `${head} ${shown}${cpu} [${took}]`;
}

/** Every target missed, one line each. */
export function missedTargets(summaries: readonly CaseSummary[]): string[] {
  return summaries.flatMap((s) => s.targets.filter((t) => !t.met).map((t) => `${s.id}: ${t.metric} ${t.text} (${formatRatio(t.value)})`));
}

export interface Results {
  readonly date: string;
  readonly machine: Machine;
  readonly background: MachineLoad | null;
  readonly serverInfo: ReadonlyMap<ServerKind, Record<string, string | boolean>>;
  readonly shape: RunShape;
  readonly cases: readonly CaseDef[];
  readonly summaries: readonly CaseSummary[];
}

/** results.json: the machine, the options, and every case's summary with all its runs. */
export function writeResults(path: string, results: Results): void {
  const json = {
    date: results.date,
    machine: results.machine,
    backgroundLoad: results.background,
    servers: Object.fromEntries(results.serverInfo),
    options: { rounds: results.shape.rounds, ...results.shape.scale, cases: results.cases.map((c) => c.id) },
    cases: Object.fromEntries(results.summaries.map((s) => [s.id, s])),
  };
  writeFileSync(path, `${JSON.stringify(json, null, 2)}\n`);
}
