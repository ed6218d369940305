/**
 * `npm run bench:drain`: the reconnect rate the remaining instance sees while the clients of a
 * stopping one move over (issue 16). N of the library's ReconnectingClients are connected to
 * instance A through a router standing for the load balancer; A stops; the router sends new
 * connections to B; B records when each client arrives. Three ways to stop A:
 *
 *   close       server.close(): every client closed at once with 1001; clients come back after
 *               their usual backoff (full jitter up to minDelay, 1 s): the herd
 *   close-1012  server.close({ code: 1012 }): at once, but 1012 (service restart): each client
 *               waits a randomized delay (5-30 s, scaled under its maxDelay)
 *   drain       server.drain({ deadline, code: 1012 }): closed in waves over the deadline, and 1012
 *
 * Reported per mode: how many moved, the peak of connects per 100 ms on B, when 10%, 50%, 90% and
 * all had arrived (from the moment A was told to stop), the spread (10% to 90%), and a histogram of
 * connects per second. A and B share one process pinned to one CPU, the clients and the router
 * another (bench/child.ts's pinning); each mode runs on fresh processes.
 *
 *   npm run bench:drain                                   5,000 clients, deadline 10 s, maxDelay 30 s
 *   npm run bench:drain -- --clients 500 --deadline 2000 --max-delay 3000   (smoke scale)
 *   options: --clients N  --deadline MS  --max-delay MS  --modes close,close-1012,drain  --no-pin  --json
 */

import { Child, choosePinning } from './child.js';

type Mode = 'close' | 'close-1012' | 'drain';
const MODES: readonly Mode[] = ['close', 'close-1012', 'drain'];

interface Options {
  clients: number;
  deadline: number;
  maxDelay: number;
  modes: Mode[];
  pin: boolean;
  json: boolean;
}

export interface DrainFigures {
  readonly mode: Mode;
  readonly clients: number;
  readonly moved: number;
  /** The most connects B saw in one 100 ms bucket. */
  readonly peakPer100ms: number;
  /** Milliseconds from A's stop to the 10th, 50th, 90th percentile arrival and the last. */
  readonly p10: number;
  readonly p50: number;
  readonly p90: number;
  readonly last: number;
  /** p90 - p10. */
  readonly spread: number;
  /** How long A's close() or drain() took. */
  readonly stoppedAfter: number;
  /** Connects per second on B, from A's stop. */
  readonly perSecond: number[];
}

function parse(argv: readonly string[]): Options {
  const options: Options = { clients: 5000, deadline: 10_000, maxDelay: 30_000, modes: [...MODES], pin: true, json: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): number => {
      const text = argv[++i];
      if (text === undefined || !/^\d+$/.test(text)) throw new Error(`${flag} needs a whole number`);
      return Number(text);
    };
    if (flag === '--clients') options.clients = value();
    else if (flag === '--deadline') options.deadline = value();
    else if (flag === '--max-delay') options.maxDelay = value();
    else if (flag === '--modes') options.modes = (argv[++i] ?? '').split(',').filter((mode): mode is Mode => (MODES as string[]).includes(mode));
    else if (flag === '--no-pin') options.pin = false;
    else if (flag === '--json') options.json = true;
    else throw new Error(`unknown option ${flag}`);
  }
  return options;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function figures(mode: Mode, clients: number, arrivals: readonly number[], stoppedAfter: number): DrainFigures {
  const sorted = [...arrivals].sort((x, y) => x - y);
  const buckets = new Map<number, number>();
  for (const at of sorted) buckets.set(Math.floor(at / 100), (buckets.get(Math.floor(at / 100)) ?? 0) + 1);
  const last = sorted.at(-1) ?? 0;
  const perSecond = Array.from({ length: Math.floor(last / 1000) + 1 }, () => 0);
  for (const at of sorted) perSecond[Math.floor(at / 1000)]!++;
  return {
    mode,
    clients,
    moved: sorted.length,
    peakPer100ms: Math.max(0, ...buckets.values()),
    p10: percentile(sorted, 10),
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    last,
    spread: percentile(sorted, 90) - percentile(sorted, 10),
    stoppedAfter,
    perSecond,
  };
}

/** One mode on fresh processes. */
export async function measure(mode: Mode, options: Omit<Options, 'modes' | 'json'>): Promise<DrainFigures> {
  const pinning = choosePinning(options.pin);
  type Out = { type: string; id?: number; [key: string]: unknown };
  const servers = new Child<Record<string, unknown>, Out>({ name: 'drain servers', path: 'bench/drain/servers.ts', args: [] }, pinning.server, []);
  const generator = new Child<Record<string, unknown>, Out>({ name: 'drain clients', path: 'bench/drain/clients.ts', args: [] }, pinning.generator, []);
  try {
    const listening = await servers.next<Out & { a: number; b: number }>((message) => message.type === 'listening', 30_000, 'the servers');
    const opened = await generator.request<Out & { open: number }>(
      { type: 'open', a: listening.a, b: listening.b, clients: options.clients, maxDelay: options.maxDelay },
      120_000,
    );
    if (opened.open !== options.clients) throw new Error(`only ${opened.open} of ${options.clients} clients connected`);
    // The balancer has taken A out (its /readyz said 503 first): new connections go to B.
    await generator.request({ type: 'route-to-b' });
    const timeout = options.deadline + options.maxDelay + 30_000;
    const moved = await servers.request<Out & { arrivals: number[]; stoppedAfter: number }>(
      { type: 'stop', mode, deadline: options.deadline, expected: options.clients, timeout },
      timeout + 30_000,
    );
    return figures(mode, options.clients, moved.arrivals, moved.stoppedAfter);
  } finally {
    await Promise.all([servers.kill(), generator.kill()]);
  }
}

function report(all: readonly DrainFigures[], options: Options): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
  const lines = [
    `${options.clients} clients, drain deadline ${options.deadline} ms, client maxDelay ${options.maxDelay} ms`,
    '',
    '| mode | moved | peak connects / 100 ms | 10% | 50% | 90% | all | spread (10-90%) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...all.map((f) => `| \`${f.mode}\` | ${f.moved}/${f.clients} | ${f.peakPer100ms} | ${s(f.p10)} | ${s(f.p50)} | ${s(f.p90)} | ${s(f.last)} | ${s(f.spread)} |`),
    '',
    ...all.map((f) => `${f.mode.padEnd(10)} connects per second on B: ${f.perSecond.join(' ')}`),
  ];
  return lines.join('\n');
}

const isMain = process.argv[1]?.endsWith('drain.ts') === true;
if (isMain) {
  const options = parse(process.argv.slice(2));
  const all: DrainFigures[] = [];
  for (const mode of options.modes) all.push(await measure(mode, options));
  process.stdout.write(options.json ? `${JSON.stringify(all, null, 2)}\n` : `${report(all, options)}\n`);
}
