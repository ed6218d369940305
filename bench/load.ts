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
 *   fanout     N idle subscribers and one publisher with K messages in flight; the server sends
 *              each message to every subscriber (lib/fanout.ts).
 *   chat       N users in R rooms, each sending `rate` chat messages per second, in the chat's
 *              protocol or Socket.IO's; one step per rate, a rate search with a p99 bound
 *              (lib/chat.ts, lib/chat-wire.ts).
 *
 * Run by bench/run.ts (pinned to its own core, IPC: { type: 'run', spec }), or by hand:
 *   node --import tsx/esm bench/load.ts '{"mode":"echo","host":"127.0.0.1","port":9001,"protocol":"ws",
 *     "connections":10,"inflight":4,"size":64,"opcode":"text","deflate":false,"warmupMs":500,"durationMs":2000}'
 */

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import {
  OP,
  closePayload,
  compressMessage,
  inflateMessage,
  makeKeyPool,
  maskedFrame,
  repeatFrame,
  type HandshakeKey,
} from '../testkit/index.js';
import { FrameParser, parseDeflateResponse, type DeflateAgreement, type ParserSink } from './lib/frames.js';
import { runChat } from './lib/chat.js';
import { runFanout } from './lib/fanout.js';
import { Failure, emit, jsonLike, measureWindow, open, phase, pool, resumeFromParent, send, sleep } from './lib/generator.js';
import { Histogram } from './lib/histogram.js';
import { InFlight, echoResult, idleParser, pushCounting } from './lib/reading.js';
import type {
  EchoResult,
  EchoSpec,
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
  const opcode = spec.opcode === 'text' ? OP.TEXT : OP.BINARY;
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
      const body = agreement === null ? payload : compressMessage(payload, { windowBits: bits });
      const frame = maskedFrame(opcode, body, { rsv1: agreement !== null });
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
      data = inflateMessage(echo);
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
          if (code === OP.PING) socket.write(maskedFrame(OP.PONG, data));
          else if (code === OP.CLOSE && !stopping) throw new Error(`the server sent a close frame: ${data.toString('hex')}`);
        },
        sample: (echo, rsv1) => verify(echo, rsv1, agreement),
      };
      const parser = new FrameParser(sink, opcode, agreement === null ? payload.length : -1);
      parser.sampleNext = true;
      const inFlight = new InFlight(K);
      const onData = (chunk: Buffer): void => {
        const n = pushCounting(parser, chunk, failure);
        if (n === 0) return;
        if (n > K) {
          failure.fail(new Error(`${n} echoes for ${K} messages in flight`));
          return;
        }
        messages += n;
        inFlight.echoed(n, measuring ? histogram : null);
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
          inFlight.start();
          socket.write(batch);
          opened.attach(onData);
          for (const chunk of held.splice(0)) onData(chunk);
        },
      };
    }),
  );

  try {
    for (const connection of connections) connection.start();
    const measured = await measureWindow(
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
    return echoResult(spec, measured, histogram, { verified, compressedEchoes, extensions });
  } finally {
    stopping = true;
    for (const connection of connections) connection.socket.destroy();
  }
}

// --- handshake ---------------------------------------------------------------------------------

const CLOSE_FRAME = maskedFrame(OP.CLOSE, closePayload(1000));

/** Connect, handshake, send a close frame, wait for the server's close frame and the end of TCP. */
async function cycle(spec: LoadSpec, key: HandshakeKey): Promise<void> {
  const opened = await open(spec, key);
  const { socket } = opened;
  await new Promise<void>((resolve, reject) => {
    let closeReceived = false;
    const parser = new FrameParser(
      {
        control(code) {
          if (code === OP.CLOSE) closeReceived = true;
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

/** The raw floor's warm-up cycle: connect, end, wait for the server to close (no WebSocket). */
async function rawCycle(spec: LoadSpec, key: HandshakeKey): Promise<void> {
  const { socket } = await open(spec, key);
  await new Promise<void>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('close', () => resolve());
    socket.destroy();
  });
}

async function runIdle(spec: IdleSpec): Promise<IdleResult> {
  // 'raw': the floor, a bare node:net server holding the sockets (bench/servers/raw.ts --idle).
  if (spec.protocol === 'socketio') throw new Error('the idle case needs a WebSocket server or the raw floor');
  const failure = new Failure();
  const keys = makeKeyPool(256);
  const warm = spec.protocol === 'raw' ? rawCycle : cycle;
  // Warm-up: the server's handshake path compiled and its lazily created state in place, so the
  // baseline taken next is the server at rest, not the server before its first connection.
  await Promise.race([
    pool(spec.warmupHandshakes, 8, (i) => warm(spec, keys[i % keys.length]!)),
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
    const parser = idleParser(
      (frame) => socket.write(frame),
      () => {
        if (!stopping) failure.fail(new Error('the server closed an idle connection'));
      },
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
  if (spec.protocol === 'socketio' && spec.mode !== 'chat') {
    return Promise.reject(new Error(`the ${spec.mode} mode speaks no Socket.IO (the chat mode does)`));
  }
  switch (spec.mode) {
    case 'echo':
      return runEcho(spec);
    case 'handshake':
      return runHandshake(spec);
    case 'idle':
      return runIdle(spec);
    case 'fanout':
      return runFanout(spec);
    case 'chat':
      return runChat(spec);
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
    else if (message.type === 'continue') resumeFromParent();
  });
  process.on('disconnect', () => process.exit(0));
  emit({ type: 'ready' });
} else if (process.argv[2] !== undefined) {
  start(JSON.parse(process.argv[2]) as LoadSpec);
} else {
  console.error('usage: node --import tsx/esm bench/load.ts \'<LoadSpec as JSON>\' (see bench/lib/ipc.ts)');
  process.exit(2);
}
