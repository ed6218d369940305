/**
 * The load generator: raw node:net sockets, neutral to every server. It performs the WebSocket
 * handshake itself (none for the raw TCP echo), keeps pre-built masked frames in flight on every
 * connection, parses the echoes incrementally without copying them, and measures messages/s,
 * MB/s, round-trip latency (p50/p99) and its own CPU, so that a saturated generator shows.
 *
 * Modes (LoadSpec in lib/ipc.ts):
 *   echo       N connections x K frames in flight; each echo received sends one more frame.
 *   handshake  L parallel loops of connect, handshake, close frame, wait for the server's close
 *              frame and the end of TCP.
 *   idle       a warm-up of handshakes, then N connections opened and left idle; the parent
 *              measures the server's memory before and after (the 'phase' messages).
 *
 * Run by bench/run.ts (pinned to its own core, IPC: { type: 'run', spec }), or by hand:
 *   node --import tsx bench/load.ts '{"mode":"echo","host":"127.0.0.1","port":9001,"protocol":"ws",
 *     "connections":10,"inflight":4,"size":64,"opcode":"text","deflate":false,"warmupMs":500,"durationMs":2000}'
 */

import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { inflateRawSync, constants as zlibConstants } from 'node:zlib';
import {
  DEFLATE_TAIL,
  FrameParser,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_PING,
  OPCODE_PONG,
  OPCODE_TEXT,
  buildCloseFrame,
  buildMaskedFrame,
  buildUpgradeRequest,
  compressMessage,
  makeKeyPool,
  parseDeflateResponse,
  parseUpgradeResponse,
  repeatFrame,
  type DeflateAgreement,
  type HandshakeKey,
  type ParserSink,
} from './lib/frames.js';
import { Histogram } from './lib/histogram.js';
import type {
  EchoResult,
  EchoSpec,
  FromGenerator,
  HandshakeResult,
  HandshakeSpec,
  IdleResult,
  IdleSpec,
  LoadResult,
  LoadSpec,
  ToGenerator,
} from './lib/ipc.js';

/** What the generator offers in the compressed case: every echo can be inflated on its own. */
const DEFLATE_OFFER =
  'permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits';

const send = process.send?.bind(process);

function emit(message: FromGenerator, then?: () => void): void {
  if (send === undefined) {
    if (message.type === 'result') console.log(JSON.stringify(message.result, null, 2));
    else if (message.type === 'error') console.error(message.message);
    then?.();
    return;
  }
  send(message, undefined, {}, () => then?.());
}

let resumeParent: (() => void) | null = null;

/** Tells the parent where the run is and waits for it to answer (immediately when standalone). */
function phase(name: 'baseline' | 'opened', connections: number): Promise<void> {
  if (send === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    resumeParent = resolve;
    emit({ type: 'phase', name, connections });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A run fails as a whole at its first error: a server that misbehaves gives no number. */
class Failure {
  readonly promise: Promise<never>;
  error: Error | null = null;
  private rejectPromise!: (error: Error) => void;

  constructor() {
    this.promise = new Promise<never>((_, reject) => {
      this.rejectPromise = reject;
    });
    this.promise.catch(() => {});
  }

  fail(error: unknown): void {
    if (this.error !== null) return;
    this.error = error instanceof Error ? error : new Error(String(error));
    this.rejectPromise(this.error);
  }

  /** Waits ms, or rejects as soon as the run fails. */
  wait(ms: number): Promise<void> {
    return Promise.race([sleep(ms), this.promise]);
  }
}

interface Snapshot {
  readonly at: number;
  readonly cpu: NodeJS.CpuUsage;
}

function snapshot(): Snapshot {
  return { at: performance.now(), cpu: process.cpuUsage() };
}

/** CPU used between two snapshots, in % of one core. */
function cpuPercent(from: Snapshot, to: Snapshot): number {
  const used = to.cpu.user - from.cpu.user + (to.cpu.system - from.cpu.system);
  return (used / 1000 / (to.at - from.at)) * 100;
}

interface Window {
  readonly count: number;
  readonly windowMs: number;
  readonly generatorCpu: number;
}

/**
 * Warms up for spec.warmupMs, then measures for spec.durationMs between a 'start' and an 'end'
 * mark (the harness reads the server's CPU at each). `counter` reads the running total of what is
 * counted; `setMeasuring` tells the load whether to record latencies.
 */
async function measureWindow(
  spec: { readonly warmupMs: number; readonly durationMs: number },
  failure: Failure,
  counter: () => number,
  setMeasuring: (on: boolean) => void,
): Promise<Window> {
  await failure.wait(spec.warmupMs);
  const before = counter();
  const start = snapshot();
  setMeasuring(true);
  emit({ type: 'mark', phase: 'start' });
  await failure.wait(spec.durationMs);
  setMeasuring(false);
  const end = snapshot();
  emit({ type: 'mark', phase: 'end' });
  return { count: counter() - before, windowMs: end.at - start.at, generatorCpu: cpuPercent(start, end) };
}

// --- Connecting --------------------------------------------------------------------------------

/**
 * Every socket of the generator reads into this one buffer (net's `onread`): no allocation per
 * read, and reads of up to 1 MiB. A chunk is only valid until the callback handling it returns;
 * whatever must outlive it (handshake bytes, sampled payloads) is copied.
 */
const READ_BUFFER = Buffer.allocUnsafe(1024 * 1024);

interface Opened {
  readonly socket: Socket;
  readonly extensions: string | undefined;
  /**
   * Hands the connection's bytes to `handler` from now on, starting with those that came with or
   * after the 101 (the first frames, if any).
   */
  attach(handler: (chunk: Buffer) => void): void;
}

/** Connects and, for a WebSocket server, performs the opening handshake. */
function open(spec: LoadSpec, key: HandshakeKey, extensions?: string): Promise<Opened> {
  return new Promise((resolve, reject) => {
    let received: Buffer = Buffer.alloc(0);
    // Bytes after the handshake, until the caller attaches its handler.
    const early: Buffer[] = [];
    let handler: (chunk: Buffer) => void = (chunk) => onHandshakeData(chunk);
    const socket = connect({
      host: spec.host,
      port: spec.port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (length: number, buffer: Uint8Array): boolean => {
          handler((buffer as Buffer).subarray(0, length));
          return true;
        },
      },
    });
    const cleanup = (): void => {
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onError = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('the server closed the connection during the handshake'));
    };
    const opened = (responseExtensions: string | undefined): void => {
      cleanup();
      handler = (chunk) => early.push(Buffer.from(chunk));
      resolve({
        socket,
        extensions: responseExtensions,
        attach(next) {
          handler = next;
          for (const chunk of early.splice(0)) next(chunk);
        },
      });
    };
    const onHandshakeData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      let response;
      try {
        response = parseUpgradeResponse(received, key.accept);
      } catch (error) {
        onError(error as Error);
        return;
      }
      if (response === null) return;
      if (response.rest.length > 0) early.push(response.rest);
      opened(response.extensions);
    };
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once('connect', () => {
      if (spec.protocol === 'raw') opened(undefined);
      else socket.write(buildUpgradeRequest(spec.host, spec.port, key.key, extensions));
    });
  });
}

/** Runs `task(i)` for i in [0, count) with at most `parallel` in progress. */
async function pool(count: number, parallel: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
}

// --- Payloads ----------------------------------------------------------------------------------

/** Realistic compressible text: a JSON array of records, padded with whitespace to `size` bytes. */
function jsonLike(size: number): Buffer {
  const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy'];
  const tags = ['admin', 'beta', 'premium', 'trial', 'staff', 'partner'];
  let seed = 42;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  let out = '[';
  for (let i = 0; ; i++) {
    const name = names[Math.floor(random() * names.length)]!;
    const record = JSON.stringify({
      id: 100_000 + Math.floor(random() * 900_000),
      name,
      email: `${name}.${i}@example.com`,
      active: random() < 0.7,
      score: Math.round(random() * 10_000) / 100,
      tags: tags.filter(() => random() < 0.3),
      createdAt: new Date(Date.UTC(2024, Math.floor(random() * 12), 1 + Math.floor(random() * 28))).toISOString(),
    });
    if (out.length + record.length + 2 > size) break;
    out += (i === 0 ? '' : ',') + record;
  }
  out += ']';
  return Buffer.from(out.padEnd(size, ' '), 'latin1');
}

function makePayload(spec: EchoSpec): Buffer {
  if (spec.deflate) return jsonLike(spec.size);
  if (spec.opcode === 'binary') return randomBytes(spec.size);
  const text = 'The quick brown fox jumps over the lazy dog 0123456789 ';
  return Buffer.from(text.repeat(Math.ceil(spec.size / text.length)).slice(0, spec.size), 'latin1');
}

// --- echo --------------------------------------------------------------------------------------

async function runEcho(spec: EchoSpec): Promise<EchoResult> {
  if (spec.deflate && spec.protocol === 'raw') throw new Error('the raw TCP echo cannot negotiate permessage-deflate');
  const failure = new Failure();
  const payload = makePayload(spec);
  const opcode = spec.opcode === 'text' ? OPCODE_TEXT : OPCODE_BINARY;
  const K = spec.inflight;
  const histogram = new Histogram();
  const keys = makeKeyPool(Math.min(spec.connections, 64));
  /** Pre-built batches of K frames, per negotiated client window (one for uncompressed runs). */
  const batches = new Map<number, { batch: Buffer; frameLength: number }>();
  let measuring = false;
  let stopping = false;
  let messages = 0;
  let verified = 0;
  let extensions: string | null = null;

  const batchFor = (agreement: DeflateAgreement | null): { batch: Buffer; frameLength: number } => {
    const bits = agreement?.clientMaxWindowBits ?? 0;
    let entry = batches.get(bits);
    if (entry === undefined) {
      const body = agreement === null ? payload : compressMessage(payload, bits);
      const frame = buildMaskedFrame(opcode, body, { rsv1: agreement !== null });
      entry = { batch: repeatFrame(frame, K), frameLength: frame.length };
      batches.set(bits, entry);
    }
    return entry;
  };

  const verify = (echo: Buffer, rsv1: boolean, agreement: DeflateAgreement | null): void => {
    let data = echo;
    if (agreement !== null) {
      // 4 KiB of text is above both servers' threshold: the echo must come back compressed.
      if (!rsv1) throw new Error('an echo came back uncompressed (RSV1 clear)');
      data = inflateRawSync(Buffer.concat([echo, DEFLATE_TAIL]), { windowBits: 15, finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } else if (rsv1) throw new Error('RSV1 set without permessage-deflate');
    if (!data.equals(payload)) throw new Error(`an echo differs from the message sent (${data.length} bytes)`);
    verified++;
  };

  const connections = await Promise.all(
    Array.from({ length: spec.connections }, async (_, i) => {
      const opened = await open(spec, keys[i % keys.length]!, spec.deflate ? DEFLATE_OFFER : undefined);
      const { socket } = opened;
      // Bytes that arrive before start() (none are expected: nothing was sent yet) wait there.
      const held: Buffer[] = [];
      opened.attach((chunk) => held.push(Buffer.from(chunk)));
      let agreement: DeflateAgreement | null = null;
      if (spec.deflate) {
        agreement = parseDeflateResponse(opened.extensions);
        if (agreement === null) throw new Error('the server declined permessage-deflate');
        if (!agreement.serverNoContextTakeover || !agreement.clientNoContextTakeover) {
          throw new Error(`the server did not accept both no_context_takeover: ${opened.extensions}`);
        }
        extensions = opened.extensions ?? null;
      }
      const { batch, frameLength } = batchFor(agreement);
      const sink: ParserSink = {
        control(code, data) {
          if (code === OPCODE_PING) socket.write(buildMaskedFrame(OPCODE_PONG, data));
          else if (code === OPCODE_CLOSE && !stopping) throw new Error(`the server sent a close frame: ${data.toString('hex')}`);
        },
        sample: (echo, rsv1) => verify(echo, rsv1, agreement),
      };
      const parser = new FrameParser(sink, opcode, agreement === null ? payload.length : -1);
      parser.sampleNext = true;
      // Send times of the K frames in flight, oldest at `head`. Echoes come back in order, and the
      // ring is always full: the slot an echo frees is the one its replacement's time goes in.
      const ring = new Float64Array(K);
      let head = 0;
      const onData = (chunk: Buffer): void => {
        const before = parser.messages;
        try {
          parser.push(chunk);
        } catch (error) {
          failure.fail(error);
          return;
        }
        const n = parser.messages - before;
        if (n === 0) return;
        if (n > K) {
          failure.fail(new Error(`${n} echoes for ${K} messages in flight`));
          return;
        }
        messages += n;
        const now = performance.now();
        for (let j = 0; j < n; j++) {
          if (measuring) histogram.record(now - ring[head]!);
          ring[head] = now;
          head = head + 1 === K ? 0 : head + 1;
        }
        if (!stopping) socket.write(n === K ? batch : batch.subarray(0, n * frameLength));
      };
      socket.on('error', (error) => failure.fail(error));
      socket.on('close', () => {
        if (!stopping) failure.fail(new Error('the server closed a connection'));
      });
      return {
        socket,
        parser,
        start(): void {
          ring.fill(performance.now());
          socket.write(batch);
          opened.attach(onData);
          for (const chunk of held.splice(0)) onData(chunk);
        },
      };
    }),
  );

  try {
    for (const connection of connections) connection.start();
    const { count, windowMs, generatorCpu } = await measureWindow(
      spec,
      failure,
      () => messages,
      (on) => (measuring = on),
    );
    if (verified < spec.connections) {
      throw new Error(`only ${verified} of ${spec.connections} connections had an echo verified`);
    }
    let compressedEchoes = 0;
    let echoes = 0;
    for (const connection of connections) {
      compressedEchoes += connection.parser.compressedFrames;
      echoes += connection.parser.messages;
    }
    if (spec.deflate && compressedEchoes !== echoes) {
      throw new Error(`${echoes - compressedEchoes} of ${echoes} echoes came back uncompressed`);
    }
    return {
      mode: 'echo',
      windowMs,
      messages: count,
      messagesPerSec: (count / windowMs) * 1000,
      mbPerSec: (count * spec.size) / windowMs / 1000,
      p50Us: histogram.quantileUs(0.5),
      p99Us: histogram.quantileUs(0.99),
      maxUs: histogram.maxUs(),
      generatorCpu,
      verified,
      compressedEchoes,
      extensions,
    };
  } finally {
    stopping = true;
    for (const connection of connections) connection.socket.destroy();
  }
}

// --- handshake ---------------------------------------------------------------------------------

const CLOSE_FRAME = buildCloseFrame();

/** Connect, handshake, send a close frame, wait for the server's close frame and the end of TCP. */
async function cycle(spec: LoadSpec, key: HandshakeKey): Promise<void> {
  const opened = await open(spec, key);
  const { socket } = opened;
  await new Promise<void>((resolve, reject) => {
    let closeReceived = false;
    const parser = new FrameParser(
      {
        control(code) {
          if (code === OPCODE_CLOSE) closeReceived = true;
        },
        sample() {},
      },
      -1,
      -1,
    );
    opened.attach((chunk) => {
      try {
        parser.push(chunk);
      } catch (error) {
        socket.destroy();
        reject(error);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => {
      if (closeReceived) resolve();
      else reject(new Error('the server ended the connection without a close frame'));
    });
    socket.write(CLOSE_FRAME);
  });
}

async function runHandshake(spec: HandshakeSpec): Promise<HandshakeResult> {
  if (spec.protocol !== 'ws') throw new Error('the handshake case needs a WebSocket server');
  const failure = new Failure();
  const keys = makeKeyPool(256);
  const histogram = new Histogram();
  let measuring = false;
  let stopping = false;
  let completed = 0;
  const loops = Array.from({ length: spec.loops }, async (_, loop) => {
    for (let i = loop; !stopping; i += spec.loops) {
      const started = performance.now();
      await cycle(spec, keys[i % keys.length]!);
      if (measuring) {
        completed++;
        histogram.record(performance.now() - started);
      }
    }
  });
  const all = Promise.all(loops);
  all.catch((error: unknown) => failure.fail(error));
  try {
    const { count, windowMs, generatorCpu } = await measureWindow(
      spec,
      failure,
      () => completed,
      (on) => (measuring = on),
    );
    return {
      mode: 'handshake',
      windowMs,
      handshakes: count,
      handshakesPerSec: (count / windowMs) * 1000,
      p50Us: histogram.quantileUs(0.5),
      p99Us: histogram.quantileUs(0.99),
      generatorCpu,
    };
  } finally {
    stopping = true;
    // The loops finish the cycle in progress; a server that hangs one does not hang the report.
    await Promise.race([all.catch(() => {}), sleep(5000)]);
  }
}

// --- idle --------------------------------------------------------------------------------------

async function runIdle(spec: IdleSpec): Promise<IdleResult> {
  if (spec.protocol !== 'ws') throw new Error('the idle case needs a WebSocket server');
  const failure = new Failure();
  const keys = makeKeyPool(256);
  // Warm-up: the server's handshake path compiled and its lazily created state in place, so the
  // baseline taken next is the server at rest, not the server before its first connection.
  await Promise.race([
    pool(spec.warmupHandshakes, 8, (i) => cycle(spec, keys[i % keys.length]!)),
    failure.promise,
  ]);
  await phase('baseline', 0);
  const sockets: Socket[] = [];
  let stopping = false;
  const started = performance.now();
  const opening = pool(spec.connections, spec.parallel, async (i) => {
    const opened = await open(spec, keys[i % keys.length]!);
    const { socket } = opened;
    sockets.push(socket);
    // Idle, but alive: pings (rfc6455's keepalive) are answered.
    const parser = new FrameParser(
      {
        control(code, data) {
          if (code === OPCODE_PING) socket.write(buildMaskedFrame(OPCODE_PONG, data));
          else if (code === OPCODE_CLOSE && !stopping) failure.fail(new Error('the server closed an idle connection'));
        },
        sample() {},
      },
      -1,
      -1,
    );
    opened.attach((chunk) => {
      try {
        parser.push(chunk);
      } catch (error) {
        failure.fail(error);
      }
    });
    socket.on('error', (error) => {
      if (!stopping) failure.fail(error);
    });
    socket.on('close', () => {
      if (!stopping) failure.fail(new Error('the server dropped an idle connection'));
    });
  });
  try {
    await Promise.race([opening, failure.promise]);
    const openMs = performance.now() - started;
    await Promise.race([phase('opened', sockets.length), failure.promise]);
    return { mode: 'idle', opened: sockets.length, openMs };
  } finally {
    stopping = true;
    for (const socket of sockets) socket.destroy();
  }
}

// --- entry -------------------------------------------------------------------------------------

function run(spec: LoadSpec): Promise<LoadResult> {
  switch (spec.mode) {
    case 'echo':
      return runEcho(spec);
    case 'handshake':
      return runHandshake(spec);
    case 'idle':
      return runIdle(spec);
  }
}

function start(spec: LoadSpec): void {
  run(spec).then(
    (result) => emit({ type: 'result', result }, () => process.exit(0)),
    (error: unknown) =>
      emit({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () =>
        process.exit(1),
      ),
  );
}

if (send !== undefined) {
  process.on('message', (message: ToGenerator) => {
    if (message.type === 'run') start(message.spec);
    else if (message.type === 'continue') {
      const resume = resumeParent;
      resumeParent = null;
      resume?.();
    }
  });
  process.on('disconnect', () => process.exit(0));
  emit({ type: 'ready' });
} else if (process.argv[2] !== undefined) {
  start(JSON.parse(process.argv[2]) as LoadSpec);
} else {
  console.error('usage: node --import tsx bench/load.ts \'<LoadSpec as JSON>\' (see bench/lib/ipc.ts)');
  process.exit(2);
}
