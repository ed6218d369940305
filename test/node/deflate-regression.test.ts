/**
 * Regression tests for the stall of issue 9 ("First, a bug found from outside"): with
 * permessage-deflate negotiated, after one message whose compressed frame was about
 * receiveHighWaterMark or more, the connection stopped for good. Reading paused while the
 * compressed bytes waited for inflation, and resuming was only considered when the application
 * took a QUEUED message, not when an inflated message went straight to a reader already waiting.
 *
 * Every case: one large message (random bytes, so the compressed frame is as large as the
 * message), its answer, then a short text and its answer, then a ping and its pong. Sizes around
 * receiveHighWaterMark (below, equal, just above, several times) and up to maxPayload, compressed
 * and not, with a server reader that is already waiting and one that starts reading only after the
 * large message has arrived; with the `ws` client (as the report did) and with the raw client
 * (exact frames, compressed by node:zlib here). Small limits keep it fast; one case uses the
 * defaults with a 2 MiB message, as in the report.
 */

import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerOptions, Ws } from '../../src/index.js';
import type { Inbox } from '../../src/node/inbox.js';
import { compressMessage } from '../../testkit/index.js';
import {
  OP,
  cleanup,
  clientFrame,
  deadline,
  deferred,
  rawConnect,
  serverFrame,
  startServer,
  wsConnect,
  type Deferred,
  type RawClient,
  type TestServer,
  type WsClient,
} from './helpers.js';

afterEach(cleanup);

const KiB = 1024;
const MiB = 1024 * KiB;
const MARK = 64 * KiB;
const MAX_PAYLOAD = 4 * MiB;
/** Bounds every wait: a stalled connection fails the test here, long before the test timeout. */
const WAIT = 10_000;

const LIMITS: ServerOptions = { receiveHighWaterMark: MARK, maxPayload: MAX_PAYLOAD, pingInterval: 0 };

const SIZES: readonly (readonly [string, number])[] = [
  ['half the mark', MARK / 2],
  ['just below the mark', MARK - 1],
  ['exactly the mark', MARK],
  ['just above the mark', MARK + 1],
  ['4x the mark', 4 * MARK],
  ['maxPayload', MAX_PAYLOAD],
];

type Reader = 'waiting' | 'late';
const READERS: readonly Reader[] = ['waiting', 'late'];

/**
 * Random bytes of `size`, so that deflate cannot shrink them. At maxPayload a compressed frame of
 * random bytes would be a little over maxPayload (1009), so there the last 64 KiB are zeros: the
 * message is exactly maxPayload, its compressed frame a little under.
 */
function payloadOf(size: number, compressed: boolean): Buffer {
  const data = randomBytes(size);
  if (compressed && size === MAX_PAYLOAD) data.fill(0, size - 64 * KiB);
  return data;
}

/** One message compressed from a fresh context, as RFC 7692 7.2.1 sends it (tail removed; testkit throws if it is missing). */
function deflateMessage(data: Buffer): Buffer {
  return compressMessage(data);
}

function digest(data: string | Buffer): string {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return `${typeof data === 'string' ? 'text' : 'binary'} ${bytes.length} ${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The server's inbox: the only way to see that a message arrived before anyone read it. */
function inboxOf(ws: Ws): Inbox {
  return (ws as unknown as { inbox: Inbox }).inbox;
}

interface Setup {
  readonly server: TestServer;
  /** Resolved by the test to let a late reader start. */
  readonly gate: Deferred<void>;
}

/**
 * A server whose handler answers each message through `answer`: at once (a reader waiting in
 * for-await before anything arrives), or only once the test opens the gate (a late reader).
 */
async function serverFor(
  reader: Reader,
  options: ServerOptions,
  answer: (ws: Ws, message: { type: string; data: string | Buffer }) => Promise<void>,
): Promise<Setup> {
  const gate = deferred();
  const server = await startServer({
    ...options,
    handler: async (ws: Ws) => {
      if (reader === 'late') await gate.promise;
      for await (const message of ws) await answer(ws, message);
    },
  });
  return { server, gate };
}

/** Polls once per event-loop turn until `condition` holds; fails after WAIT ms. */
async function poll(condition: () => boolean, what: string): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > WAIT) throw new Error(`timed out after ${WAIT} ms waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * For a late reader: waits until the message of `size` bytes is in the server's inbox, ready (at
 * its inflated size, which a random payload's compressed frame never has), and checks that reading
 * paused exactly when what arrived reached the mark (for a compressed message, its frame: it counts
 * until inflated; once inflated it stays paused unless at most half the mark is unread).
 */
async function awaitArrival(setup: Setup, size: number, frameSize: number, mark: number): Promise<void> {
  const ws = await deadline(setup.server.connections.next(), WAIT, 'the server connection');
  const inbox = inboxOf(ws);
  await poll(() => inbox.unread === size, `the ${size}-byte message to be in the inbox`);
  expect(inbox.isPaused).toBe(Math.max(size, frameSize) >= mark && size > mark / 2);
}

// ---- the ws client (as in the report) ----------------------------------------------------------

async function wsClientCase(compressed: boolean, size: number, reader: Reader, options: ServerOptions = LIMITS): Promise<void> {
  const setup = await serverFor(reader, { ...options, perMessageDeflate: true }, async (ws, message) => {
    await ws.send(message.data);
  });
  const client: WsClient = await wsConnect(setup.server.url, undefined, { perMessageDeflate: compressed, maxPayload: 0 });
  expect(client.ws.extensions).toBe(compressed ? 'permessage-deflate' : '');
  const pongs: Buffer[] = [];
  const pong = deferred<Buffer>();
  client.ws.on('pong', (data: Buffer) => {
    pongs.push(data);
    pong.resolve(data);
  });

  const big = payloadOf(size, compressed);
  client.ws.send(big, { binary: true });
  if (reader === 'late') {
    // The ws client's frame is the size of ours, within a few bytes (both zlib, level 6, memLevel 8).
    const frameSize = compressed ? deflateMessage(big).length : size;
    await awaitArrival(setup, size, frameSize, options.receiveHighWaterMark ?? MiB);
    setup.gate.resolve();
  }
  const echo = await deadline(client.messages.next(), WAIT, `the echo of the ${size}-byte message`);
  expect(echo.isBinary).toBe(true);
  expect(echo.data.length).toBe(size);
  expect(echo.data.equals(big)).toBe(true);

  client.ws.send('after');
  const after = await deadline(client.messages.next(), WAIT, 'the echo of the short text after it');
  expect([after.isBinary, after.data.toString('utf8')]).toEqual([false, 'after']);

  client.ws.ping(Buffer.from('still there?'));
  expect((await deadline(pong.promise, WAIT, 'the pong')).toString('utf8')).toBe('still there?');
  expect(pongs.length).toBe(1);
}

describe('after a large message the connection goes on (ws client)', () => {
  for (const compressed of [true, false]) {
    for (const reader of READERS) {
      for (const [name, size] of SIZES) {
        it(`${compressed ? 'compressed' : 'uncompressed'}, ${name} (${size} bytes), reader ${reader}`, async () => {
          await wsClientCase(compressed, size, reader);
        });
      }
    }
  }

  it('the report: defaults (1 MiB mark, 64 MiB maxPayload), compressed, a 2 MiB random binary, reader waiting', async () => {
    await wsClientCase(true, 2 * MiB, 'waiting', { pingInterval: 0 });
  });

  it('the report at the defaults, reader late', async () => {
    await wsClientCase(true, 2 * MiB, 'late', { pingInterval: 0 });
  });

  it('the report at the defaults, uncompressed, a 16 MiB random binary', async () => {
    await wsClientCase(false, 16 * MiB, 'waiting', { pingInterval: 0 });
  });
});

// ---- the raw client (exact frames) -------------------------------------------------------------

async function rawCase(compressed: boolean, size: number, reader: Reader): Promise<void> {
  // The server answers with a short digest of what it read: short, so never compressed (threshold
  // 1024), and its exact bytes are known.
  const setup = await serverFor(reader, { ...LIMITS, perMessageDeflate: true }, async (ws, message) => {
    await ws.send(digest(message.data));
  });
  const client: RawClient = await rawConnect(setup.server.port, {
    headers: compressed ? { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_no_context_takeover' } : {},
  });
  expect(client.response!.headers['sec-websocket-extensions']).toBe(
    compressed ? 'permessage-deflate; client_no_context_takeover' : undefined,
  );

  const big = payloadOf(size, compressed);
  const frame = compressed ? deflateMessage(big) : big;
  if (compressed) {
    // The frame on the wire is about as large as the message (zeros make the maxPayload one smaller).
    expect(frame.length).toBeLessThanOrEqual(MAX_PAYLOAD);
    expect(frame.length).toBeGreaterThanOrEqual(size === MAX_PAYLOAD ? size - 64 * KiB : size);
    client.sendFrame({ opcode: OP.BINARY, rsv1: true, payload: frame });
  } else {
    client.sendFrame({ opcode: OP.BINARY, payload: frame });
  }
  if (reader === 'late') {
    await awaitArrival(setup, size, frame.length, MARK);
    setup.gate.resolve();
  }
  const answer = await deadline(client.nextFrame(), WAIT, `the answer to the ${size}-byte message`);
  expect(answer.raw.toString('hex')).toBe(serverFrame(OP.TEXT, digest(big)).toString('hex'));

  const text = Buffer.from('after');
  if (compressed) client.sendFrame({ opcode: OP.TEXT, rsv1: true, payload: deflateMessage(text) });
  else client.sendFrame({ opcode: OP.TEXT, payload: text });
  const second = await deadline(client.nextFrame(), WAIT, 'the answer to the short text after it');
  expect(second.raw.toString('hex')).toBe(serverFrame(OP.TEXT, digest('after')).toString('hex'));

  client.sendFrame({ opcode: OP.PING, payload: Buffer.from('still there?') });
  const pong = await deadline(client.nextFrame(), WAIT, 'the pong');
  expect(pong.raw.toString('hex')).toBe(serverFrame(OP.PONG, 'still there?').toString('hex'));
}

describe('after a large message the connection goes on (raw client)', () => {
  for (const compressed of [true, false]) {
    for (const reader of READERS) {
      for (const [name, size] of SIZES) {
        it(`${compressed ? 'compressed' : 'uncompressed'}, ${name} (${size} bytes), reader ${reader}`, async () => {
          await rawCase(compressed, size, reader);
        });
      }
    }
  }

  it('several large compressed messages in a row, each over the mark, to a waiting reader', async () => {
    const setup = await serverFor('waiting', { ...LIMITS, perMessageDeflate: true }, async (ws, message) => {
      await ws.send(digest(message.data));
    });
    const client = await rawConnect(setup.server.port, {
      headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_no_context_takeover' },
    });
    const messages = [MARK, 3 * MARK, MARK + 1, 8 * MARK].map((size) => randomBytes(size));
    // All at once: the later ones arrive while the first is inflating, or while reading is paused.
    const frames = messages.map((data) => clientFrame({ opcode: OP.BINARY, rsv1: true, payload: deflateMessage(data) }));
    client.send(Buffer.concat(frames));
    for (const data of messages) {
      const answer = await deadline(client.nextFrame(), WAIT, `the answer to the ${data.length}-byte message`);
      expect(answer.raw.toString('hex')).toBe(serverFrame(OP.TEXT, digest(data)).toString('hex'));
    }
    client.sendFrame({ opcode: OP.PING, payload: Buffer.from('p') });
    const pong = await deadline(client.nextFrame(), WAIT, 'the pong');
    expect(pong.raw.toString('hex')).toBe(serverFrame(OP.PONG, 'p').toString('hex'));
    const ws = await setup.server.connections.next();
    expect([inboxOf(ws).isPaused, inboxOf(ws).unread]).toEqual([false, 0]);
  });
});
