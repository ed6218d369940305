/**
 * Hostile input, fuzzed with fast-check (fixed seeds, so every run replays the same cases), against
 * a real echo server on 127.0.0.1:
 *
 * - random byte streams after a valid handshake;
 * - valid masked frame sequences, as they are (the echo is checked exactly) and mutated (flags,
 *   opcodes, masks, lengths, flipped bits, truncation, duplication, insertion);
 * - random and mutated HTTP upgrade requests.
 *
 * Each property run takes a batch of cases and plays them concurrently (one TCP connection each),
 * which is how thousands of cases fit in seconds. Every case must end within CASE_BOUND_MS: a
 * well-formed response (HTTP status, then well-formed server frames with a sendable close code),
 * or a closed socket; never a hang. After each fuzz run the server must still echo on a fresh
 * connection and forget every connection, and no unhandled rejection or uncaught exception may
 * have occurred in this process (the server runs in it).
 */

import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  HOST,
  OP,
  cleanup,
  clientFrame,
  closePayload,
  defer,
  echoHandler,
  startServer,
  wsConnect,
  type TestServer,
} from './helpers.js';
import { acceptFor, parseHead, readFrames, splitHead, statusOf, upgradeRequest } from '../../testkit/index.js';

afterEach(cleanup);

/** How many cases run at once (one connection each). */
const CONCURRENCY = 20;
/** Property runs (batches of CONCURRENCY cases) per test. */
const RANDOM_BATCHES = 150;
const SEQUENCE_BATCHES = 400;
const HANDSHAKE_BATCHES = 150;
/** A case that has not ended in this long hangs. */
const CASE_BOUND_MS = 5000;

// ---- process-wide failure detectors --------------------------------------------------------------

const unhandledRejections: unknown[] = [];
const uncaughtExceptions: unknown[] = [];
const onUnhandledRejection = (reason: unknown): void => {
  unhandledRejections.push(reason);
};
const onUncaughtException = (error: unknown): void => {
  uncaughtExceptions.push(error);
};

beforeAll(() => {
  process.on('unhandledRejection', onUnhandledRejection);
  process.on('uncaughtException', onUncaughtException);
});

afterAll(() => {
  process.off('unhandledRejection', onUnhandledRejection);
  process.off('uncaughtException', onUncaughtException);
});

// ---- the fuzz client ------------------------------------------------------------------------------

interface Exchange {
  /** Every byte the server sent. */
  readonly received: Buffer;
  /** The server ended its side of TCP (FIN) before the socket closed. */
  readonly ended: boolean;
  /** The socket failed (ECONNRESET...) rather than closing cleanly. */
  readonly error: string | null;
}

/** Sockets still open, destroyed after each test. */
const openSockets = new Set<Socket>();

function bound<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung for ${ms} ms: ${what()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Opens a connection, writes `first`, then (once the HTTP response head has arrived, if
 * `afterHead`) each of `rest` in its own write, ends its side (FIN), and reads until the socket
 * closes. Rejects if that takes longer than CASE_BOUND_MS.
 */
function exchange(port: number, first: Uint8Array, rest: readonly Uint8Array[], afterHead: boolean): Promise<Exchange> {
  const socket = connect(port, HOST);
  openSockets.add(socket);
  socket.setNoDelay(true);
  const chunks: Buffer[] = [];
  let size = 0;
  let ended = false;
  let error: string | null = null;
  let headSeen: (() => void) | null = null;
  const head = new Promise<void>((resolve) => (headSeen = resolve));
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (headSeen !== null && Buffer.concat(chunks, size).includes('\r\n\r\n')) {
      headSeen();
      headSeen = null;
    }
  });
  socket.on('end', () => (ended = true));
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const write = (bytes: Uint8Array): Promise<void> =>
    new Promise((resolve) => {
      if (socket.destroyed || !socket.writable) return resolve();
      socket.write(bytes, () => resolve());
    });
  const run = async (): Promise<Exchange> => {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    await write(first);
    if (afterHead) await Promise.race([head, closed]);
    for (const bytes of rest) await write(bytes);
    if (!socket.destroyed) socket.end();
    await closed;
    openSockets.delete(socket);
    return { received: Buffer.concat(chunks, size), ended, error };
  };
  return bound(run(), CASE_BOUND_MS, () => `${size} bytes received, ended=${ended}, error=${error}`).catch(
    (err: unknown) => {
      socket.destroy();
      throw err;
    },
  );
}

/** Splits `bytes` at the given cut points (taken modulo its length). */
function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  if (bytes.length === 0) return [];
  const points = [...new Set(cuts.map((c) => c % bytes.length))].filter((c) => c > 0).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    out.push(bytes.subarray(start, point));
    start = point;
  }
  out.push(bytes.subarray(start));
  return out;
}

function hex(bytes: Uint8Array, max = 400): string {
  const text = Buffer.from(bytes.subarray(0, max)).toString('hex');
  return bytes.length > max ? `${text}... (${bytes.length} bytes)` : text;
}

// ---- checking what the server sent ----------------------------------------------------------------

/** Close codes a close frame may carry (RFC 6455 7.4.1/7.4.2, IANA registry). */
function isSendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

interface ServerFrame {
  readonly opcode: number;
  readonly payload: Buffer;
}

interface ServerStream {
  readonly frames: ServerFrame[];
  /** The close frame's code (1005 for an empty one), or null if none came. */
  readonly closeCode: number | null;
}

/**
 * Parses the server's frames strictly: whatever the client sent, a server may only send complete,
 * unmasked, unfragmented frames with RSV 0 and known opcodes, minimal lengths, UTF-8 text, control
 * frames of at most 125 bytes, a close frame with an empty payload or a sendable code and a UTF-8
 * reason, and nothing after its close frame. Throws on the first violation.
 */
function parseServerStream(bytes: Buffer): ServerStream {
  const frames: ServerFrame[] = [];
  let closeCode: number | null = null;
  const read = readFrames(bytes);
  for (const frame of read.frames) {
    if (closeCode !== null) throw new Error('bytes after the close frame');
    const { rsv, masked, fin, opcode, payload, raw } = frame;
    if (rsv !== 0) throw new Error(`RSV bits set: ${raw[0]!.toString(16)}`);
    if (masked) throw new Error('masked server frame');
    if (!fin) throw new Error('fragmented server frame');
    if (![OP.TEXT, OP.BINARY, OP.CLOSE, OP.PING, OP.PONG].includes(opcode as 1)) {
      throw new Error(`opcode ${opcode}`);
    }
    const length = payload.length;
    const len7 = raw[1]! & 0x7f;
    if (len7 === 126 && length < 126) throw new Error('non-minimal 16-bit length');
    if (len7 === 127 && length <= 0xffff) throw new Error(`bad 64-bit length ${length}`);
    if (opcode >= 0x8 && length > 125) throw new Error(`control frame of ${length} bytes`);
    if (opcode === OP.TEXT && !isUtf8(payload)) throw new Error('text frame is not UTF-8');
    if (opcode === OP.CLOSE) {
      if (length === 0) closeCode = 1005;
      else {
        if (length < 2) throw new Error('close payload of 1 byte');
        const code = payload.readUInt16BE(0);
        if (!isSendableCode(code)) throw new Error(`close code ${code}`);
        if (!isUtf8(payload.subarray(2))) throw new Error('close reason is not UTF-8');
        closeCode = code;
      }
    }
    frames.push({ opcode, payload });
  }
  // The bytes end inside a frame (its header, or its payload: a 64-bit length past the end too).
  if (!read.complete) throw new Error(closeCode !== null ? 'bytes after the close frame' : 'truncated frame');
  return { frames, closeCode };
}

interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly rest: Buffer;
}

function parseResponseHead(received: Buffer): HttpResponse | null {
  const split = splitHead(received);
  if (split === null) return null;
  const { startLine, headers } = parseHead(split.head);
  const status = statusOf(startLine);
  if (status === 0) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify(startLine)}`);
  return { status, headers, rest: split.rest };
}

// ---- statistics, printed per test --------------------------------------------------------------

class Stats {
  cases = 0;
  readonly outcomes = new Map<string, number>();

  count(outcome: string): void {
    this.cases++;
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }

  toString(): string {
    const sorted = [...this.outcomes].sort((a, b) => b[1] - a[1]);
    return `${this.cases} cases: ${sorted.map(([k, v]) => `${k} x${v}`).join(', ')}`;
  }
}

// ---- the server, and what must hold after a fuzz run -----------------------------------------------

async function startFuzzServer(): Promise<TestServer> {
  defer(() => {
    for (const socket of openSockets) socket.destroy();
    openSockets.clear();
  });
  return startServer({
    handler: echoHandler,
    closeTimeout: 1000,
    handshakeTimeout: CASE_BOUND_MS,
    pingInterval: 0,
  });
}

/** Polls `condition` every 10 ms for at most `ms`. */
async function within(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition never held within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function expectServerHealthy(server: TestServer): Promise<void> {
  // Every fuzz connection is forgotten...
  await within(() => server.server.clients.size === 0, CASE_BOUND_MS, 'server.clients.size returns to 0');
  // ...and a fresh one is echoed, text and binary.
  const client = await wsConnect(server.url);
  client.ws.send('still alive é');
  const textEcho = await client.messages.next();
  expect(textEcho.isBinary).toBe(false);
  expect(textEcho.data.toString('utf8')).toBe('still alive é');
  const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
  client.ws.send(bytes);
  const binaryEcho = await client.messages.next();
  expect(binaryEcho.isBinary).toBe(true);
  expect(binaryEcho.data.equals(bytes)).toBe(true);
  client.ws.close(1000);
  expect((await client.closed).code).toBe(1000);
  await within(() => server.server.clients.size === 0, CASE_BOUND_MS, 'the fresh connection is forgotten');
  // Nothing escaped: no handler error reported, no unhandled rejection, no uncaught exception.
  expect(server.errors).toEqual([]);
  expect(unhandledRejections).toEqual([]);
  expect(uncaughtExceptions).toEqual([]);
}

/** Runs `cases` through `run`, CONCURRENCY at a time, as one fast-check property over batches. */
async function fuzzBatches<C>(
  caseArb: fc.Arbitrary<C>,
  seed: number,
  batches: number,
  run: (c: C) => Promise<void>,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(caseArb, { minLength: CONCURRENCY, maxLength: CONCURRENCY }), async (batch) => {
      await Promise.all(batch.map(run));
    }),
    // A failing batch is reported as it is: shrinking live connections would take too long.
    { seed, numRuns: batches, endOnFailure: true },
  );
}

function requestFor(key: string): Buffer {
  return Buffer.from(upgradeRequest({ host: HOST, key }), 'latin1');
}

/** A fixed valid key per case is enough: the server answers each connection independently. */
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/**
 * Plays one frame case: handshake, then `bytes` in several writes, then FIN. Checks the 101, the
 * server's frames, and that the connection ended. Returns the parsed server stream.
 */
async function playFrames(
  port: number,
  bytes: Uint8Array,
  cuts: readonly number[],
  afterHead: boolean,
  stats: Stats,
): Promise<ServerStream> {
  const request = requestFor(KEY);
  const parts = split(bytes, cuts);
  // Either the frames follow the 101 (socket data), or they share the request's write (the
  // upgrade's `head`).
  const first = afterHead || parts.length === 0 ? request : Buffer.concat([request, parts.shift()!]);
  const describeCase = (): string => `case bytes ${hex(bytes)}, cuts ${JSON.stringify(cuts)}, afterHead ${afterHead}`;
  let result: Exchange;
  try {
    result = await exchange(port, first, parts, afterHead);
  } catch (error) {
    throw new Error(`${(error as Error).message}; ${describeCase()}`);
  }
  try {
    const response = parseResponseHead(result.received);
    if (response === null) throw new Error('no complete HTTP response');
    if (response.status !== 101) throw new Error(`status ${response.status}`);
    if (response.headers['sec-websocket-accept'] !== acceptFor(KEY)) throw new Error('wrong accept');
    const stream = parseServerStream(response.rest);
    const outcome =
      stream.closeCode !== null
        ? `close ${stream.closeCode >= 3000 ? '3000-4999' : stream.closeCode}`
        : result.error !== null
          ? `no close (${result.error})`
          : 'no close';
    stats.count(outcome);
    return stream;
  } catch (error) {
    throw new Error(
      `${(error as Error).message}; received ${hex(result.received)}, ended=${result.ended}, error=${result.error}; ${describeCase()}`,
    );
  }
}

// ---- random byte streams ------------------------------------------------------------------------

/** Bytes that mostly start like a masked client frame, so that parsing goes past the first check. */
const frameLikeBytes = fc
  .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 127 }), fc.uint8Array({ maxLength: 400 }))
  .map(([b0, len7, rest]) => Uint8Array.from([b0, 0x80 | len7, ...rest]));

const randomStreamCase = fc.record({
  bytes: fc.oneof(fc.uint8Array({ maxLength: 600 }), frameLikeBytes),
  cuts: fc.array(fc.nat(), { maxLength: 3 }),
  afterHead: fc.boolean(),
});

// ---- valid frame sequences and their mutations ----------------------------------------------------------

type Item =
  | { readonly kind: 'text'; readonly text: string; readonly cuts: readonly number[] }
  | { readonly kind: 'binary'; readonly bytes: Uint8Array; readonly cuts: readonly number[] }
  | { readonly kind: 'ping'; readonly bytes: Uint8Array }
  | { readonly kind: 'pong'; readonly bytes: Uint8Array };

interface Sequence {
  readonly items: readonly Item[];
  readonly close: { readonly code: number | null; readonly reason: string } | null;
  readonly maskSeed: number;
}

const sequenceArb: fc.Arbitrary<Sequence> = fc.record({
  items: fc.array(
    fc.oneof(
      fc.record({
        kind: fc.constant('text' as const),
        text: fc.string({ unit: 'binary', maxLength: 60 }),
        cuts: fc.array(fc.nat(), { maxLength: 3 }),
      }),
      fc.record({
        kind: fc.constant('binary' as const),
        bytes: fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 126, maxLength: 70_000 })),
        cuts: fc.array(fc.nat(), { maxLength: 3 }),
      }),
      fc.record({ kind: fc.constantFrom('ping' as const, 'pong' as const), bytes: fc.uint8Array({ maxLength: 125 }) }),
    ),
    { maxLength: 6 },
  ),
  close: fc.option(
    fc.record({
      code: fc.option(
        fc.oneof(fc.constantFrom(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014), fc.integer({ min: 3000, max: 4999 })),
      ),
      // At most 30 code points: at most 120 bytes, within the 123 a close reason may take.
      reason: fc.string({ unit: 'binary', maxLength: 30 }),
    }),
  ),
  maskSeed: fc.integer(),
});

/** A small deterministic PRNG (mulberry32), for masking keys derived from the case's seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Spec {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Uint8Array;
  masked: boolean;
}

function pieces(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const parts = split(bytes, cuts);
  return parts.length === 0 ? [bytes] : parts;
}

/** The frames of a sequence, and what a correct server echoes for it. */
function specsOf(sequence: Sequence): { specs: Spec[]; messages: Array<{ opcode: number; payload: Buffer }>; pings: Buffer[] } {
  const specs: Spec[] = [];
  const messages: Array<{ opcode: number; payload: Buffer }> = [];
  const pings: Buffer[] = [];
  for (const item of sequence.items) {
    if (item.kind === 'ping' || item.kind === 'pong') {
      specs.push({ fin: true, rsv: 0, opcode: item.kind === 'ping' ? OP.PING : OP.PONG, payload: item.bytes, masked: true });
      if (item.kind === 'ping') pings.push(Buffer.from(item.bytes));
      continue;
    }
    const opcode = item.kind === 'text' ? OP.TEXT : OP.BINARY;
    const payload = item.kind === 'text' ? Buffer.from(item.text, 'utf8') : Buffer.from(item.bytes);
    // Fragments may split a UTF-8 sequence: only the whole message must be valid.
    const parts = pieces(payload, item.cuts);
    parts.forEach((part, i) =>
      specs.push({ fin: i === parts.length - 1, rsv: 0, opcode: i === 0 ? opcode : OP.CONT, payload: part, masked: true }),
    );
    messages.push({ opcode, payload });
  }
  if (sequence.close !== null) {
    const { code, reason } = sequence.close;
    specs.push({
      fin: true,
      rsv: 0,
      opcode: OP.CLOSE,
      payload: code === null ? Buffer.alloc(0) : closePayload(code, reason),
      masked: true,
    });
  }
  return { specs, messages, pings };
}

function encodeSpecs(specs: readonly Spec[], maskSeed: number): Buffer[] {
  const random = prng(maskSeed);
  return specs.map((spec) => {
    const frame = clientFrame({
      fin: spec.fin,
      rsv1: (spec.rsv & 4) !== 0,
      rsv2: (spec.rsv & 2) !== 0,
      rsv3: (spec.rsv & 1) !== 0,
      opcode: spec.opcode,
      payload: spec.payload,
      mask: Uint8Array.from([0, 0, 0, 0].map(() => Math.floor(random() * 256))),
    });
    if (spec.masked) return frame;
    // Unmasked: clear the MASK bit and drop the key, leaving the (masked) payload bytes as they are.
    const headerEnd = frame.length - spec.payload.length;
    const out = Buffer.concat([frame.subarray(0, headerEnd - 4), frame.subarray(headerEnd)]);
    out[1] = out[1]! & 0x7f;
    return out;
  });
}

type FrameOp =
  | { readonly op: 'rsv'; readonly at: number; readonly bits: number }
  | { readonly op: 'opcode'; readonly at: number; readonly opcode: number }
  | { readonly op: 'fin'; readonly at: number }
  | { readonly op: 'unmask'; readonly at: number }
  | { readonly op: 'bloat'; readonly at: number; readonly extra: Uint8Array };

type HeaderOp =
  | { readonly op: 'len7'; readonly at: number; readonly len7: number }
  | { readonly op: 'extlength'; readonly at: number; readonly bytes: Uint8Array };

type ByteOp =
  | { readonly op: 'flip'; readonly pos: number; readonly bit: number }
  | { readonly op: 'truncate'; readonly pos: number }
  | { readonly op: 'duplicate'; readonly pos: number; readonly len: number; readonly to: number }
  | { readonly op: 'insert'; readonly pos: number; readonly bytes: Uint8Array }
  | { readonly op: 'remove'; readonly pos: number; readonly len: number };

const frameOpArb: fc.Arbitrary<FrameOp> = fc.oneof(
  fc.record({ op: fc.constant('rsv' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 7 }) }),
  fc.record({ op: fc.constant('opcode' as const), at: fc.nat(), opcode: fc.integer({ min: 0, max: 15 }) }),
  fc.record({ op: fc.constant('fin' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('unmask' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('bloat' as const), at: fc.nat(), extra: fc.uint8Array({ minLength: 1, maxLength: 200 }) }),
);

const headerOpArb: fc.Arbitrary<HeaderOp> = fc.oneof(
  fc.record({ op: fc.constant('len7' as const), at: fc.nat(), len7: fc.integer({ min: 0, max: 127 }) }),
  fc.record({ op: fc.constant('extlength' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 8, maxLength: 8 }) }),
);

const byteOpArb: fc.Arbitrary<ByteOp> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('truncate' as const), pos: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 64 }), to: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  fc.record({ op: fc.constant('remove' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
);

function applyFrameOp(specs: Spec[], op: FrameOp): void {
  if (specs.length === 0) return;
  const spec = specs[op.at % specs.length]!;
  switch (op.op) {
    case 'rsv':
      spec.rsv = op.bits;
      break;
    case 'opcode':
      spec.opcode = op.opcode;
      break;
    case 'fin':
      spec.fin = !spec.fin;
      break;
    case 'unmask':
      spec.masked = false;
      break;
    case 'bloat':
      // Control frames over 125 bytes, data that grows past a close code...
      spec.payload = Buffer.concat([spec.payload, op.extra]);
      break;
  }
}

function applyHeaderOp(frames: Buffer[], op: HeaderOp): void {
  if (frames.length === 0) return;
  const index = op.at % frames.length;
  const frame = frames[index]!;
  if (op.op === 'len7') {
    frame[1] = (frame[1]! & 0x80) | op.len7;
    return;
  }
  const len7 = frame[1]! & 0x7f;
  if (len7 === 126) Buffer.from(op.bytes.subarray(0, 2)).copy(frame, 2);
  else if (len7 === 127) Buffer.from(op.bytes).copy(frame, 2);
  else {
    // Switch a short frame to an extended length form with arbitrary bytes.
    const wide = (op.bytes[0]! & 1) === 1;
    const out = Buffer.concat([
      frame.subarray(0, 2),
      Buffer.from(op.bytes.subarray(0, wide ? 8 : 2)),
      frame.subarray(2),
    ]);
    out[1] = (out[1]! & 0x80) | (wide ? 127 : 126);
    frames[index] = out;
  }
}

function applyByteOp(bytes: Buffer, op: ByteOp): Buffer {
  const n = bytes.length;
  switch (op.op) {
    case 'flip': {
      if (n === 0) return bytes;
      const out = Buffer.from(bytes);
      out[op.pos % n] = out[op.pos % n]! ^ (1 << op.bit);
      return out;
    }
    case 'truncate':
      return n === 0 ? bytes : bytes.subarray(0, op.pos % n);
    case 'duplicate': {
      if (n === 0) return bytes;
      const start = op.pos % n;
      const slice = bytes.subarray(start, start + op.len);
      const to = op.to % (n + 1);
      return Buffer.concat([bytes.subarray(0, to), slice, bytes.subarray(to)]);
    }
    case 'insert': {
      const at = op.pos % (n + 1);
      return Buffer.concat([bytes.subarray(0, at), op.bytes, bytes.subarray(at)]);
    }
    case 'remove': {
      if (n === 0) return bytes;
      const at = op.pos % n;
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + op.len)]);
    }
  }
}

interface MutatedCase {
  readonly sequence: Sequence;
  readonly frameOps: readonly FrameOp[];
  readonly headerOps: readonly HeaderOp[];
  readonly byteOps: readonly ByteOp[];
  readonly cuts: readonly number[];
  readonly afterHead: boolean;
}

const validCaseArb: fc.Arbitrary<MutatedCase> = fc.record({
  sequence: sequenceArb,
  frameOps: fc.constant([]),
  headerOps: fc.constant([]),
  byteOps: fc.constant([]),
  cuts: fc.array(fc.nat(), { maxLength: 4 }),
  afterHead: fc.boolean(),
});

const mutatedCaseArb: fc.Arbitrary<MutatedCase> = fc
  .record({
    sequence: sequenceArb,
    frameOps: fc.array(frameOpArb, { maxLength: 3 }),
    headerOps: fc.array(headerOpArb, { maxLength: 2 }),
    byteOps: fc.array(byteOpArb, { maxLength: 3 }),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
    afterHead: fc.boolean(),
  })
  .filter((c) => c.frameOps.length + c.headerOps.length + c.byteOps.length > 0);

function bytesOf(c: MutatedCase): Buffer {
  const { specs } = specsOf(c.sequence);
  for (const op of c.frameOps) applyFrameOp(specs, op);
  const frames = encodeSpecs(specs, c.sequence.maskSeed);
  for (const op of c.headerOps) applyHeaderOp(frames, op);
  let bytes: Buffer = Buffer.concat(frames);
  for (const op of c.byteOps) bytes = applyByteOp(bytes, op);
  return bytes;
}

// ---- HTTP handshake requests -------------------------------------------------------------------------

type HandshakeOp =
  | { readonly op: 'drop'; readonly at: number }
  | { readonly op: 'dup'; readonly at: number }
  | { readonly op: 'value'; readonly at: number; readonly value: string }
  | { readonly op: 'name'; readonly at: number; readonly name: string }
  | { readonly op: 'case'; readonly at: number; readonly upper: boolean }
  | { readonly op: 'add'; readonly name: string; readonly value: string }
  | { readonly op: 'garbage'; readonly line: string }
  | { readonly op: 'fold'; readonly at: number; readonly value: string }
  | { readonly op: 'long'; readonly at: number; readonly size: number }
  | { readonly op: 'many'; readonly count: number };

const trickyValues = [
  '',
  ' ',
  'websocket',
  'WebSocket',
  'websocket, h2c',
  'h2c',
  'Upgrade',
  'keep-alive, Upgrade',
  'keep-alive',
  'close',
  '13',
  ' 13 ',
  '8',
  '13, 8',
  '0',
  KEY,
  'dGhlIHNhbXBsZSBub25jZQ',
  'dGhlIHNhbXBsZSBub25jZQ==dGhl',
  '!!!!!!!!!!!!!!!!!!!!!!==',
  'chat, chat',
  'chat, superchat',
  'a b',
  '\t',
  '\u00ff\u00fe',
];

const headerNames = [
  'Host',
  'Upgrade',
  'Connection',
  'Sec-WebSocket-Key',
  'Sec-WebSocket-Version',
  'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Extensions',
  'Origin',
  'Content-Length',
  'Transfer-Encoding',
  'X-Anything',
];

// Mostly what Node's HTTP parser lets through (so the library's own checks run), some of what it
// does not (control characters, bytes over 0x7f, separators in names).
const valueArb = fc.oneof(
  { arbitrary: fc.constantFrom(...trickyValues), weight: 3 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 2 },
  { arbitrary: fc.uint8Array({ minLength: 14, maxLength: 18 }).map((bytes) => Buffer.from(bytes).toString('base64')), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }), weight: 1 },
);

const nameArb = fc.oneof(
  { arbitrary: fc.constantFrom(...headerNames), weight: 4 },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 20 }), weight: 1 },
);

const handshakeOpArb: fc.Arbitrary<HandshakeOp> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('drop' as const), at: fc.nat() }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('dup' as const), at: fc.nat() }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('value' as const), at: fc.nat(), value: valueArb }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('name' as const), at: fc.nat(), name: nameArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('case' as const), at: fc.nat(), upper: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('add' as const), name: nameArb, value: valueArb }), weight: 3 },
  // Node's parser refuses these itself (400): fewer of them, so most cases reach the library.
  {
    arbitrary: fc.record({ op: fc.constant('garbage' as const), line: fc.string({ unit: 'binary-ascii', maxLength: 40 }) }),
    weight: 1,
  },
  { arbitrary: fc.record({ op: fc.constant('fold' as const), at: fc.nat(), value: fc.string({ maxLength: 20 }) }), weight: 1 },
  {
    arbitrary: fc.record({ op: fc.constant('long' as const), at: fc.nat(), size: fc.integer({ min: 100, max: 20_000 }) }),
    weight: 1,
  },
  { arbitrary: fc.record({ op: fc.constant('many' as const), count: fc.integer({ min: 1, max: 120 }) }), weight: 1 },
);

interface HandshakeCase {
  readonly method: string;
  readonly path: string;
  readonly version: string;
  readonly ops: readonly HandshakeOp[];
  readonly terminator: string;
  readonly trailing: Uint8Array;
  readonly cuts: readonly number[];
}

const handshakeCaseArb: fc.Arbitrary<HandshakeCase> = fc.record({
  method: fc.oneof(
    { arbitrary: fc.constant('GET'), weight: 10 },
    { arbitrary: fc.constantFrom('POST', 'HEAD', 'PUT', 'OPTIONS', 'CONNECT', 'get', 'DELETE'), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 8 }), weight: 1 },
  ),
  path: fc.oneof(
    { arbitrary: fc.constant('/'), weight: 10 },
    { arbitrary: fc.constantFrom('/chat?x=1', '*', 'http://127.0.0.1/', '//', '/a b'), weight: 1 },
    { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 20 }), weight: 1 },
  ),
  version: fc.oneof(
    { arbitrary: fc.constant('HTTP/1.1'), weight: 12 },
    { arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'http/1.1', 'HTTP/1', ''), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 10 }), weight: 1 },
  ),
  ops: fc.oneof({ arbitrary: fc.constant([]), weight: 1 }, { arbitrary: fc.array(handshakeOpArb, { minLength: 1, maxLength: 4 }), weight: 4 }),
  terminator: fc.oneof(
    { arbitrary: fc.constant('\r\n'), weight: 12 },
    { arbitrary: fc.constantFrom('', '\n', '\r'), weight: 1 },
  ),
  trailing: fc.oneof(
    { arbitrary: fc.constant(new Uint8Array(0)), weight: 4 },
    { arbitrary: fc.constant(clientFrame({ opcode: OP.TEXT, payload: Buffer.from('hi'), mask: Buffer.from([1, 2, 3, 4]) })), weight: 1 },
    { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }), weight: 1 },
  ),
  cuts: fc.array(fc.nat(), { maxLength: 3 }),
});

function buildRequest(c: HandshakeCase): { bytes: Buffer; headers: Array<[string, string]> } {
  const headers: Array<[string, string]> = [
    ['Host', `${HOST}`],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', KEY],
    ['Sec-WebSocket-Version', '13'],
  ];
  const lines: string[] = [];
  for (const op of c.ops) {
    const index = headers.length === 0 ? 0 : ('at' in op ? op.at : 0) % headers.length;
    const target = headers[index];
    switch (op.op) {
      case 'drop':
        if (target) headers.splice(index, 1);
        break;
      case 'dup':
        if (target) headers.splice(index, 0, [target[0], target[1]]);
        break;
      case 'value':
        if (target) target[1] = op.value;
        break;
      case 'name':
        if (target) target[0] = op.name;
        break;
      case 'case':
        if (target) target[0] = op.upper ? target[0].toUpperCase() : target[0].toLowerCase();
        break;
      case 'add':
        headers.push([op.name, op.value]);
        break;
      case 'garbage':
        lines.push(op.line);
        break;
      case 'fold':
        // An obsolete line folding continuation of a header (RFC 9112 5.2).
        if (target) target[1] = `${target[1]}\r\n ${op.value}`;
        break;
      case 'long':
        if (target) target[1] = `${target[1]}${'x'.repeat(op.size)}`;
        break;
      case 'many':
        for (let i = 0; i < op.count; i++) headers.push([`X-Filler-${i}`, String(i)]);
        break;
    }
  }
  let text = `${c.method} ${c.path} ${c.version}\r\n`;
  for (const [name, value] of headers) text += `${name}: ${value}\r\n`;
  for (const line of lines) text += `${line}\r\n`;
  text += c.terminator;
  return { bytes: Buffer.concat([Buffer.from(text, 'latin1'), c.trailing]), headers };
}

/**
 * What a WebSocket-only server may answer to any request (Node's own parser included): 403 for a
 * mutated Origin header, which the default `origins` refuses unless it is the server's own.
 */
const ALLOWED_STATUSES = new Set([101, 400, 403, 405, 426, 431]);

// ---- the tests ----------------------------------------------------------------------------------------

describe('fuzzing the frame layer', () => {
  it('random byte streams after a valid handshake: every connection ends, with a sendable close code if any', async () => {
    const server = await startFuzzServer();
    const stats = new Stats();
    const started = performance.now();
    await fuzzBatches(randomStreamCase, 0x6455_0001, RANDOM_BATCHES, async (c) => {
      await playFrames(server.port, c.bytes, c.cuts, c.afterHead, stats);
    });
    const ms = performance.now() - started;
    await expectServerHealthy(server);
    expect(stats.cases).toBe(RANDOM_BATCHES * CONCURRENCY);
    console.info(`[fuzz random streams] ${stats} in ${Math.round(ms)} ms`);
  });

  it('valid frame sequences are echoed exactly; mutated ones end the connection, with a sendable close code if any', async () => {
    const server = await startFuzzServer();
    const stats = new Stats();
    const validStats = new Stats();
    const started = performance.now();
    const caseArb = fc.oneof({ arbitrary: validCaseArb, weight: 1 }, { arbitrary: mutatedCaseArb, weight: 4 });
    await fuzzBatches(caseArb, 0x6455_0002, SEQUENCE_BATCHES, async (c) => {
      const bytes = bytesOf(c);
      const valid = c.frameOps.length + c.headerOps.length + c.byteOps.length === 0;
      const stream = await playFrames(server.port, bytes, c.cuts, c.afterHead, valid ? validStats : stats);
      if (!valid) return;
      // An unmutated sequence: the server echoes every message in order, answers every ping, and
      // answers the client's close with its code. Without a close frame the client's FIN may cut
      // the echo short: what came back must then be a prefix.
      const expected = specsOf(c.sequence);
      const echoes = stream.frames.filter((f) => f.opcode === OP.TEXT || f.opcode === OP.BINARY);
      const pongs = stream.frames.filter((f) => f.opcode === OP.PONG).map((f) => f.payload);
      const context = `sequence ${hex(bytes)}`;
      if (c.sequence.close !== null) {
        expect(echoes.length, context).toBe(expected.messages.length);
        expect(stream.closeCode, context).toBe(c.sequence.close.code ?? 1005);
      } else {
        expect(echoes.length, context).toBeLessThanOrEqual(expected.messages.length);
        expect(stream.closeCode, context).toBeNull();
      }
      echoes.forEach((echo, i) => {
        expect(echo.opcode, context).toBe(expected.messages[i]!.opcode);
        expect(echo.payload.equals(expected.messages[i]!.payload), context).toBe(true);
      });
      expect(pongs, context).toEqual(expected.pings);
      expect(stream.frames.some((f) => f.opcode === OP.PING), context).toBe(false);
    });
    const ms = performance.now() - started;
    await expectServerHealthy(server);
    expect(stats.cases + validStats.cases).toBe(SEQUENCE_BATCHES * CONCURRENCY);
    expect(validStats.cases).toBeGreaterThan(100);
    console.info(`[fuzz valid sequences] ${validStats}`);
    console.info(`[fuzz mutated sequences] ${stats} (${Math.round(ms)} ms for both)`);
  });
});

describe('fuzzing the HTTP handshake', () => {
  it('random and mutated upgrade requests get an HTTP status or a closed socket, never a hang', async () => {
    const server = await startFuzzServer();
    const stats = new Stats();
    const started = performance.now();
    await fuzzBatches(handshakeCaseArb, 0x6455_0003, HANDSHAKE_BATCHES, async (c) => {
      const { bytes, headers } = buildRequest(c);
      const describeCase = (): string => `request ${JSON.stringify(bytes.toString('latin1').slice(0, 600))}`;
      let result: Exchange;
      try {
        result = await exchange(server.port, Buffer.alloc(0), split(bytes, c.cuts), false);
      } catch (error) {
        throw new Error(`${(error as Error).message}; ${describeCase()}`);
      }
      try {
        if (result.received.length === 0) {
          stats.count(result.error === null ? 'closed without a response' : `closed (${result.error})`);
          return;
        }
        const response = parseResponseHead(result.received);
        if (response === null) throw new Error('incomplete response head');
        if (!ALLOWED_STATUSES.has(response.status)) throw new Error(`status ${response.status}`);
        // Node's own parser answers what it cannot parse (400, 431) with no body: tell them apart.
        const byNode = response.status !== 101 && response.headers['content-length'] === undefined;
        stats.count(`${response.status}${byNode ? ' (node)' : ''}`);
        if (response.status !== 101) return;
        // Accepted: it must have been a GET with exactly one key, answered correctly...
        const keys = headers.filter(([name]) => name.trim().toLowerCase() === 'sec-websocket-key');
        if (c.method !== 'GET' || keys.length !== 1 || !/^[A-Za-z0-9+/]{22}==$/.test(keys[0]![1].trim())) {
          throw new Error('101 for a request that is not a valid upgrade');
        }
        if (response.headers['sec-websocket-accept'] !== acceptFor(keys[0]![1].trim())) throw new Error('wrong accept');
        // ...and whatever followed the request was parsed as frames, with a well-formed answer.
        parseServerStream(response.rest);
      } catch (error) {
        throw new Error(
          `${(error as Error).message}; received ${JSON.stringify(result.received.toString('latin1').slice(0, 300))}; ${describeCase()}`,
        );
      }
    });
    const ms = performance.now() - started;
    await expectServerHealthy(server);
    expect(stats.cases).toBe(HANDSHAKE_BATCHES * CONCURRENCY);
    console.info(`[fuzz handshake] ${stats} in ${Math.round(ms)} ms`);
  });
});
