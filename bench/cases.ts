/**
 * The benchmark's cases: the one place a case is declared, with the processes each of its
 * server kinds runs (processes), the load it puts on them (spec), how its figures are computed
 * from the generator's result (figures), what the table shows (metrics) and its targets.
 *
 * Imports types and constants only, so that importing the table runs nothing (test/bench/cases.test.ts).
 */

import { CHAT_NODE_FLAGS } from '@rfc6455/chat/node-flags';
import type { LoadResult, LoadSpec, MemorySample, ServerKind } from './lib/ipc.js';

// --- Figures -----------------------------------------------------------------------------------

/** Every figure a run can have; in this order in results.json. */
export const METRIC_KEYS = [
  'messagesPerSec',
  'mbPerSec',
  'p50Us',
  'p99Us',
  'handshakesPerSec',
  'heapPerConnKiB',
  'rssPerConnKiB',
  'externalPerConnKiB',
  'serverCpu',
  'generatorCpu',
  'perServerCore',
  'otherCpu',
  'irqCpu',
  'stealCpu',
  'writesPerSec',
  'ratePerUser',
  'generatorUsPerDelivery',
  'redisCpu',
  'redisCommandsPerSec',
  'redisCommandsPerMessage',
  'redisCpuUsPerMessage',
] as const;

export type MetricKey = (typeof METRIC_KEYS)[number];
export type Metrics = Partial<Record<MetricKey, number>>;

export interface MetricDef {
  readonly key: MetricKey;
  readonly label: string;
}

/** A kind a case's subject can be divided by (ours over HTTP/2 is divided by ours). */
export type Peer = ServerKind;

/** The kinds the subject is divided by in a case that declares no `peers`, in the report's column order. */
export const PEERS: readonly Peer[] = ['ws', 'raw'];

export interface TargetDef {
  readonly metric: MetricKey;
  readonly against: Peer;
  readonly op: '>=' | '<=';
  readonly ratio: number;
  readonly text: string;
  /** Met also when this holds instead (issue 18: RSS ≤ 0.8× ws, or within 10% of the node:net floor). */
  readonly orElse?: { readonly against: Peer; readonly op: '>=' | '<='; readonly ratio: number };
}

/** What the report calls each server kind; also the kinds `--servers` accepts. */
export const SERVER_LABEL: Record<ServerKind, string> = {
  ours: 'ours',
  ws: 'ws + bufferutil',
  raw: 'raw TCP echo',
  socketio: 'Socket.IO',
  h2: 'ours over HTTP/2',
  single: 'ours, one process',
  memory: 'ours, one instance in memory',
  'socketio-redis': 'Socket.IO + redis-adapter',
};

// --- Processes ---------------------------------------------------------------------------------

/** A script the harness runs with `node --import tsx/esm`, path from the repository root. */
export interface Script {
  /** Names the process in error messages. */
  readonly name: string;
  readonly path: string;
  readonly args: readonly string[];
  /** Node flags of its own, before the run's (`--server-flags`, which win where both set one). */
  readonly nodeFlags?: readonly string[];
}

/** The two processes of one run of a case against one server kind, each pinned to its own core. */
export interface Processes {
  readonly server: Script;
  /** bench/load.ts, or a client library in its place. */
  readonly generator: Script;
  /**
   * 'raw': the generator skips the handshake (the raw ceilings speak no WebSocket). 'socketio':
   * the chat generator speaks Socket.IO (Engine.IO's websocket transport); 'ws' the chat's own.
   */
  readonly protocol: 'ws' | 'raw' | 'socketio';
}

const LOAD_GENERATOR: Script = { name: 'load generator', path: 'bench/load.ts', args: [] };

/**
 * Each kind's own server, bench/servers/<prefix><kind>.ts, under bench/load.ts. `deflate` passes
 * `--deflate` to every server; `oursArgs` go to ours only (the others have no such options).
 */
function serversUnderLoad(
  prefix: '' | 'fanout-',
  {
    deflate = false,
    oursArgs = [],
    rawArgs = [],
  }: { deflate?: boolean; oursArgs?: readonly string[]; rawArgs?: readonly string[] } = {},
): (kind: ServerKind) => Processes {
  return (kind) => ({
    server: {
      name: `server ${kind}`,
      path: `bench/servers/${prefix}${kind}.ts`,
      args: [...(deflate ? ['--deflate'] : []), ...(kind === 'ours' ? oursArgs : []), ...(kind === 'raw' ? rawArgs : [])],
    },
    generator: LOAD_GENERATOR,
    protocol: kind === 'raw' ? 'raw' : 'ws',
  });
}

/**
 * WebSockets over HTTP/2 against over HTTP/1.1, both ours: 'h2' is bench/servers/h2.ts (an h2c
 * server, attach()) under bench/load-h2.ts (every WebSocket a stream of one HTTP/2 session); 'ours'
 * is bench/servers/ours.ts under bench/load.ts (a TCP connection each), as in every other case.
 */
function overHttp2OrTcp(kind: ServerKind): Processes {
  if (kind !== 'h2') return serversUnderLoad('')(kind);
  return {
    server: { name: 'server ours over HTTP/2', path: 'bench/servers/h2.ts', args: [] },
    generator: { name: 'load generator (HTTP/2)', path: 'bench/load-h2.ts', args: [] },
    protocol: 'ws',
  };
}

/** The kinds are client libraries (bench/clients/<kind>.ts) in the generator's place, against our echo server. */
function clientsAgainstOurServer(kind: ServerKind): Processes {
  return {
    server: { name: 'server ours (for the clients)', path: 'bench/servers/ours.ts', args: [] },
    generator: { name: `client ${kind}`, path: `bench/clients/${kind}.ts`, args: [] },
    protocol: 'ws',
  };
}

/** The chat cases: bench/servers/chat-ours.ts (the chat of issue 15) and chat-socketio.ts (its peer). */
function chatServers(kind: ServerKind): Processes {
  if (kind !== 'ours' && kind !== 'socketio') throw new Error(`no chat server of kind ${kind}`);
  return {
    // Each as its users run it: ours with the flags of `npm run chat` (chat/src/node-flags.ts),
    // Socket.IO with Node's defaults.
    server:
      kind === 'ours'
        ? { name: 'server ours (chat)', path: 'bench/servers/chat-ours.ts', args: [], nodeFlags: CHAT_NODE_FLAGS }
        : { name: 'server socketio (chat)', path: 'bench/servers/chat-socketio.ts', args: [] },
    generator: LOAD_GENERATOR,
    protocol: kind === 'ours' ? 'ws' : 'socketio',
  };
}

/**
 * The chat servers with the same Node flags, the chat's (chat/src/node-flags.ts): a young
 * generation of the same size in both, so that their memory per user compares what each keeps per
 * user alone, not how large V8 let a process-wide young generation grow.
 */
function chatServersSameFlags(kind: ServerKind): Processes {
  const processes = chatServers(kind);
  return { ...processes, server: { ...processes.server, nodeFlags: CHAT_NODE_FLAGS } };
}

/** The echo server with --workers 2 (node:cluster, one port) against itself in one process. */
function echoWorkers(kind: ServerKind): Processes {
  if (kind !== 'ours' && kind !== 'single') throw new Error(`no echo-workers server of kind ${kind}`);
  return {
    server: { name: `server ${kind}`, path: 'bench/servers/ours.ts', args: kind === 'ours' ? ['--workers', '2'] : [] },
    generator: LOAD_GENERATOR,
    protocol: 'ws',
  };
}

/**
 * The chat through Redis (issue 16): ours is the chat with --workers 2 --redis (two instances on one
 * port, a redis-server of the case's own), against the chat in one instance without Redis, and
 * against Socket.IO with @socket.io/redis-adapter, two workers on the same kind of Redis.
 */
function chatRedisServers(kind: ServerKind): Processes {
  const path = { ours: 'bench/servers/chat-redis.ts', memory: 'bench/servers/chat-ours.ts', 'socketio-redis': 'bench/servers/chat-socketio-redis.ts' }[kind as string];
  if (path === undefined) throw new Error(`no chat-redis server of kind ${kind}`);
  // The chat in one process with the flags of `npm run chat` (chat-redis.ts gives them to its chat processes).
  const nodeFlags = kind === 'memory' ? CHAT_NODE_FLAGS : [];
  return { server: { name: `server ${kind} (chat)`, path, args: [], nodeFlags }, generator: LOAD_GENERATOR, protocol: kind === 'socketio-redis' ? 'socketio' : 'ws' };
}

// --- Cases -------------------------------------------------------------------------------------

export interface Scale {
  readonly smoke: boolean;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export type Mode = LoadSpec['mode'];
/** A generator mode's spec, without what the harness fills in per run. */
export type SpecOf<M extends Mode> = Omit<Extract<LoadSpec, { mode: M }>, 'host' | 'port' | 'protocol'>;
/** A spec of any mode. */
export type SpecBody = { [M in Mode]: SpecOf<M> }[Mode];
export type ResultOf<M extends Mode> = Extract<LoadResult, { mode: M }>;

/** What the server answered in the generator's steps: its memory before and after (idle mode). */
export interface ServerSamples {
  readonly baseline: MemorySample | null;
  readonly loaded: MemorySample | null;
  /** Connections open at the 'opened' step. */
  readonly connections: number;
}

interface CaseOf<M extends Mode> {
  readonly id: string;
  readonly title: string;
  /** The kind whose figures are divided by the others' (the ratios, the targets); 'ours' when absent. */
  readonly subject?: ServerKind;
  /** The kinds compared, in the order each round runs them. */
  readonly servers: readonly ServerKind[];
  /**
   * The kinds the subject is divided by, in the report's column order (PEERS when absent): the
   * table of the case has a column for each, and for subject/each.
   */
  readonly peers?: readonly Peer[];
  /**
   * The servers a smoke run starts, when fewer than `servers`: a case whose servers and generator
   * mode another case already smoke-tests at the same small scale needs only its own wiring checked.
   */
  readonly smokeServers?: readonly ServerKind[];
  readonly processes: (kind: ServerKind) => Processes;
  readonly spec: (scale: Scale) => SpecOf<M>;
  /**
   * The case's own figures from the generator's result. The harness adds the CPU figures of the
   * window (server, generator, others, irq, writes) and the throughput per server core.
   */
  readonly figures: (result: ResultOf<M>, server: ServerSamples) => Metrics;
  /** Shown in the main table, the first one checked by the smoke test. */
  readonly metrics: readonly MetricDef[];
  readonly targets: readonly TargetDef[];
  /**
   * Ratios of a round that are not ours's figure over the peer's, by key: computed from the two
   * runs' results (the chat's rate search compares p99 at equal rates). Others stay ours/peer.
   */
  readonly pairedRatios?: (ours: ResultOf<M>, peer: ResultOf<M>) => Metrics;
  /** Lines printed under the case's table, saying what its figures are where the table cannot. */
  readonly notes?: readonly string[];
}

/** A case of any generator mode: its spec and its figures agree on the mode. */
export type CaseDef = { [M in Mode]: CaseOf<M> }[Mode];

/** The kinds a case divides ours by. */
export function peersOf(def: CaseDef): readonly Peer[] {
  return def.peers ?? PEERS;
}

/** The connections a spec holds open at once in each process (for the file limit and the set-up time); 0 when few. */
export function heldConnections(spec: SpecBody): number {
  switch (spec.mode) {
    case 'idle':
      return spec.connections;
    case 'fanout':
      return spec.subscribers + 1;
    case 'chat':
      return spec.users;
    default:
      return 0;
  }
}

/** The longest a run of `spec` may take before the harness gives up on it, ms. */
export function runTimeoutMs(spec: SpecBody, scale: Scale): number {
  const window = scale.warmupMs + scale.durationMs;
  // Opening thousands of connections takes a while on a busy machine (idle, fan-out, chat); each
  // chat step is a window of its own.
  if (spec.mode === 'chat') return 240_000 + spec.rates.length * (window + 5000);
  return heldConnections(spec) > 0 ? 180_000 + window : window + 60_000;
}

const MSGS: MetricDef = { key: 'messagesPerSec', label: 'msg/s' };
const MBS: MetricDef = { key: 'mbPerSec', label: 'MB/s' };
const DELIVERIES: MetricDef = { key: 'messagesPerSec', label: 'deliveries/s' };
const P50: MetricDef = { key: 'p50Us', label: 'p50 µs' };
const P99: MetricDef = { key: 'p99Us', label: 'p99 µs' };
const P99_NO_WORSE: TargetDef = { metric: 'p99Us', against: 'ws', op: '<=', ratio: 1, text: '≤ ws' };

function echo(
  scale: Scale,
  full: { connections: number; inflight: number },
  smoke: { connections: number; inflight: number },
  size: number,
  opcode: 'text' | 'binary',
  deflate = false,
): SpecOf<'echo'> {
  const shape = scale.smoke ? smoke : full;
  return { mode: 'echo', ...shape, size, opcode, deflate, warmupMs: scale.warmupMs, durationMs: scale.durationMs };
}

function echoFigures(result: ResultOf<'echo'>): Metrics {
  return { p50Us: result.p50Us, p99Us: result.p99Us, messagesPerSec: result.messagesPerSec, mbPerSec: result.mbPerSec };
}

function handshakeFigures(result: ResultOf<'handshake'>): Metrics {
  return { p50Us: result.p50Us, p99Us: result.p99Us, handshakesPerSec: result.handshakesPerSec };
}

const KiB = 1024;

/** The server's growth per connection, from its memory after GC before and after opening them. */
function memoryFigures(_result: ResultOf<'idle'>, server: ServerSamples): Metrics {
  const { baseline: before, loaded: after, connections: n } = server;
  if (before === null || after === null) throw new Error('the idle case did not measure the server');
  return {
    heapPerConnKiB: (after.heapUsed - before.heapUsed) / n / KiB,
    rssPerConnKiB: (after.rss - before.rss) / n / KiB,
    externalPerConnKiB: (after.external - before.external) / n / KiB,
  };
}

/** Messages the fan-out publisher keeps in flight (one more each time one has reached every subscriber). */
const FANOUT_INFLIGHT = 4;

function fanout(scale: Scale, subscribers: number, smokeSubscribers: number, size: number, deflate = false): SpecOf<'fanout'> {
  return {
    mode: 'fanout',
    subscribers: scale.smoke ? smokeSubscribers : subscribers,
    inflight: FANOUT_INFLIGHT,
    size,
    deflate,
    parallel: 200,
    warmupMs: scale.warmupMs,
    durationMs: scale.durationMs,
  };
}

/**
 * Opening N WebSockets: connects/s over the generator's opening of all of them (`parallel` at a
 * time), and what each holds on the server (the idle case's figures).
 */
function openingFigures(result: ResultOf<'idle'>, server: ServerSamples): Metrics {
  return { handshakesPerSec: (result.opened / result.openMs) * 1000, ...memoryFigures(result, server) };
}

/** A fan-out's messages are its deliveries: what the subscribers read, all together. */
function fanoutFigures(result: ResultOf<'fanout'>): Metrics {
  return { p50Us: result.p50Us, p99Us: result.p99Us, messagesPerSec: result.deliveriesPerSec, mbPerSec: result.mbPerSec };
}

/** Issue 11: at least 3x ws's deliveries/s uncompressed, and a p99 no worse than ws's. */
function fanoutCase(
  id: string,
  title: string,
  subscribers: number,
  smokeSubscribers: number,
  size: number,
  smokeServers?: readonly ServerKind[],
): CaseDef {
  return {
    id,
    title,
    servers: ['ours', 'ws', 'raw'],
    ...(smokeServers === undefined ? {} : { smokeServers }),
    processes: serversUnderLoad('fanout-'),
    spec: (s) => fanout(s, subscribers, smokeSubscribers, size),
    figures: fanoutFigures,
    metrics: [DELIVERIES, P50, P99],
    targets: [{ metric: 'messagesPerSec', against: 'ws', op: '>=', ratio: 3, text: '≥ 3× ws' }, P99_NO_WORSE],
  };
}

// --- Chat (issue 15): the chat against Socket.IO ---------------------------------------------------

/** The rate search's bound: the highest rate whose p99 stays under it is the server's. */
const CHAT_P99_BOUND_MS = 100;

/**
 * After the memory measurement: 6 s at 0.25 messages/s per user, half the ladder's lowest rate, so
 * that Socket.IO, which is near its limit at 0.5 here, holds it without a growing queue, and ours
 * has the time to compile again what the forced collections deoptimized (ChatSpec.memory).
 */
const CHAT_SETTLE = { settleRate: 0.25, settleMs: 6000 };

/**
 * Rates per user for the search: `from` to `to`, `perDoubling` steps per doubling, on a grid
 * anchored at 1 msg/s, so that every server runs the same rates and p99s compare at equal rates.
 */
export function rateLadder(from: number, to: number, perDoubling: number): number[] {
  const rates: number[] = [];
  for (let k = Math.ceil(Math.log2(from) * perDoubling); 2 ** (k / perDoubling) <= to * (1 + 1e-9); k++) {
    rates.push(Math.round(2 ** (k / perDoubling) * 1000) / 1000);
  }
  return rates;
}

function chat(
  scale: Scale,
  rates: readonly number[],
  smokeRates: readonly number[],
  bound: number | null,
  memory: 'measured' | 'not measured',
): SpecOf<'chat'> {
  return {
    mode: 'chat',
    users: scale.smoke ? 100 : 1000,
    rooms: scale.smoke ? 4 : 10,
    rates: scale.smoke ? smokeRates : rates,
    // A smoke run checks the wiring on a machine busy with other tests: a looser bound.
    p99BoundMs: bound === null ? null : scale.smoke ? 10 * bound : bound,
    contentSize: 64,
    parallel: 100,
    warmupCycles: scale.smoke ? 10 : 50,
    memory: memory === 'not measured' ? null : scale.smoke ? { ...CHAT_SETTLE, settleMs: scale.warmupMs } : CHAT_SETTLE,
    warmupMs: scale.warmupMs,
    durationMs: scale.durationMs,
  };
}

/** Deliveries/s (to members other than the sender), p50/p99 of the reported step, and the server's growth per user. */
function chatFigures(result: ResultOf<'chat'>, server: ServerSamples): Metrics {
  const { baseline: before, loaded: after, connections: n } = server;
  if (before === null || after === null) throw new Error('the chat case did not measure the server');
  return {
    messagesPerSec: result.deliveriesPerSec,
    ratePerUser: result.rate,
    p50Us: result.p50Us,
    p99Us: result.p99Us,
    heapPerConnKiB: (after.heapUsed - before.heapUsed) / n / KiB,
    rssPerConnKiB: (after.rss - before.rss) / n / KiB,
    externalPerConnKiB: (after.external - before.external) / n / KiB,
    generatorUsPerDelivery: result.generatorUsPerDelivery,
  };
}

/**
 * Issue 15: ours's p99 no worse than the peer's at any rate the peer sustains: the worst ratio
 * over those rates. A rate ours did not reach (its search stopped below it) compares ours's last
 * step, past its bound, with the peer's p99 there.
 */
function p99AtEqualRates(ours: ResultOf<'chat'>, peer: ResultOf<'chat'>): Metrics {
  let worst = NaN;
  for (const step of peer.steps) {
    if (!step.sustained) continue;
    const mine = ours.steps.find((s) => Math.abs(s.rate - step.rate) < 1e-9) ?? ours.steps[ours.steps.length - 1];
    if (mine === undefined || !(step.p99Us > 0)) continue;
    const ratio = mine.p99Us / step.p99Us;
    if (!(ratio <= worst)) worst = ratio;
  }
  return Number.isNaN(worst) ? {} : { p99Us: worst };
}

const CHAT_MEMORY: readonly MetricDef[] = [
  { key: 'heapPerConnKiB', label: 'heap KiB/user' },
  { key: 'rssPerConnKiB', label: 'RSS KiB/user' },
];
const CHAT_MEMORY_TARGET: TargetDef = { metric: 'rssPerConnKiB', against: 'socketio', op: '<=', ratio: 0.5, text: '≤ 0.5× Socket.IO' };

/** The chat through Redis: deliveries and latency, and what Redis costs per message posted (its CPU, its commands). */
function chatRedisFigures(result: ResultOf<'chat'>): Metrics {
  return {
    messagesPerSec: result.deliveriesPerSec,
    ratePerUser: result.rate,
    p50Us: result.p50Us,
    p99Us: result.p99Us,
    generatorUsPerDelivery: result.generatorUsPerDelivery,
  };
}

/** Redis' cost per message posted (rate x users), from its CPU and commands over the window. */
export function redisPerMessage(metrics: Metrics, posted: number): Metrics {
  if (!(posted > 0)) return {};
  const out: Metrics = {};
  if (metrics.redisCommandsPerSec !== undefined) out.redisCommandsPerMessage = metrics.redisCommandsPerSec / posted;
  if (metrics.redisCpu !== undefined) out.redisCpuUsPerMessage = ((metrics.redisCpu / 100) * 1e6) / posted;
  return out;
}

const REDIS_COST: readonly MetricDef[] = [
  { key: 'redisCpu', label: 'Redis CPU %' },
  { key: 'redisCommandsPerMessage', label: 'Redis commands/message' },
  { key: 'redisCpuUsPerMessage', label: 'Redis CPU µs/message' },
];

const CHAT_REDIS_CASES: readonly CaseDef[] = [
  {
    id: 'chat-redis-1k-1ps',
    title: 'chat through Redis, two instances (--workers 2 --redis), 1,000 users in 10 rooms, 1 message/s each',
    servers: ['ours', 'memory', 'socketio-redis'],
    peers: ['memory', 'socketio-redis'],
    smokeServers: ['ours', 'socketio-redis'],
    processes: chatRedisServers,
    spec: (s) => chat(s, [1], [1], null, 'not measured'),
    figures: chatRedisFigures,
    metrics: [DELIVERIES, P50, P99, ...REDIS_COST],
    targets: [{ metric: 'p99Us', against: 'socketio-redis', op: '<=', ratio: 1, text: '≤ Socket.IO + redis-adapter' }],
  },
  {
    id: 'chat-redis-1k-max',
    title: `chat through Redis, two instances, 1,000 users in 10 rooms, rate raised until p99 passes ${CHAT_P99_BOUND_MS} ms`,
    servers: ['ours', 'memory', 'socketio-redis'],
    peers: ['memory', 'socketio-redis'],
    smokeServers: ['ours'],
    processes: chatRedisServers,
    spec: (s) => chat(s, rateLadder(0.5, 8, 4), [1, 2], CHAT_P99_BOUND_MS, 'not measured'),
    figures: chatRedisFigures,
    pairedRatios: p99AtEqualRates,
    metrics: [DELIVERIES, { key: 'ratePerUser', label: 'msg/s per user' }, P50, P99, ...REDIS_COST],
    targets: [
      { metric: 'messagesPerSec', against: 'socketio-redis', op: '>=', ratio: 3, text: '≥ 3× Socket.IO + redis-adapter' },
      { metric: 'p99Us', against: 'socketio-redis', op: '<=', ratio: 1, text: '≤ Socket.IO + redis-adapter at every rate it sustains' },
    ],
    notes: [
      'chat-redis-*: ours is two chat instances (node:cluster workers on one port) sharing rooms, history and presence through a redis-server of the run; ' +
        '"one instance in memory" is the chat-1k-* server; Socket.IO runs two workers with @socket.io/redis-adapter on its own redis-server. ' +
        'Server CPU counts every process of the server (workers and redis-server); Redis CPU and commands per message come from INFO over the window, per message posted.',
    ],
  },
];

const CHAT_1K_1PS: CaseDef = {
  id: 'chat-1k-1ps',
  title: 'chat, 1,000 users in 10 rooms, 1 message/s each (99,000 deliveries/s offered)',
  servers: ['ours', 'socketio'],
  peers: ['socketio'],
  processes: chatServers,
  spec: (s) => chat(s, [1], [1], null, 'measured'),
  figures: chatFigures,
  metrics: [DELIVERIES, P50, P99, ...CHAT_MEMORY],
  targets: [{ metric: 'p99Us', against: 'socketio', op: '<=', ratio: 1, text: '≤ Socket.IO' }, CHAT_MEMORY_TARGET],
};

const CHAT_CASES: readonly CaseDef[] = [
  CHAT_1K_1PS,
  {
    // The same load; only the servers' flags differ, and only memory has a target.
    ...CHAT_1K_1PS,
    id: 'chat-1k-1ps-same-flags',
    title: 'chat, 1,000 users in 10 rooms, 1 message/s each, Socket.IO with the chat’s Node flags too (memory like for like)',
    processes: chatServersSameFlags,
    targets: [CHAT_MEMORY_TARGET],
    notes: [
      `chat-1k-1ps-same-flags: both servers run with \`npm run chat\`'s Node flags (${CHAT_NODE_FLAGS.join(' ')}, chat/src/node-flags.ts), ` +
        'Socket.IO too: the young generation is the same size in both, so memory per user is what each server keeps per user.',
    ],
  },
  {
    id: 'chat-1k-max',
    title: `chat, 1,000 users in 10 rooms, rate raised until p99 passes ${CHAT_P99_BOUND_MS} ms (at the last rate under it)`,
    servers: ['ours', 'socketio'],
    peers: ['socketio'],
    processes: chatServers,
    spec: (s) => chat(s, rateLadder(0.5, 8, 4), [1, 2], CHAT_P99_BOUND_MS, 'measured'),
    figures: chatFigures,
    pairedRatios: p99AtEqualRates,
    metrics: [DELIVERIES, { key: 'ratePerUser', label: 'msg/s per user' }, P50, P99, ...CHAT_MEMORY],
    targets: [
      { metric: 'messagesPerSec', against: 'socketio', op: '>=', ratio: 3, text: '≥ 3× Socket.IO' },
      { metric: 'p99Us', against: 'socketio', op: '<=', ratio: 1, text: '≤ Socket.IO at every rate it sustains' },
      CHAT_MEMORY_TARGET,
    ],
    notes: [
      `chat-1k-max: each server's figures are at its own highest rate whose p99 stayed under ${CHAT_P99_BOUND_MS} ms; ` +
        "its p99 ratio is not the quotient of the two cells but ours's p99 over Socket.IO's at the same rate, the worst over every rate Socket.IO sustained. " +
        'A round where Socket.IO sustained no rate of the ladder has no ratio (—): the medians are over the other rounds.',
    ],
  },
];

export const CASES: readonly CaseDef[] = [
  {
    id: 'echo-64b',
    title: '64 B text echo, 100 connections × 10 in flight',
    servers: ['ours', 'ws', 'raw'],
    processes: serversUnderLoad(''),
    spec: (s) => echo(s, { connections: 100, inflight: 10 }, { connections: 10, inflight: 4 }, 64, 'text'),
    figures: echoFigures,
    metrics: [MSGS],
    targets: [{ metric: 'messagesPerSec', against: 'ws', op: '>=', ratio: 3, text: '≥ 3× ws' }],
  },
  {
    id: 'echo-64b-limits',
    title: '64 B text echo, 100 connections × 10 in flight, ours with every abuse limit on (never reached)',
    servers: ['ours', 'ws'],
    processes: serversUnderLoad('', { oursArgs: ['--limits'] }),
    spec: (s) => echo(s, { connections: 100, inflight: 10 }, { connections: 10, inflight: 4 }, 64, 'text'),
    figures: echoFigures,
    metrics: [MSGS],
    // Issue 15: within 5% of echo-64b's ours/ws, both from the same run (bench/README.md).
    targets: [],
  },
  {
    id: 'echo-16k',
    title: '16 KiB binary echo, 10 connections × 4 in flight',
    servers: ['ours', 'ws', 'raw'],
    processes: serversUnderLoad(''),
    spec: (s) => echo(s, { connections: 10, inflight: 4 }, { connections: 4, inflight: 2 }, 16 * 1024, 'binary'),
    figures: echoFigures,
    metrics: [MBS],
    targets: [
      { metric: 'mbPerSec', against: 'ws', op: '>=', ratio: 1.3, text: '≥ 1.3× ws' },
      { metric: 'mbPerSec', against: 'raw', op: '>=', ratio: 0.8, text: '≥ 80% of raw' },
    ],
  },
  {
    id: 'echo-1m',
    title: '1 MiB binary echo, 4 connections × 2 in flight',
    servers: ['ours', 'ws', 'raw'],
    processes: serversUnderLoad(''),
    spec: (s) => echo(s, { connections: 4, inflight: 2 }, { connections: 2, inflight: 1 }, 1024 * 1024, 'binary'),
    figures: echoFigures,
    metrics: [MBS],
    targets: [
      { metric: 'mbPerSec', against: 'ws', op: '>=', ratio: 1.3, text: '≥ 1.3× ws' },
      { metric: 'mbPerSec', against: 'raw', op: '>=', ratio: 0.8, text: '≥ 80% of raw' },
    ],
  },
  {
    id: 'idle-10k',
    title: '10,000 idle connections (server heap and RSS after GC, per connection)',
    // raw: the floor, a bare node:net server holding the same sockets (bench/servers/raw.ts --idle).
    servers: ['ours', 'ws', 'raw'],
    processes: serversUnderLoad('', { rawArgs: ['--idle'] }),
    spec: (s) => ({
      mode: 'idle',
      connections: s.smoke ? 500 : 10_000,
      warmupHandshakes: s.smoke ? 50 : 300,
      parallel: 200,
    }),
    figures: memoryFigures,
    metrics: [
      { key: 'heapPerConnKiB', label: 'heap KiB/conn' },
      { key: 'rssPerConnKiB', label: 'RSS KiB/conn' },
    ],
    targets: [
      { metric: 'heapPerConnKiB', against: 'ws', op: '<=', ratio: 0.5, text: '≤ 0.5× ws' },
      {
        metric: 'rssPerConnKiB',
        against: 'ws',
        op: '<=',
        ratio: 0.8,
        text: '≤ 0.8× ws, or ≤ 1.1× the node:net floor',
        orElse: { against: 'raw', op: '<=', ratio: 1.1 },
      },
    ],
    notes: ['"raw" here is the floor: a bare node:net server holding the idle sockets (bench/servers/raw.ts --idle), not the echo.'],
  },
  {
    id: 'handshake',
    title: 'handshake + close, 8 parallel loops',
    // raw: the ceiling, bench/servers/raw.ts --handshake (a canned 101, spoken to as a WebSocket).
    servers: ['ours', 'ws', 'raw'],
    processes: (kind) => {
      const processes = serversUnderLoad('', { rawArgs: ['--handshake'] })(kind);
      return kind === 'raw' ? { ...processes, protocol: 'ws' } : processes;
    },
    spec: (s) => ({ mode: 'handshake', loops: 8, warmupMs: s.warmupMs, durationMs: s.durationMs }),
    figures: handshakeFigures,
    metrics: [{ key: 'handshakesPerSec', label: 'handshakes/s' }],
    targets: [{ metric: 'handshakesPerSec', against: 'ws', op: '>=', ratio: 1.5, text: '≥ 1.5× ws' }],
    notes: ['"raw" in the handshake case is the ceiling: node:net answering each connection with a canned 101 and a close frame, no parsing (bench/servers/raw.ts --handshake), not the echo.'],
  },
  {
    id: 'latency',
    title: 'latency, 64 B text, 1 connection × 1 in flight',
    servers: ['ours', 'ws', 'raw'],
    processes: serversUnderLoad(''),
    spec: (s) => echo(s, { connections: 1, inflight: 1 }, { connections: 1, inflight: 1 }, 64, 'text'),
    figures: echoFigures,
    metrics: [P50, P99],
    targets: [{ metric: 'p50Us', against: 'raw', op: '<=', ratio: 1.1, text: '≤ 1.1× raw (within 10%)' }],
  },
  {
    id: 'deflate-4k',
    title: 'permessage-deflate, 4 KiB JSON-like text, 10 connections × 4 in flight',
    servers: ['ours', 'ws'],
    processes: serversUnderLoad('', { deflate: true }),
    spec: (s) => echo(s, { connections: 10, inflight: 4 }, { connections: 4, inflight: 2 }, 4096, 'text', true),
    figures: echoFigures,
    metrics: [MSGS],
    targets: [],
  },
  fanoutCase('fanout-64b-1k', '64 B text fan-out, 1 publisher × 4 in flight, 1,000 subscribers', 1000, 100, 64),
  // The same three servers and generator mode as fanout-64b-1k: a smoke run checks ours only.
  fanoutCase('fanout-64b-10k', '64 B text fan-out, 1 publisher × 4 in flight, 10,000 subscribers', 10_000, 400, 64, ['ours']),
  fanoutCase('fanout-4k-1k', '4 KiB text fan-out, 1 publisher × 4 in flight, 1,000 subscribers', 1000, 100, 4096, ['ours']),
  fanoutCase('fanout-4k-10k', '4 KiB text fan-out, 1 publisher × 4 in flight, 10,000 subscribers', 10_000, 400, 4096, ['ours']),
  {
    // Subscribers make Chromium's offer (context takeover). Ours shares one fresh-context frame
    // per message (the topic's noContextTakeover): the configuration the hub has for compressed
    // fan-out, and the one the 5x target is for. See bench/README.md.
    id: 'fanout-deflate-4k-1k',
    title: 'permessage-deflate fan-out, 4 KiB JSON-like text, 1,000 subscribers; ours: topic noContextTakeover (one compression per message)',
    servers: ['ours', 'ws'],
    processes: serversUnderLoad('fanout-', { deflate: true, oursArgs: ['--shared'] }),
    spec: (s) => fanout(s, 1000, 100, 4096, true),
    figures: fanoutFigures,
    metrics: [DELIVERIES, P50, P99],
    targets: [{ metric: 'messagesPerSec', against: 'ws', op: '>=', ratio: 5, text: '≥ 5× ws' }, P99_NO_WORSE],
  },
  {
    // The hub's default on the same load: subscribers that kept context takeover compress each
    // message themselves (as ws does for all); the rest share one frame. For the record.
    id: 'fanout-deflate-own-4k-1k',
    title: 'permessage-deflate fan-out, 4 KiB JSON-like text, 1,000 subscribers; ours: topic default (context-takeover subscribers compress it themselves)',
    servers: ['ours', 'ws'],
    processes: serversUnderLoad('fanout-', { deflate: true }),
    spec: (s) => fanout(s, 1000, 100, 4096, true),
    figures: fanoutFigures,
    metrics: [DELIVERIES, P50, P99],
    targets: [],
  },
  {
    // Issue 17: "a WebSocket over h2 should cost less to open and to hold".
    id: 'h2-open-1k',
    title: 'opening 1,000 WebSockets, 100 at a time: over one HTTP/2 session (h2c) against 1,000 TCP connections (HTTP/1.1)',
    subject: 'h2',
    servers: ['h2', 'ours'],
    peers: ['ours'],
    processes: overHttp2OrTcp,
    spec: (s) => ({ mode: 'idle', connections: s.smoke ? 100 : 1000, warmupHandshakes: s.smoke ? 20 : 200, parallel: 100 }),
    figures: openingFigures,
    metrics: [
      { key: 'handshakesPerSec', label: 'connects/s' },
      { key: 'heapPerConnKiB', label: 'heap KiB/conn' },
      { key: 'rssPerConnKiB', label: 'RSS KiB/conn' },
    ],
    targets: [
      { metric: 'handshakesPerSec', against: 'ours', op: '>=', ratio: 1, text: '≥ HTTP/1.1' },
      { metric: 'heapPerConnKiB', against: 'ours', op: '<=', ratio: 1, text: '≤ HTTP/1.1' },
    ],
  },
  {
    id: 'h2-echo-64b',
    title: '64 B text echo, 100 WebSockets × 10 in flight: over one HTTP/2 session (h2c) against 100 TCP connections (HTTP/1.1)',
    subject: 'h2',
    servers: ['h2', 'ours'],
    peers: ['ours'],
    processes: overHttp2OrTcp,
    spec: (s) => echo(s, { connections: 100, inflight: 10 }, { connections: 10, inflight: 4 }, 64, 'text'),
    figures: echoFigures,
    metrics: [MSGS, P50, P99],
    targets: [],
  },
  {
    id: 'client-echo-64b',
    title: 'client: 64 B text echo, 100 connections × 10 in flight (our server)',
    servers: ['ours', 'ws'],
    processes: clientsAgainstOurServer,
    spec: (s) => echo(s, { connections: 100, inflight: 10 }, { connections: 10, inflight: 4 }, 64, 'text'),
    figures: echoFigures,
    metrics: [MSGS],
    targets: [{ metric: 'messagesPerSec', against: 'ws', op: '>=', ratio: 2, text: '≥ 2× ws' }],
  },
  {
    id: 'client-connect',
    title: 'client: connect + handshake + close, 8 parallel loops (our server)',
    servers: ['ours', 'ws'],
    processes: clientsAgainstOurServer,
    spec: (s) => ({ mode: 'handshake', loops: 8, warmupMs: s.warmupMs, durationMs: s.durationMs }),
    figures: handshakeFigures,
    metrics: [{ key: 'handshakesPerSec', label: 'connects/s' }],
    targets: [{ metric: 'handshakesPerSec', against: 'ws', op: '>=', ratio: 1.5, text: '≥ 1.5× ws' }],
  },
  {
    id: 'echo-64b-workers',
    title: '64 B text echo, 100 connections × 10 in flight: the echo server with --workers 2 (node:cluster) against one process',
    servers: ['ours', 'single'],
    peers: ['single'],
    processes: echoWorkers,
    spec: (s) => echo(s, { connections: 100, inflight: 10 }, { connections: 10, inflight: 4 }, 64, 'text'),
    figures: echoFigures,
    metrics: [MSGS, P99],
    targets: [],
    notes: ['echo-64b-workers: both server kinds are pinned to the same CPU set (the server CPUs); two workers only gain with a CPU each: see bench/README.md.'],
  },
  ...CHAT_CASES,
  ...CHAT_REDIS_CASES,
];
