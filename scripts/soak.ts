/**
 * `npm run soak`: many concurrent WebSocket connections against the library's echo server, and
 * what they cost the server in memory. Run it through scripts/soak.sh (`npm run soak`), which raises
 * the file-descriptor limit first.
 *
 *   npm run soak                                        # 10,000 connections, 60 s of echoes
 *   npm run soak -- --connections 2000 --duration 10    # a quick try
 *
 * 1. Starts the server (scripts/soak-server.ts) in a child process with --expose-gc; it answers
 *    measurement requests (heap and RSS after a forced GC) over IPC.
 * 2. Warm-up: --warmup handshakes (default: as many as --connections), --batch at a time, each
 *    wave echoing and closing before the next, so the hot paths are compiled and Node's pools are
 *    filled before the baseline is taken. Baseline: 0 connections, after GC.
 * 3. Opens --connections raw `node:net` clients (handshake and masked frames done here) in batches
 *    of --batch, and measures the server with all of them idle.
 * 4. For --duration seconds every connection sends a small text message every --interval seconds
 *    and checks the echo comes back intact and in order.
 * 5. Every client closes (1000); waits until the server reports 0 connections; measures again.
 *    The heap after close must be within 10% of the baseline: PASS, or FAIL and exit 1.
 *
 * Clients run in this process; server and clients each hold one fd per connection. With taskset
 * and 2+ cores, the server is pinned to CPU 0 and this process to CPU 1, so they do not compete.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FrameCollector, OP, clientHandshake, closePayload, maskedFrame, newKey } from '../testkit/index.js';
import type { MemorySample, ServerStats, ToParent, ToServer } from './soak-protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const HOST = '127.0.0.1';
const HEAP_TOLERANCE = 0.1;
// fds besides the sockets: stdio, IPC, epoll, tsx's loader thread, libuv... generous.
const FD_MARGIN = 512;

// ---- options -----------------------------------------------------------------------------------

function die(message: string): never {
  process.stderr.write(`soak: ${message}\n`);
  process.exit(2);
}

function integer(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min) die(`--${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      connections: { type: 'string', short: 'c' },
      duration: { type: 'string', short: 'd' },
      interval: { type: 'string' },
      batch: { type: 'string' },
      warmup: { type: 'string' },
    },
  }));
} catch (error) {
  die((error as Error).message);
}
const CONNECTIONS = integer('connections', values['connections'], 10_000);
const DURATION_S = integer('duration', values['duration'], 60);
const INTERVAL_S = integer('interval', values['interval'], 5);
const BATCH = integer('batch', values['batch'], 500);
// As many warm-up handshakes as measured connections by default: see main() for why.
const WARMUP = integer('warmup', values['warmup'], CONNECTIONS, 0);
const MESSAGE_BYTES = 32;

// ---- small utilities ---------------------------------------------------------------------------

const log = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const started = performance.now();
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const MB = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
const KB = (bytes: number): string => `${(bytes / 1024).toFixed(2)} KB`;
const pct = (now: number, base: number): string => `${now >= base ? '+' : ''}${(((now - base) / base) * 100).toFixed(1)}%`;

async function until(condition: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await sleep(stepMs);
  }
  return true;
}

/** The soft fd limit of this process, from /proc (Linux), or undefined when unknown. */
function fdLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s+/)[3];
    return soft === undefined ? undefined : soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return undefined;
  }
}

// ---- the raw client ----------------------------------------------------------------------------

interface Stats {
  opened: number;
  handshakeFailures: number;
  sent: number;
  received: number;
  pingsAnswered: number;
  closesSent: number;
  closesAnswered1000: number;
  readonly rtts: number[];
  readonly errors: Map<string, number>;
}

function newStats(): Stats {
  return {
    opened: 0,
    handshakeFailures: 0,
    sent: 0,
    received: 0,
    pingsAnswered: 0,
    closesSent: 0,
    closesAnswered1000: 0,
    rtts: [],
    errors: new Map(),
  };
}

function countError(stats: Stats, kind: string): void {
  stats.errors.set(kind, (stats.errors.get(kind) ?? 0) + 1);
}

function errorCount(stats: Stats): number {
  let n = 0;
  for (const count of stats.errors.values()) n += count;
  return n;
}

type Phase = 'connecting' | 'open' | 'closing' | 'closed';

class Client {
  phase: Phase = 'connecting';
  /** Resolves true once the 101 came back and was right, false if the handshake failed. */
  readonly opened: Promise<boolean>;
  /** Resolves when the TCP connection is gone. */
  readonly closed: Promise<void>;

  private readonly socket: Socket;
  private readonly reader = new FrameCollector((frame) => {
    if (frame.masked) countError(this.stats, 'masked server frame');
    else this.onFrame(frame.fin, frame.opcode, frame.payload);
  });
  // Echoes in flight, in order: TCP and the server keep order, so the next echo must match the head.
  private readonly expected: string[] = [];
  private readonly sentAt: number[] = [];
  private seq = 0;
  private serverCloseCode: number | null = null;
  private resolveOpened!: (ok: boolean) => void;

  constructor(
    port: number,
    private readonly id: number,
    private readonly stats: Stats,
  ) {
    this.opened = new Promise((resolve) => (this.resolveOpened = resolve));
    let resolveClosed!: () => void;
    this.closed = new Promise((resolve) => (resolveClosed = resolve));
    this.socket = connect({ host: HOST, port, noDelay: true });
    this.socket.on('connect', () => {
      clientHandshake(this.socket, { host: `${HOST}:${port}`, path: '/soak', key: newKey() }).then(
        (response) => this.onOpen(response.rest),
        (error: Error) => this.failHandshake(error.message),
      );
    });
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      // During the handshake the failure is counted as a handshake failure below.
      if (this.phase !== 'connecting') countError(this.stats, `socket error ${error.code ?? error.message}`);
    });
    this.socket.on('close', () => {
      if (this.phase === 'connecting') this.failHandshake('connection closed');
      else if (this.phase === 'open') countError(this.stats, 'server disconnected unasked');
      else if (this.serverCloseCode === 1000) this.stats.closesAnswered1000++;
      else countError(this.stats, `close answered with ${this.serverCloseCode ?? 'no close frame'}`);
      this.phase = 'closed';
      resolveClosed();
    });
  }

  get inFlight(): number {
    return this.expected.length;
  }

  sendEcho(): void {
    if (this.phase !== 'open') return;
    const text = `${this.id}:${this.seq++}:`.padEnd(MESSAGE_BYTES, 'x');
    this.expected.push(text);
    this.sentAt.push(performance.now());
    this.socket.write(maskedFrame(OP.TEXT, text));
    this.stats.sent++;
  }

  /** Client-initiated close, code 1000; the server answers with its close and ends TCP. */
  close(): void {
    if (this.phase !== 'open') return;
    this.phase = 'closing';
    this.socket.write(maskedFrame(OP.CLOSE, closePayload(1000)));
    this.stats.closesSent++;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private failHandshake(why: string): void {
    if (this.phase !== 'connecting') return;
    this.phase = 'closed';
    this.stats.handshakeFailures++;
    countError(this.stats, `handshake: ${why}`);
    this.resolveOpened(false);
    this.socket.destroy();
  }

  /** The 101 came back and was right (clientHandshake checked it). */
  private onOpen(rest: Buffer): void {
    if (this.phase !== 'connecting') return;
    this.phase = 'open';
    this.stats.opened++;
    this.resolveOpened(true);
    this.reader.push(rest);
    this.socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
    this.socket.resume();
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OP.TEXT: {
        const want = this.expected.shift();
        const at = this.sentAt.shift();
        if (!fin) countError(this.stats, 'fragmented echo');
        else if (want === undefined) countError(this.stats, 'echo nobody sent');
        else if (payload.toString('utf8') !== want) countError(this.stats, 'corrupt or out-of-order echo');
        else {
          this.stats.received++;
          this.stats.rtts.push(performance.now() - at!);
        }
        return;
      }
      case OP.PING:
        // The server's keepalive (pingInterval): answer, or it terminates us after pingTimeout.
        if (this.phase === 'open') {
          this.socket.write(maskedFrame(OP.PONG, payload));
          this.stats.pingsAnswered++;
        }
        return;
      case OP.PONG:
        return;
      case OP.CLOSE:
        this.serverCloseCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        if (this.phase === 'open') {
          countError(this.stats, `server closed unasked (${this.serverCloseCode})`);
          this.phase = 'closing';
          this.socket.write(maskedFrame(OP.CLOSE, payload.subarray(0, 2)));
        }
        return;
      default:
        countError(this.stats, `unexpected opcode ${opcode}`);
    }
  }
}

/** Opens `count` clients, `BATCH` handshakes at a time so the accept backlog is never flooded. */
async function openClients(port: number, count: number, stats: Stats, firstId: number): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < count; i += BATCH) {
    const batch: Client[] = [];
    for (let j = i; j < Math.min(count, i + BATCH); j++) batch.push(new Client(port, firstId + j, stats));
    const results = await Promise.all(batch.map((client) => client.opened));
    batch.forEach((client, k) => results[k] && clients.push(client));
  }
  return clients;
}

// ---- the server child --------------------------------------------------------------------------

const canPin =
  availableParallelism() >= 2 && spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;

function startServer(): Promise<{ child: ChildProcess; port: number }> {
  const nodeArgs = ['--import', 'tsx/esm', '--expose-gc', join(here, 'soak-server.ts')];
  const [command, args] = canPin
    ? ['taskset', ['-c', '0', process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  // cwd = the repo root, so `--import tsx` resolves from its node_modules.
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`the server exited early (${signal ?? code})`)));
    child.once('message', (message: ToParent) => {
      if (message.type === 'ready') resolve({ child, port: message.port });
      else reject(new Error(`unexpected first message from the server: ${JSON.stringify(message)}`));
    });
  });
}

let nextRequestId = 1;
const answers = new Map<number, (message: ToParent) => void>();

function ask(child: ChildProcess, type: 'measure' | 'stats'): Promise<ToParent> {
  const id = nextRequestId++;
  return new Promise((resolve) => {
    answers.set(id, resolve);
    child.send({ type, id } satisfies ToServer);
  });
}

async function measure(child: ChildProcess): Promise<MemorySample> {
  const answer = await ask(child, 'measure');
  if (answer.type !== 'measure') throw new Error('mismatched IPC answer');
  return answer.sample;
}

async function serverStats(child: ChildProcess): Promise<ServerStats> {
  const answer = await ask(child, 'stats');
  if (answer.type !== 'stats') throw new Error('mismatched IPC answer');
  return answer.stats;
}

/** Polls the server until it reports 0 connections; returns how long that took, or null. */
async function serverDrained(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  const from = performance.now();
  while (performance.now() - from < timeoutMs) {
    if ((await serverStats(child)).connections === 0) return performance.now() - from;
    await sleep(50);
  }
  return null;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const limit = fdLimit();
  if (limit !== undefined && limit < CONNECTIONS + FD_MARGIN) {
    die(
      `the fd limit is ${limit}, ${CONNECTIONS} connections need ${CONNECTIONS + FD_MARGIN}: ` +
        'run through `npm run soak` (scripts/soak.sh raises it), or lower --connections',
    );
  }
  if (canPin) spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });

  const { child, port } = await startServer();
  child.on('message', (message: ToParent) => {
    if (message.type === 'ready') return;
    const answer = answers.get(message.id);
    answers.delete(message.id);
    answer?.(message);
  });
  let finished = false;
  child.on('exit', (code, signal) => {
    if (finished) return;
    process.stderr.write(`soak: the server process died (${signal ?? code})\n`);
    process.exit(1);
  });
  log(
    `soak: server pid ${child.pid} on ${HOST}:${port}` +
      (canPin ? ' (server pinned to CPU 0, clients to CPU 1)' : ' (not pinned: no taskset or 1 CPU)'),
  );
  log(
    `soak: ${CONNECTIONS} connections, ${DURATION_S} s of echoes (one ${MESSAGE_BYTES}-byte message ` +
      `per connection every ${INTERVAL_S} s), batches of ${BATCH}`,
  );

  const cold = await measure(child);
  log(`soak: [${elapsed()}] cold server (no connection yet): heap ${MB(cold.heapUsed)}, RSS ${MB(cold.rss)}`);

  // Warm-up: --warmup handshakes (default: as many as --connections), in waves of --batch that
  // open, echo and close before the next. The first many handshakes leave one-time costs that are
  // neither per-connection nor leaks: V8's optimized code for the paths that got hot, and Node's
  // pool of up to 1000 HTTP parsers. A heap-snapshot diff of a 10,000-connection run after a single
  // 500-connection warm-up put them at ~0.6 MB of code and ~0.1 MB of parsers, 8-10% of a 7 MB
  // heap: enough to flip the 10% check by chance. Small waves pay those costs without raising the
  // RSS high-water mark the way 10,000 connections at once would, which would hide RSS per idle
  // connection (freed memory stays in RSS and gets reused). Per-connection figures against the
  // cold start are printed too: they include those one-time costs, so they are upper bounds.
  const warm = newStats();
  for (let done = 0; done < WARMUP; done += BATCH) {
    const wave = await openClients(port, Math.min(BATCH, WARMUP - done), warm, -1 - done - BATCH);
    for (let round = 0; round < 3; round++) for (const client of wave) client.sendEcho();
    await until(() => wave.every((client) => client.inFlight === 0), 10_000);
    for (const client of wave) client.close();
    await Promise.all(wave.map((client) => client.closed));
  }
  if ((await serverDrained(child, 30_000)) === null) die('the server did not drop the warm-up connections');
  if (errorCount(warm) > 0 || warm.received !== warm.sent) {
    die(`the warm-up failed: ${JSON.stringify({ ...warm, rtts: undefined, errors: [...warm.errors] })}`);
  }
  await sleep(500);
  const baseline = await measure(child);
  log(`soak: [${elapsed()}] warm-up done (${WARMUP} handshakes, ${BATCH} at a time); baseline heap ${MB(baseline.heapUsed)}, RSS ${MB(baseline.rss)}`);

  // Open everything.
  const stats = newStats();
  const openFrom = performance.now();
  const clients = await openClients(port, CONNECTIONS, stats, 0);
  const openSeconds = (performance.now() - openFrom) / 1000;
  log(`soak: [${elapsed()}] ${clients.length}/${CONNECTIONS} connections open in ${openSeconds.toFixed(1)} s`);
  await sleep(1000);
  const idle = await measure(child);
  log(`soak: [${elapsed()}] server with ${idle.connections} idle connections: heap ${MB(idle.heapUsed)}, RSS ${MB(idle.rss)}`);

  // Echo phase: buckets of connections take turns, so the load is even rather than in bursts.
  const tickMs = 50;
  const buckets = Math.max(1, Math.round((INTERVAL_S * 1000) / tickMs));
  let tick = 0;
  const echoFrom = performance.now();
  const ticker = setInterval(() => {
    const bucket = tick++ % buckets;
    for (let i = bucket; i < clients.length; i += buckets) clients[i]!.sendEcho();
  }, tickMs);
  const progress = setInterval(() => {
    void serverStats(child).then((s) =>
      log(
        `soak: [${elapsed()}] echoes sent ${stats.sent}, received ${stats.received}, errors ${errorCount(stats)}; ` +
          `server connections ${s.connections}`,
      ),
    );
  }, 10_000);
  await sleep(DURATION_S * 1000);
  clearInterval(ticker);
  clearInterval(progress);
  const echoSeconds = (performance.now() - echoFrom) / 1000;
  // The last echoes are still on their way: wait for them, then count what never came as lost.
  await until(() => clients.every((client) => client.inFlight === 0), 10_000);
  let lost = 0;
  for (const client of clients) lost += client.inFlight;
  for (let i = 0; i < lost; i++) countError(stats, 'echo never came back');
  const afterEchoes = await measure(child);
  log(`soak: [${elapsed()}] echo phase over; server heap ${MB(afterEchoes.heapUsed)}, RSS ${MB(afterEchoes.rss)}`);

  // Close phase: every client says 1000; the server answers and ends TCP.
  const closeFrom = performance.now();
  for (const client of clients) client.close();
  const allClosed = await Promise.race([
    Promise.all(clients.map((client) => client.closed)).then(() => true),
    sleep(60_000).then(() => false),
  ]);
  const drainMs = await serverDrained(child, 30_000);
  const closeSeconds = (performance.now() - closeFrom) / 1000;
  if (!allClosed) for (const client of clients) client.destroy();
  await sleep(500);
  const after = await measure(child);
  log(`soak: [${elapsed()}] all closed; server heap ${MB(after.heapUsed)}, RSS ${MB(after.rss)}`);

  finished = true;
  child.send({ type: 'exit' } satisfies ToServer);

  // ---- summary ----
  const n = idle.connections;
  const rtts = stats.rtts.sort((a, b) => a - b);
  const heapDiff = (after.heapUsed - baseline.heapUsed) / baseline.heapUsed;
  const errors = errorCount(stats);
  const checks: Array<[string, boolean]> = [
    [`all ${CONNECTIONS} connections opened`, clients.length === CONNECTIONS && n === CONNECTIONS],
    ['every echo came back intact (0 errors)', errors === 0 && stats.received === stats.sent],
    ['server at 0 connections after close', drainMs !== null],
    [`server heap after close within ${HEAP_TOLERANCE * 100}% of baseline (taken after the warm-up)`, Math.abs(heapDiff) <= HEAP_TOLERANCE],
  ];
  const row = (label: string, value: string): string => `  ${label.padEnd(26)}${value}`;
  const lines = [
    '',
    '==================================== soak summary ====================================',
    row('connections', `${clients.length} open at once (${CONNECTIONS} requested, ${stats.handshakeFailures} handshake failures), opened in ${openSeconds.toFixed(1)} s in batches of ${BATCH}`),
    row('echo phase', `${echoSeconds.toFixed(1)} s, one ${MESSAGE_BYTES}-byte text message per connection every ${INTERVAL_S} s`),
    row('echoes', `sent ${stats.sent}, received intact ${stats.received}, errors ${errors}` + (stats.pingsAnswered > 0 ? ` (${stats.pingsAnswered} server pings answered)` : '')),
    row('echo round trip', `p50 ${percentile(rtts, 50).toFixed(2)} ms, p99 ${percentile(rtts, 99).toFixed(2)} ms, max ${percentile(rtts, 100).toFixed(2)} ms`),
    row('close', `${stats.closesSent} client closes (1000), ${stats.closesAnswered1000} answered 1000; server at 0 connections ${drainMs === null ? 'NEVER (30 s)' : `${closeSeconds.toFixed(1)} s after the first close`}`),
    row('server messages', `${after.messages} echoed (warm-up included), ${after.handlerErrors} handler errors`),
    row('heap per idle connection', `${KB((idle.heapUsed - baseline.heapUsed) / n)} (vs the cold start: ${KB((idle.heapUsed - cold.heapUsed) / n)})`),
    row('RSS per idle connection', `${KB((idle.rss - baseline.rss) / n)} (vs the cold start: ${KB((idle.rss - cold.rss) / n)}, an upper bound)`),
    row('external per idle conn.', `${KB((idle.external - baseline.external) / n)} (Buffers, outside the V8 heap)`),
    row('server heap', `baseline ${MB(baseline.heapUsed)}, with ${n} idle ${MB(idle.heapUsed)}, after echoes ${MB(afterEchoes.heapUsed)}, after close ${MB(after.heapUsed)} (${pct(after.heapUsed, baseline.heapUsed)} vs baseline)`),
    row('server, cold', `heap ${MB(cold.heapUsed)}, RSS ${MB(cold.rss)} before the warm-up (${WARMUP} handshakes, ${BATCH} at a time)`),
    row('server RSS', `baseline ${MB(baseline.rss)}, with ${n} idle ${MB(idle.rss)}, after echoes ${MB(afterEchoes.rss)}, after close ${MB(after.rss)} (${pct(after.rss, baseline.rss)} vs baseline)`),
    row('duration', `${elapsed()} in all`),
  ];
  if (errors > 0) for (const [kind, count] of stats.errors) lines.push(row('  error', `${count} x ${kind}`));
  for (const [label, ok] of checks) lines.push(`  ${ok ? 'PASS' : 'FAIL'}  ${label}`);
  const passed = checks.every(([, ok]) => ok);
  lines.push(`  RESULT: ${passed ? 'PASS' : 'FAIL'}`);
  lines.push('======================================================================================');
  log(lines.join('\n'));
  return passed ? 0 : 1;
}

main().then(
  (code) => {
    // Let the server finish its exit (it closes on its own when the IPC channel goes, too).
    setTimeout(() => process.exit(code), 200);
  },
  (error: unknown) => {
    process.stderr.write(`soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
