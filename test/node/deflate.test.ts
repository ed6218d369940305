/**
 * permessage-deflate (RFC 7692) over real TCP on 127.0.0.1:
 *
 * - negotiation: the exact Sec-WebSocket-Extensions header of the 101, or its absence;
 * - compression both ways with the `ws` client in several configurations, against servers with
 *   threshold 0 and the default 1024, for messages of 0 bytes to 1 MiB;
 * - the wire bytes, with a raw client: RSV1 on the one frame of a compressed message only, never
 *   on control frames, no trailing 00 00 ff ff, context takeover kept or reset as agreed, the
 *   RFC 7692 7.2.3 examples both ways;
 * - the failures: RSV1 where it may not be (1002), invalid deflate data or UTF-8 (1007), a
 *   compression bomb (1009, and its memory measured in a child process);
 * - message order around asynchronous zlib, under load and up to close();
 * - the context memory budget, and interop with `ws`, shutdown with compressions pending.
 */

import { spawn } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { constants, inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ConnectionClosedError, connect, type DeflateOptions, type ServerOptions, type Ws } from '../../src/index.js';
import { deflateContextBytes, inflateContextBytes, type ZlibResources } from '../../src/node/zlib-resources.js';
import {
  AsyncQueue,
  MessageDeflater,
  MessageInflater,
  OP,
  cleanup,
  clientFrame,
  closePayload,
  deadline,
  defer,
  deferred,
  echoHandler,
  rawConnect,
  serverFrame,
  startServer,
  type Frame,
  type RawClient,
  type TestServer,
  type WsMessage,
} from './helpers.js';
import { DEFLATE_TAIL as TAIL, compressMessage, deflateBomb, inflateMessage } from '../../testkit/index.js';

afterEach(cleanup);

const KiB = 1024;
const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');

// ---- content -------------------------------------------------------------------------------------

function prng(seed: number): () => number {
  let x = (seed * 2654435761 + 1) >>> 0;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 8;
  };
}

// Multi-byte characters of every length, so inflated text is split inside characters somewhere.
const WORDS = ['lorem ', 'ipsum ', 'dolor ', 'sit ', 'amet ', 'été ', '€uro ', 'naïve ', '𝄞 ', 'données ', 'κόσμε '];

/** Compressible, valid UTF-8 text of exactly `bytes` bytes. */
function textOfBytes(bytes: number, seed: number): string {
  const next = prng(seed);
  const parts: string[] = [];
  let size = 0;
  for (;;) {
    const word = WORDS[next() % WORDS.length]!;
    const length = Buffer.byteLength(word);
    if (size + length > bytes) break;
    parts.push(word);
    size += length;
  }
  return parts.join('') + 'x'.repeat(bytes - size);
}

/** Compressible binary (2 bits of entropy a byte) of exactly `bytes` bytes. */
function binaryOfBytes(bytes: number, seed: number): Buffer {
  const next = prng(seed);
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = 0x40 + (next() & 3);
  return out;
}

/** Incompressible bytes. */
function noise(bytes: number, seed: number): Buffer {
  const next = prng(seed);
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = next() & 255;
  return out;
}

const asBytes = (data: string | Buffer): Buffer => (typeof data === 'string' ? Buffer.from(data, 'utf8') : data);

/** Byte equality without vitest's element-by-element diff (slow on megabytes). */
function expectBytes(actual: Buffer, expected: Buffer): void {
  if (actual.equals(expected)) return;
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  throw new Error(`bytes differ: ${actual.length} vs ${expected.length} bytes, first difference at ${at}`);
}

// ---- deflate on the test's side --------------------------------------------------------------------

// testkit's (RFC 7692 7.2.1 and 7.2.2: it strips the 00 00 ff ff tail, and throws if a flush did
// not end with it); MessageInflater and MessageDeflater (helpers.ts) keep their window.

/** One message compressed from a fresh context, as RFC 7692 7.2.1 sends it (tail removed). */
function deflateMessage(data: string | Buffer): Buffer {
  return compressMessage(data);
}

/** A compression bomb: `mib` MiB of zeros in about 1 KiB a MiB (DEFLATE's limit is ~1032:1). */
const bomb = deflateBomb;

// ---- connections ---------------------------------------------------------------------------------

/** A raw client offering `offer`; resolves with it and the 101's Sec-WebSocket-Extensions. */
async function rawOffer(port: number, offer: string | undefined): Promise<{ client: RawClient; extensions: string | undefined }> {
  const client = await rawConnect(port, { headers: { 'Sec-WebSocket-Extensions': offer } });
  return { client, extensions: client.response!.headers['sec-websocket-extensions'] };
}

/** A raw client that offers `offer` and expects exactly `response` back. */
async function rawDeflate(port: number, offer = 'permessage-deflate', response = 'permessage-deflate'): Promise<RawClient> {
  const { client, extensions } = await rawOffer(port, offer);
  expect(extensions).toBe(response);
  return client;
}

interface DeflateWsClient {
  readonly ws: WebSocket;
  readonly messages: AsyncQueue<WsMessage>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The Sec-WebSocket-Extensions header of the 101 the client received. */
  readonly extensions: string | undefined;
}

/** The `ws` client with permessage-deflate on; terminated after the test. */
async function wsDeflate(url: string, deflate: WebSocket.PerMessageDeflateOptions | boolean = true): Promise<DeflateWsClient> {
  const ws = new WebSocket(url, { perMessageDeflate: deflate });
  defer(() => ws.terminate());
  const messages = new AsyncQueue<WsMessage>();
  let extensions: string | undefined;
  ws.once('upgrade', (response: IncomingMessage) => {
    extensions = response.headers['sec-websocket-extensions'];
  });
  ws.on('message', (data, isBinary) => messages.push({ data: data as Buffer, isBinary }));
  ws.on('error', () => {
    // 'close' follows.
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => {
      messages.end(new Error(`closed with ${code}`));
      resolve({ code, reason: reason.toString('utf8') });
    });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, messages, closed, extensions };
}

/** Echo without awaiting each send: the order is the library's to keep, not the handler's. */
async function eagerEcho(ws: Ws): Promise<void> {
  for await (const message of ws) void ws.send(message.data);
}

function deflateServer(deflate: boolean | DeflateOptions, options: ServerOptions = {}): Promise<TestServer> {
  return startServer({ pingInterval: 0, handler: echoHandler, ...options, perMessageDeflate: deflate });
}

/** A data message read frame by frame until FIN (control frames in between are returned too). */
interface RawMessage {
  readonly opcode: number;
  readonly rsv1: boolean;
  readonly frames: Frame[];
  readonly payload: Buffer;
}

async function readMessage(client: RawClient, what = 'a message'): Promise<RawMessage> {
  const frames: Frame[] = [];
  for (;;) {
    const frame = await deadline(client.nextFrame(), 10_000, what);
    frames.push(frame);
    if (frame.opcode >= 0x8) throw new Error(`expected a data frame, got opcode ${frame.opcode}`);
    if (frame.fin) break;
  }
  return {
    opcode: frames[0]!.opcode,
    rsv1: (frames[0]!.rsv & 0b100) !== 0,
    frames,
    payload: Buffer.concat(frames.map((frame) => frame.payload)),
  };
}

/** Expects the next frame to be exactly this close frame, then the end of TCP. */
async function expectClose(client: RawClient, code: number, reason: string): Promise<void> {
  const frame = await deadline(client.nextFrame(), 5000, `the close frame ${code}`);
  expect(frame.raw.toString('hex')).toBe(serverFrame(OP.CLOSE, closePayload(code, reason)).toString('hex'));
  await deadline(client.ended, 5000, 'the end of TCP');
}

function sendCompressed(client: RawClient, opcode: number, payload: Buffer): void {
  client.sendFrame({ opcode, rsv1: true, payload });
}

// ================================================================================================

describe('negotiation over the wire: the 101 Sec-WebSocket-Extensions header', () => {
  it('a plain offer gets a plain "permessage-deflate"', async () => {
    const { port, connections } = await deflateServer(true);
    expect((await rawOffer(port, 'permessage-deflate')).extensions).toBe('permessage-deflate');
    expect((await connections.next()).deflateAgreement !== null).toBe(true);
  });

  it('the first acceptable offer wins; declined ones (leading zero, unknown parameter) are skipped', async () => {
    const { port } = await deflateServer(true);
    expect(
      (await rawOffer(port, 'permessage-deflate; server_max_window_bits=08, permessage-deflate; foo, permessage-deflate; client_no_context_takeover, permessage-deflate'))
        .extensions,
    ).toBe('permessage-deflate; client_no_context_takeover');
  });

  it('no acceptable offer: no header, and the handshake still succeeds (101)', async () => {
    const { port, connections } = await deflateServer(true);
    const { client, extensions } = await rawOffer(
      port,
      'permessage-deflate; server_max_window_bits=16, permessage-deflate; server_no_context_takeover=1, permessage-deflate; client_max_window_bits=7',
    );
    expect(client.response!.status).toBe(101);
    expect(extensions).toBeUndefined();
    expect(Object.keys(client.response!.headers)).not.toContain('sec-websocket-extensions');
    expect((await connections.next()).deflateAgreement !== null).toBe(false);
    // And the connection works, uncompressed.
    client.sendFrame({ opcode: OP.TEXT, payload: Buffer.from('plain') });
    expect((await deadline(client.nextFrame(), 5000, 'the echo')).raw).toEqual(serverFrame(OP.TEXT, 'plain'));
  });

  it('no Sec-WebSocket-Extensions in the request: none in the response', async () => {
    const { port } = await deflateServer(true);
    expect((await rawOffer(port, undefined)).extensions).toBeUndefined();
  });

  it('server_no_context_takeover offered: echoed', async () => {
    const { port } = await deflateServer(true);
    expect((await rawOffer(port, 'permessage-deflate; server_no_context_takeover')).extensions).toBe(
      'permessage-deflate; server_no_context_takeover',
    );
  });

  it('client_no_context_takeover offered: included', async () => {
    const { port } = await deflateServer(true);
    expect((await rawOffer(port, 'permessage-deflate; client_no_context_takeover')).extensions).toBe(
      'permessage-deflate; client_no_context_takeover',
    );
  });

  it('server_max_window_bits=10 offered: server_max_window_bits=10; with our serverMaxWindowBits 9: 9', async () => {
    const plain = await deflateServer(true);
    expect((await rawOffer(plain.port, 'permessage-deflate; server_max_window_bits=10')).extensions).toBe(
      'permessage-deflate; server_max_window_bits=10',
    );
    const nine = await deflateServer({ serverMaxWindowBits: 9 });
    expect((await rawOffer(nine.port, 'permessage-deflate; server_max_window_bits=10')).extensions).toBe(
      'permessage-deflate; server_max_window_bits=9',
    );
  });

  it('client_max_window_bits without a value and our clientMaxWindowBits 10: client_max_window_bits=10', async () => {
    const { port } = await deflateServer({ clientMaxWindowBits: 10 });
    expect((await rawOffer(port, 'permessage-deflate; client_max_window_bits')).extensions).toBe(
      'permessage-deflate; client_max_window_bits=10',
    );
  });

  it('client_max_window_bits not offered: never in the response, even with our clientMaxWindowBits 10', async () => {
    const { port } = await deflateServer({ clientMaxWindowBits: 10 });
    expect((await rawOffer(port, 'permessage-deflate')).extensions).toBe('permessage-deflate');
  });

  it('quoted values and any case are accepted; the response is lower-case and unquoted', async () => {
    const { port } = await deflateServer(true);
    expect((await rawOffer(port, 'PerMessage-Deflate; Server_Max_Window_Bits="10"')).extensions).toBe(
      'permessage-deflate; server_max_window_bits=10',
    );
  });

  it('other extensions are ignored', async () => {
    const { port } = await deflateServer(true);
    expect((await rawOffer(port, 'x-webkit-deflate-frame, foo; bar=1, permessage-deflate; server_no_context_takeover, baz')).extensions).toBe(
      'permessage-deflate; server_no_context_takeover',
    );
    expect((await rawOffer(port, 'x-webkit-deflate-frame, foo')).extensions).toBeUndefined();
  });

  it('offers in several header lines are read as one list', async () => {
    const { port } = await deflateServer(true);
    const client = await rawConnect(port, {
      headers: {
        'Sec-WebSocket-Extensions': 'x-webkit-deflate-frame',
        'sec-websocket-extensions': 'permessage-deflate; client_no_context_takeover',
      },
    });
    expect(client.response!.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_no_context_takeover');
  });

  it.each([
    ['perMessageDeflate not set', undefined],
    ['perMessageDeflate: false', false],
  ])('%s: never negotiated, and RSV1 is a protocol error', async (_what, option) => {
    const { port } = await startServer({ pingInterval: 0, handler: echoHandler, perMessageDeflate: option });
    const { client, extensions } = await rawOffer(port, 'permessage-deflate, permessage-deflate; client_max_window_bits');
    expect(extensions).toBeUndefined();
    sendCompressed(client, OP.TEXT, deflateMessage('Hello'));
    await expectClose(client, 1002, 'RSV1 set with no extension');
  });
});

// ================================================================================================

describe('compression with the ws client: every size comes back intact', () => {
  const SIZES = [0, 1, 100, 1023, 1024, 70_000, MiB];
  let corpus: Array<{ text: boolean; data: string | Buffer }> | undefined;
  const messages = (): Array<{ text: boolean; data: string | Buffer }> =>
    (corpus ??= SIZES.flatMap((size, i) => [
      { text: true, data: textOfBytes(size, i) },
      { text: false, data: binaryOfBytes(size, i) },
    ]));

  const CLIENTS: Array<[string, WebSocket.PerMessageDeflateOptions, string]> = [
    ['default', {}, 'permessage-deflate'],
    ['clientNoContextTakeover', { clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover'],
    ['serverNoContextTakeover', { serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover'],
    ['serverMaxWindowBits 9', { serverMaxWindowBits: 9 }, 'permessage-deflate; server_max_window_bits=9'],
    ['threshold 0', { threshold: 0 }, 'permessage-deflate'],
    ['serverMaxWindowBits 8', { serverMaxWindowBits: 8 }, 'permessage-deflate; server_max_window_bits=8'],
    ['clientMaxWindowBits 8', { clientMaxWindowBits: 8 }, 'permessage-deflate; client_max_window_bits=8'],
  ];
  const SERVERS: Array<[string, DeflateOptions]> = [
    ['threshold 0', { threshold: 0 }],
    ['default threshold (1024)', {}],
  ];
  const cases = SERVERS.flatMap(([serverName, server]) =>
    CLIENTS.map(([clientName, client, response]) => [clientName, serverName, client, server, response] as const),
  );

  it.each(cases)('ws client %s, server %s: text and binary of 0 B to 1 MiB echo intact', async (_c, _s, clientOptions, serverOptions, response) => {
    let serverSocket: Socket | undefined;
    const server = await deflateServer(serverOptions, {
      handler: (ws, request) => {
        serverSocket = request.socket as Socket;
        return echoHandler(ws);
      },
    });
    const client = await wsDeflate(server.url, clientOptions);
    expect(client.extensions).toBe(response);
    const all = messages();
    for (const message of all) client.ws.send(message.data);
    let total = 0;
    for (const [i, message] of all.entries()) {
      const echo = await deadline(client.messages.next(), 10_000, `echo ${i}`);
      expect(echo.isBinary).toBe(!message.text);
      expect(echo.data.equals(asBytes(message.data))).toBe(true);
      total += echo.data.length;
    }
    // Both directions were really compressed: the 1 MiB and 70000-byte messages, at least.
    expect(serverSocket!.bytesWritten).toBeLessThan(total * 0.5);
    expect(serverSocket!.bytesRead).toBeLessThan(total * 0.5);
  });
});

// ================================================================================================

describe('the wire bytes of compressed messages (raw client)', () => {
  it('"Hello" is sent as RFC 7692 7.2.3.1 shows, then 7.2.3.2 with the window kept', async () => {
    const { port } = await deflateServer({ threshold: 0 }, {
      handler: async (ws) => {
        await ws.send('Hello');
        await ws.send('Hello');
        await ws.send(Buffer.from('Hello'));
      },
    });
    const client = await rawDeflate(port);
    // One frame each: FIN, RSV1, text; the payload without its 00 00 ff ff.
    expect((await client.nextFrame()).raw).toEqual(hex('c1 07 f2 48 cd c9 c9 07 00'));
    expect((await client.nextFrame()).raw).toEqual(hex('c1 05 f2 00 11 00 00'));
    // Binary the same way (its bytes depend on where the previous message left the bit stream).
    const binary = await client.nextFrame();
    expect([binary.fin, binary.rsv, binary.opcode]).toEqual([true, 0b100, OP.BINARY]);
    const inflater = new MessageInflater();
    expect((await inflater.inflate(hex('f2 48 cd c9 c9 07 00'))).toString()).toBe('Hello');
    expect((await inflater.inflate(hex('f2 00 11 00 00'))).toString()).toBe('Hello');
    expect((await inflater.inflate(binary.payload)).toString()).toBe('Hello');
  });

  it('server_no_context_takeover agreed: the same message compresses to the same bytes each time', async () => {
    const { port } = await deflateServer({ threshold: 0 }, {
      handler: async (ws) => {
        await ws.send('Hello');
        await ws.send('Hello');
      },
    });
    const client = await rawDeflate(port, 'permessage-deflate; server_no_context_takeover', 'permessage-deflate; server_no_context_takeover');
    expect((await client.nextFrame()).raw).toEqual(hex('c1 07 f2 48 cd c9 c9 07 00'));
    expect((await client.nextFrame()).raw).toEqual(hex('c1 07 f2 48 cd c9 c9 07 00'));
  });

  it('an empty message with threshold 0 is the single byte 00 (RFC 7692 7.2.3.6)', async () => {
    const { port } = await deflateServer({ threshold: 0 }, { handler: (ws) => ws.send('') });
    const client = await rawDeflate(port);
    expect((await client.nextFrame()).raw).toEqual(hex('c1 01 00'));
  });

  it('level 0 sends a stored block (RFC 7692 7.2.3.3)', async () => {
    const { port } = await deflateServer({ threshold: 0, level: 0 }, { handler: (ws) => ws.send('Hello') });
    const client = await rawDeflate(port);
    expect((await client.nextFrame()).raw).toEqual(hex('c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00'));
  });

  it('context takeover kept: a second identical 4 KiB message compresses much smaller, and inflates right', async () => {
    const data = textOfBytes(4 * KiB, 1);
    const { port } = await deflateServer(true, {
      handler: async (ws) => {
        await ws.send(data);
        await ws.send(data);
      },
    });
    const client = await rawDeflate(port);
    const inflater = new MessageInflater();
    const first = await readMessage(client);
    const second = await readMessage(client);
    for (const message of [first, second]) {
      expect([message.opcode, message.rsv1, message.frames.length]).toEqual([OP.TEXT, true, 1]);
      expect((await inflater.inflate(message.payload)).toString('utf8')).toBe(data);
    }
    expect(first.payload.length).toBeGreaterThan(200);
    expect(second.payload.length).toBeLessThan(first.payload.length / 10);
  });

  it.each([
    ['offered by the client', 'permessage-deflate; server_no_context_takeover', {}],
    ['configured on the server', 'permessage-deflate', { serverNoContextTakeover: true }],
  ])('context reset (server_no_context_takeover %s): identical messages, identical bytes', async (_what, offer, options) => {
    const data = textOfBytes(4 * KiB, 2);
    const { port } = await deflateServer(options, {
      handler: async (ws) => {
        await ws.send(data);
        await ws.send(data);
      },
    });
    const client = await rawDeflate(port, offer, 'permessage-deflate; server_no_context_takeover');
    const first = await readMessage(client);
    const second = await readMessage(client);
    expect(first.rsv1 && second.rsv1).toBe(true);
    expect(second.frames[0]!.raw).toEqual(first.frames[0]!.raw);
    // Each inflates on its own, from a fresh context.
    expect(inflateMessage(first.payload).toString('utf8')).toBe(data);
    expect(inflateMessage(second.payload).toString('utf8')).toBe(data);
  });

  it('threshold: 1023 bytes go uncompressed (RSV1 clear, exact frame), 1024 compressed', async () => {
    const small = textOfBytes(1023, 3);
    const large = textOfBytes(1024, 4);
    const smallBinary = binaryOfBytes(1023, 5);
    const { port } = await deflateServer(true, {
      handler: async (ws) => {
        await ws.send(small);
        await ws.send(large);
        await ws.send(smallBinary);
      },
    });
    const client = await rawDeflate(port);
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, small));
    const compressed = await client.nextFrame();
    expect([compressed.fin, compressed.rsv, compressed.opcode]).toEqual([true, 0b100, OP.TEXT]);
    expect(inflateMessage(compressed.payload).toString('utf8')).toBe(large);
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.BINARY, smallBinary));
  });

  it('compressed messages: one frame with RSV1, the payload never ends with 00 00 ff ff, and inflates to the original', async () => {
    const originals: Buffer[] = [];
    for (const [i, size] of [1, 2, 100, 1000, 5000, 70_000, MiB].entries()) {
      originals.push(binaryOfBytes(size, i), noise(size, i));
    }
    const { port } = await deflateServer({ threshold: 0, serverNoContextTakeover: true }, {
      handler: async (ws) => {
        for (const data of originals) await ws.send(data);
      },
    });
    const client = await rawDeflate(port, 'permessage-deflate', 'permessage-deflate; server_no_context_takeover');
    for (const original of originals) {
      const frame = await deadline(client.nextFrame(), 5000, 'a compressed frame');
      expect([frame.fin, frame.rsv, frame.opcode]).toEqual([true, 0b100, OP.BINARY]);
      expect(frame.payload.subarray(-4).equals(TAIL)).toBe(false);
      expectBytes(zlibInflateCheck(frame.payload), original);
    }
  });

  it('control frames never have RSV1 (ping, pong, close), even with threshold 0', async () => {
    const { port } = await deflateServer({ threshold: 0 }, {
      handler: async (ws) => {
        await ws.ping('ping payload');
        for await (const message of ws) await ws.send(message.data);
      },
    });
    const client = await rawDeflate(port);
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.PING, 'ping payload'));
    client.sendFrame({ opcode: OP.PING, payload: Buffer.from('abc') });
    expect((await client.nextFrame()).raw).toEqual(hex('8a 03 61 62 63'));
    client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000) });
    expect((await client.nextFrame()).raw).toEqual(hex('88 02 03 e8'));
  });
});

/** The brief's check: zlib.inflateRawSync(payload + 00 00 ff ff) gives the original. */
function zlibInflateCheck(payload: Buffer): Buffer {
  return inflateRawSync(Buffer.concat([payload, hex('0000ffff')]), { finishFlush: constants.Z_SYNC_FLUSH });
}

// ================================================================================================

describe('receiving compressed messages (raw client)', () => {
  it('decodes the RFC 7692 7.2.3 examples, in one context', async () => {
    const { port } = await deflateServer(true); // threshold 1024: the echoes are uncompressed
    const client = await rawDeflate(port);
    const examples = [
      'f2 48 cd c9 c9 07 00', // 7.2.3.1
      'f2 00 11 00 00', // 7.2.3.2: a back-reference into the previous message
      '00 05 00 fa ff 48 65 6c 6c 6f 00', // 7.2.3.3: no compression
      'f2 48 05 00 00 00 ff ff ca c9 c9 07 00', // 7.2.3.5: two DEFLATE blocks in one message
    ];
    for (const example of examples) sendCompressed(client, OP.TEXT, hex(example));
    for (let i = 0; i < examples.length; i++) {
      expect((await client.nextFrame()).raw).toEqual(hex('81 05 48 65 6c 6c 6f'));
    }
    sendCompressed(client, OP.BINARY, hex('00'));
    expect((await client.nextFrame()).raw).toEqual(hex('82 00'));
  });

  it('a BFINAL block (RFC 7692 7.2.3.4) is decoded, and so are the messages after it', async () => {
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port);
    sendCompressed(client, OP.TEXT, hex('f3 48 cd c9 c9 07 00 00'));
    expect((await client.nextFrame()).raw).toEqual(hex('81 05 48 65 6c 6c 6f'));
    // The sender's DEFLATE stream ended with BFINAL: its next message is a new stream.
    sendCompressed(client, OP.TEXT, hex('f2 48 cd c9 c9 07 00'));
    const next = await client.nextFrame();
    expect(next.raw.toString('hex')).toBe(hex('81 05 48 65 6c 6c 6f').toString('hex'));
  });

  it('a BFINAL block with client_no_context_takeover (pooled, reset contexts): it and the next message decode', async () => {
    const { port } = await deflateServer(true);
    const offer = 'permessage-deflate; client_no_context_takeover';
    const client = await rawDeflate(port, offer, offer);
    sendCompressed(client, OP.TEXT, hex('f3 48 cd c9 c9 07 00 00'));
    sendCompressed(client, OP.TEXT, hex('f2 48 cd c9 c9 07 00'));
    expect((await client.nextFrame()).raw).toEqual(hex('81 05 48 65 6c 6c 6f'));
    expect((await client.nextFrame()).raw).toEqual(hex('81 05 48 65 6c 6c 6f'));
  });

  it('a BFINAL message on one connection does not break another connection that borrows the pooled inflater', async () => {
    const { port } = await deflateServer(true);
    const offer = 'permessage-deflate; client_no_context_takeover';
    const a = await rawDeflate(port, offer, offer);
    sendCompressed(a, OP.TEXT, hex('f3 48 cd c9 c9 07 00 00'));
    expect((await a.nextFrame()).raw).toEqual(hex('81 05 48 65 6c 6c 6f'));
    // Another client, innocent, with a valid message.
    const b = await rawDeflate(port, offer, offer);
    sendCompressed(b, OP.TEXT, hex('f2 48 cd c9 c9 07 00'));
    expect((await b.nextFrame()).raw.toString('hex')).toBe(hex('81 05 48 65 6c 6c 6f').toString('hex'));
  });

  it('client context takeover: a stream of messages from one deflater is decoded in order', async () => {
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port);
    const deflater = new MessageDeflater();
    const data = Array.from({ length: 10 }, (_, i) => textOfBytes(200 + (i % 3) * 50, i % 3));
    for (const text of data) sendCompressed(client, OP.TEXT, await deflater.deflate(text));
    for (const text of data) expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, text));
  });

  it('a compressed message in 3 frames (RSV1 on the first only, a ping in between) is echoed', async () => {
    const data = textOfBytes(3000, 6);
    const payload = deflateMessage(data);
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port);
    const cut1 = Math.floor(payload.length / 3);
    const cut2 = Math.floor((2 * payload.length) / 3);
    client.sendFrame({ opcode: OP.TEXT, rsv1: true, fin: false, payload: payload.subarray(0, cut1) });
    client.sendFrame({ opcode: OP.PING, payload: Buffer.from('p') });
    client.sendFrame({ opcode: OP.CONT, fin: false, payload: payload.subarray(cut1, cut2) });
    client.sendFrame({ opcode: OP.CONT, fin: true, payload: payload.subarray(cut2) });
    expect((await client.nextFrame()).raw).toEqual(hex('8a 01 70'));
    const echo = await readMessage(client);
    expect([echo.opcode, echo.rsv1, echo.frames.length]).toEqual([OP.TEXT, true, 1]);
    expect(inflateMessage(echo.payload).toString('utf8')).toBe(data);
  });

  it('RSV1 on a continuation frame: 1002', async () => {
    const payload = deflateMessage('Hello, fragmented world');
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port);
    client.sendFrame({ opcode: OP.TEXT, rsv1: true, fin: false, payload: payload.subarray(0, 5) });
    client.sendFrame({ opcode: OP.CONT, rsv1: true, fin: true, payload: payload.subarray(5) });
    await expectClose(client, 1002, 'RSV1 set on a continuation frame');
  });

  it('RSV1 on a continuation of an uncompressed message: 1002', async () => {
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port);
    client.sendFrame({ opcode: OP.BINARY, fin: false, payload: Buffer.from('ab') });
    client.sendFrame({ opcode: OP.CONT, rsv1: true, fin: true, payload: Buffer.from('cd') });
    await expectClose(client, 1002, 'RSV1 set on a continuation frame');
  });

  it.each([
    ['ping', OP.PING],
    ['pong', OP.PONG],
    ['close', OP.CLOSE],
  ])('RSV1 on a control frame (%s): 1002', async (_what, opcode) => {
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port);
    client.sendFrame({ opcode, rsv1: true, payload: opcode === OP.CLOSE ? closePayload(1000) : Buffer.from('x') });
    await expectClose(client, 1002, 'RSV1 set on a control frame');
  });

  it('RSV1 when the client offered nothing (deflate enabled on the server): 1002', async () => {
    const { port } = await deflateServer(true);
    const { client, extensions } = await rawOffer(port, undefined);
    expect(extensions).toBeUndefined();
    sendCompressed(client, OP.BINARY, deflateMessage('Hello'));
    await expectClose(client, 1002, 'RSV1 set with no extension');
  });

  it('invalid deflate data with RSV1: 1007, after the echo of the valid message before it', async () => {
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port);
    sendCompressed(client, OP.TEXT, deflateMessage('before'));
    // BFINAL=1, BTYPE=11: a reserved block type.
    sendCompressed(client, OP.BINARY, hex('ff ff ff ff'));
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'before'));
    await expectClose(client, 1007, 'invalid compressed data');
  });

  it('invalid deflate data on a pooled context (client_no_context_takeover): 1007', async () => {
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port, 'permessage-deflate; client_no_context_takeover', 'permessage-deflate; client_no_context_takeover');
    sendCompressed(client, OP.TEXT, hex('f2 00 11 00 00')); // a back-reference into nothing
    await expectClose(client, 1007, 'invalid compressed data');
  });

  it('compressed text that inflates to invalid UTF-8: 1007 (the same bytes as binary are fine)', async () => {
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port);
    const bad = Buffer.concat([Buffer.from('valid prefix '), Buffer.from([0xc3, 0x28])]);
    sendCompressed(client, OP.BINARY, deflateMessage(bad));
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.BINARY, bad));
    sendCompressed(client, OP.TEXT, deflateMessage(bad));
    await expectClose(client, 1007, 'text is not valid UTF-8');
  });

  it('compressed text that ends inside a character: 1007', async () => {
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port);
    sendCompressed(client, OP.TEXT, deflateMessage(Buffer.from([0x61, 0xe2, 0x82])));
    await expectClose(client, 1007, 'text is not valid UTF-8');
  });

  it('invalid UTF-8 early in a large text stops inflation there (1007, not 1009)', async () => {
    // 8 MiB once inflated, with maxPayload 1 MiB: the UTF-8 error comes first, in the first chunk.
    const { port } = await deflateServer(true, { maxPayload: MiB });
    const client = await rawDeflate(port);
    const data = Buffer.concat([Buffer.from([0xff]), Buffer.alloc(8 * MiB, 0x61)]);
    sendCompressed(client, OP.TEXT, deflateMessage(data));
    await expectClose(client, 1007, 'text is not valid UTF-8');
  });
});

// ================================================================================================

describe('compression bomb', () => {
  it('256 MiB in 259 KiB, to a server with maxPayload 1 MiB: close 1009, nothing delivered', async () => {
    // The bomb is what it claims: 4 copies of its unit inflate to 4 MiB of zeros.
    const sample = inflateMessage(bomb(4));
    expect(sample.length).toBe(4 * MiB);
    expect(sample.every((byte) => byte === 0)).toBe(true);
    const payload = bomb(256);
    expect(payload.length).toBeLessThan(300 * KiB); // far below maxPayload on the wire
    let delivered = 0;
    const { port } = await deflateServer(true, {
      maxPayload: MiB,
      handler: async (ws) => {
        for await (const _message of ws) delivered++;
      },
    });
    const client = await rawDeflate(port);
    sendCompressed(client, OP.BINARY, payload);
    await expectClose(client, 1009, 'inflated message exceeds maxPayload (1048576 bytes)');
    expect(delivered).toBe(0);
  });

  it('maxPayload is exact for inflated size: maxPayload bytes pass, one more is 1009', async () => {
    const LIMIT = 100_000;
    const { port } = await deflateServer(true, { maxPayload: LIMIT });
    const client = await rawDeflate(port);
    const exact = binaryOfBytes(LIMIT, 7);
    sendCompressed(client, OP.BINARY, deflateMessage(exact));
    const echo = await readMessage(client);
    expect(echo.rsv1).toBe(true);
    expectBytes(inflateMessage(echo.payload), exact);
    sendCompressed(client, OP.BINARY, deflateMessage(binaryOfBytes(LIMIT + 1, 8)));
    await expectClose(client, 1009, `inflated message exceeds maxPayload (${LIMIT} bytes)`);
  });

  interface BombReport {
    maxPayload: number;
    count: number;
    inflatedBytes: number;
    compressedBytes: number;
    baselineRss: number;
    growth: number;
    sampledGrowth: number;
    closeFrameHex: string | null;
    messages: number;
    delivered: number;
    /** Bytes zlib's inflate streams produced in all. */
    inflatedByZlib: number;
    /** noread: the server got every message and was inflating none when RSS was last sampled. */
    idle: boolean;
    /** For information (printed): how long the server took, on this machine. */
    handleMs: number | null;
  }

  async function runBombFixture(maxPayload: number, inflatedMiB: number, extra: string[] = []): Promise<BombReport> {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['NODE_OPTIONS'];
    const child = spawn(
      process.execPath,
      ['--import', 'tsx/esm', '--expose-gc', 'test/fixtures/inflate-bomb.ts', String(maxPayload), String(inflatedMiB), ...extra],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    defer(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal })),
    );
    if (code !== 0) throw new Error(`the fixture exited with code ${code}, signal ${signal}; stderr:\n${err}`);
    return JSON.parse(out.trim().split('\n').at(-1) ?? '') as BombReport;
  }

  it('handling the 256 MiB bomb costs the server at most maxPayload + 8 MiB of RSS, and zlib inflates about maxPayload of it (child process)', async () => {
    const report = await runBombFixture(MiB, 256);
    expect(report.compressedBytes).toBeLessThan(300 * KiB);
    expect(report.closeFrameHex).toBe(
      serverFrame(OP.CLOSE, closePayload(1009, 'inflated message exceeds maxPayload (1048576 bytes)')).toString('hex'),
    );
    expect(report.messages).toBe(0);
    // The constant: V8's young generation grows its semi-spaces (up to 16 MiB) while the 16 KiB
    // chunks and their events are allocated, and a few MiB of it get touched (measured: up to
    // ~3.3 MiB over maxPayload; ~0.6 MiB with --max-semi-space-size=1); plus the 259 KiB frame
    // the parser holds, zlib's inflate state (~40 KiB) and socket buffers. Without the limit the
    // growth is twice the inflated size (the chunks, then their concatenation): ~530 MiB here.
    expect(report.growth).toBeLessThan(MiB + 8 * MiB);
    // The work, counted rather than timed: inflation stops at the first 16 KiB chunk past
    // maxPayload, of the 256 MiB the bomb holds.
    expect(report.inflatedByZlib).toBeGreaterThan(MiB);
    expect(report.inflatedByZlib).toBeLessThanOrEqual(MiB + 64 * KiB);
    console.info(`[bomb] inflated ${report.inflatedByZlib} bytes of 256 MiB; closed after ${Math.round(report.handleMs ?? -1)} ms`);
  });

  it('control: without a limit, a 32 MiB bomb makes RSS grow by at least the inflated size (child process)', async () => {
    // Proves the measurement above can see inflation at all.
    const report = await runBombFixture(2 ** 31 - 1, 32);
    expect(report.delivered).toBe(32 * MiB);
    expect(report.closeFrameHex).toBeNull();
    expect(report.inflatedByZlib).toBe(32 * MiB);
    expect(report.growth).toBeGreaterThan(32 * MiB);
  });

  it('32 messages of 4 MiB each (130 KiB compressed in all) to a handler that never reads: RSS stays near receiveHighWaterMark + maxPayload (child process)', async () => {
    // Each message is within maxPayload (4 MiB). Together they are 13% of receiveHighWaterMark
    // (1 MiB) on the wire, so the server reads them all; what it must not do is inflate them all
    // for an application that reads nothing: that is 128 MiB queued from 130 KiB.
    const report = await runBombFixture(4 * MiB, 4, ['32', 'noread']);
    expect(report.compressedBytes * 32).toBeLessThan(200 * KiB);
    expect(report.closeFrameHex).toBeNull();
    // Measured once the server was idle: every message in, none being inflated.
    expect(report.idle).toBe(true);
    // Inflated: what fills receiveHighWaterMark (one 4 MiB message), not the 128 MiB received.
    expect(report.inflatedByZlib).toBe(4 * MiB);
    // Bound: the unread queue up to the high-water mark, one message over it, the compressed
    // backlog (also under the high-water mark), and the same 8 MiB constant as above.
    const RECEIVE_HIGH_WATER_MARK = MiB;
    expect(report.growth).toBeLessThan(2 * RECEIVE_HIGH_WATER_MARK + 4 * MiB + 8 * MiB);
  });
});

// ================================================================================================

describe('message order around asynchronous zlib', () => {
  it('20 connections x 500 mixed messages sent without awaiting: every echo in order and intact', async () => {
    const CONNECTIONS = 20;
    const COUNT = 500;
    const server = await deflateServer(true, { handler: eagerEcho });
    const plans = Array.from({ length: CONNECTIONS }, (_, c) => {
      const next = prng(1000 + c);
      return Array.from({ length: COUNT }, (_, i) => {
        // Half below the threshold (1024) and half above, on both sides: compressed and
        // uncompressed messages interleave both ways.
        const size = next() % 2 === 0 ? next() % 1024 : 1024 + (next() % 3072);
        const seed = c * COUNT + i;
        return next() % 2 === 0 ? textOfBytes(size, seed) : binaryOfBytes(size, seed);
      });
    });
    const clients = await Promise.all(plans.map(() => wsDeflate(server.url, true)));
    for (const client of clients) expect(client.extensions).toBe('permessage-deflate');
    clients.forEach((client, c) => {
      for (const data of plans[c]!) client.ws.send(data);
    });
    await Promise.all(
      clients.map(async (client, c) => {
        for (const [i, data] of plans[c]!.entries()) {
          const echo = await deadline(client.messages.next(), 20_000, `connection ${c}, echo ${i}`);
          expect(echo.isBinary).toBe(typeof data !== 'string');
          if (!echo.data.equals(asBytes(data))) throw new Error(`connection ${c}: echo ${i} differs`);
        }
      }),
    );
  });

  it('300 mixed messages sent by the handler, then close(): all arrive, in order, before the close frame', async () => {
    const COUNT = 300;
    const next = prng(300);
    const plan = Array.from({ length: COUNT }, (_, i) => {
      const size = next() % 2 === 0 ? next() % 1024 : 1024 + (next() % 8192);
      return next() % 2 === 0 ? textOfBytes(size, i) : binaryOfBytes(size, i);
    });
    const sent: Array<Promise<void>> = [];
    const { port } = await deflateServer(true, {
      handler: async (ws) => {
        for (const data of plan) sent.push(ws.send(data));
        await ws.close(1000, 'done');
      },
    });
    const client = await rawDeflate(port);
    const inflater = new MessageInflater();
    let compressed = 0;
    for (const [i, data] of plan.entries()) {
      const message = await readMessage(client, `message ${i}`);
      expect(message.opcode).toBe(typeof data === 'string' ? OP.TEXT : OP.BINARY);
      const bytes = asBytes(data);
      expect(message.rsv1).toBe(bytes.length >= 1024);
      if (message.rsv1) compressed++;
      const payload = message.rsv1 ? await inflater.inflate(message.payload) : message.payload;
      if (!payload.equals(bytes)) throw new Error(`message ${i} differs`);
    }
    expect(compressed).toBeGreaterThan(50);
    expect(compressed).toBeLessThan(250);
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.CLOSE, closePayload(1000, 'done')));
    client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await deadline(client.ended, 5000, 'the end of TCP');
    const outcomes = await Promise.allSettled(sent);
    expect(outcomes.every((outcome) => outcome.status === 'fulfilled')).toBe(true);
  });

  it('a close frame right behind a compressed message: the message is echoed before the close is answered', async () => {
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port);
    const large = textOfBytes(MiB, 12);
    client.send(
      Buffer.concat([
        clientFrame({ opcode: OP.TEXT, rsv1: true, payload: deflateMessage(large) }),
        clientFrame({ opcode: OP.CLOSE, payload: closePayload(1000, 'bye') }),
      ]),
    );
    const echo = await readMessage(client);
    expect(inflateMessage(echo.payload).toString('utf8')).toBe(large);
    expect((await client.nextFrame()).raw).toEqual(hex('88 02 03 e8'));
    await deadline(client.ended, 5000, 'the end of TCP');
  });

  it('a protocol error right behind a compressed message: the message is echoed before the 1002', async () => {
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port);
    const large = binaryOfBytes(MiB, 13);
    client.send(
      Buffer.concat([
        clientFrame({ opcode: OP.BINARY, rsv1: true, payload: deflateMessage(large) }),
        serverFrame(OP.TEXT, 'unmasked'), // a client frame without a mask
      ]),
    );
    const echo = await readMessage(client);
    expectBytes(inflateMessage(echo.payload), large);
    await expectClose(client, 1002, 'client frame is not masked');
  });

  it('an uncompressed message right behind a large compressed one is delivered after it', async () => {
    const { port } = await deflateServer(true);
    const client = await rawDeflate(port);
    const large = textOfBytes(2 * MiB, 9);
    sendCompressed(client, OP.TEXT, deflateMessage(large));
    client.sendFrame({ opcode: OP.TEXT, payload: Buffer.from('small') });
    const first = await readMessage(client);
    expect(first.rsv1).toBe(true);
    expect(inflateMessage(first.payload).toString('utf8')).toBe(large);
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'small'));
  });
});

// ================================================================================================

describe('the context memory budget', () => {
  it('exactly 2 takeover connections fit; the 3rd gets no context takeover and works; closing one frees its share', async () => {
    const PER_CONNECTION = deflateContextBytes(15, 8) + inflateContextBytes(15);
    const server = await deflateServer({ maxContextMemory: 2 * PER_CONNECTION + PER_CONNECTION / 2 });
    const TAKEOVER = 'permessage-deflate';
    const NO_TAKEOVER = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

    const c1 = await rawDeflate(server.port, 'permessage-deflate', TAKEOVER);
    const ws1 = await server.connections.next();
    const c2 = await rawDeflate(server.port, 'permessage-deflate', TAKEOVER);
    const ws2 = await server.connections.next();
    const c3 = await rawDeflate(server.port, 'permessage-deflate', NO_TAKEOVER);
    await server.connections.next();

    // The 3rd echoes compressed messages, with its context reset for every message.
    const data = textOfBytes(2000, 10);
    sendCompressed(c3, OP.TEXT, deflateMessage(data));
    sendCompressed(c3, OP.TEXT, deflateMessage(data));
    const first = await readMessage(c3);
    const second = await readMessage(c3);
    expect(first.rsv1 && second.rsv1).toBe(true);
    expect(second.payload).toEqual(first.payload);
    expect(inflateMessage(first.payload).toString('utf8')).toBe(data);

    // Connection 1 closes cleanly: its share is free again.
    c1.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await deadline(ws1.closed, 5000, 'connection 1 closed');
    await rawDeflate(server.port, 'permessage-deflate', TAKEOVER);
    await server.connections.next();
    await rawDeflate(server.port, 'permessage-deflate', NO_TAKEOVER);
    await server.connections.next();

    // Connection 2 is cut off (no closing handshake): its share is free again too.
    c2.socket.destroy();
    await deadline(ws2.closed, 5000, 'connection 2 closed');
    const c6 = await rawDeflate(server.port, 'permessage-deflate', TAKEOVER);
    // And that connection really keeps its context: the second "Hello" is a back-reference.
    sendCompressed(c6, OP.TEXT, hex('f2 48 cd c9 c9 07 00'));
    sendCompressed(c6, OP.TEXT, hex('f2 00 11 00 00'));
    expect((await c6.nextFrame()).raw).toEqual(hex('81 05 48 65 6c 6c 6f'));
    expect((await c6.nextFrame()).raw).toEqual(hex('81 05 48 65 6c 6c 6f'));
  });

  it('an offer that insists on what the budget cannot give still falls back to no takeover', async () => {
    // Budget 0: every connection is made to reset both contexts, whatever it offered.
    const { port } = await deflateServer({ maxContextMemory: 0 });
    await rawDeflate(
      port,
      'permessage-deflate; client_max_window_bits',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    );
  });
});

// ================================================================================================

describe('perMessageDeflate.concurrency', () => {
  it('bounds the zlib jobs of the whole server (concurrency 2, 6 connections compressing at once)', async () => {
    const server = await deflateServer({ threshold: 0, concurrency: 2 }, { handler: eagerEcho });
    const limiter = (server.server as unknown as { zlib: ZlibResources }).zlib.limiter;
    const clients = await Promise.all(Array.from({ length: 6 }, () => wsDeflate(server.url, { threshold: 0 })));
    const data = Array.from({ length: 6 }, (_, i) => binaryOfBytes(256 * KiB, 20 + i));
    clients.forEach((client, i) => {
      for (let k = 0; k < 4; k++) client.ws.send(data[i]!);
    });
    // Sample the limiter once per event-loop turn until every echo is back (each under a deadline).
    let maxActive = 0;
    let maxQueued = 0;
    let sampling = true;
    const sample = (): void => {
      maxActive = Math.max(maxActive, limiter.active);
      maxQueued = Math.max(maxQueued, limiter.queued);
      if (sampling) setImmediate(sample);
    };
    sample();
    try {
      await Promise.all(
        clients.map(async (client, i) => {
          for (let k = 0; k < 4; k++) expectBytes((await deadline(client.messages.next(), 10_000, 'an echo')).data, data[i]!);
        }),
      );
    } finally {
      sampling = false;
    }
    expect(maxActive).toBe(2);
    // Jobs did wait for a slot: the bound was really tested.
    expect(maxQueued).toBeGreaterThan(0);
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });
});

describe('interop with ws, and shutdown', () => {
  it('1000 messages of random sizes and kinds (fast-check, fixed seed) come back intact', async () => {
    const message = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 2000 }),
      fc.string({ unit: fc.constantFrom('a', 'b', ' ', 'é', '€', '𝄞'), maxLength: 20_000 }),
      fc.uint8Array({ maxLength: 3000 }).map((bytes) => Buffer.from(bytes)),
      fc.uint8Array({ min: 0, max: 3, maxLength: 30_000 }).map((bytes) => Buffer.from(bytes)),
    );
    const plan = fc.sample(message, { seed: 7692, numRuns: 1000 });
    const server = await deflateServer(true, { handler: eagerEcho });
    const client = await wsDeflate(server.url, true);
    for (const data of plan) client.ws.send(data);
    for (const [i, data] of plan.entries()) {
      const echo = await deadline(client.messages.next(), 10_000, `echo ${i}`);
      expect(echo.isBinary).toBe(typeof data !== 'string');
      if (!echo.data.equals(asBytes(data))) throw new Error(`echo ${i} differs`);
    }
  });

  it('server.close() with compressions pending: every send promise settles; readers get every message, then 1001', async () => {
    const sends: Array<Promise<void>> = [];
    const allQueued = deferred();
    const server = await deflateServer(
      { threshold: 0, concurrency: 1 },
      {
        handler: async (ws) => {
          for await (const _message of ws) {
            // 'go': 30 messages of 64 KiB of noise, not awaited, all waiting for the one zlib slot.
            for (let i = 0; i < 30; i++) sends.push(ws.send(noise(64 * KiB, i)));
            if (sends.length === 90) allQueued.resolve();
          }
        },
      },
    );
    const readers = [await wsDeflate(server.url, true), await wsDeflate(server.url, true)];
    const stalled = await rawDeflate(server.port);
    stalled.socket.pause(); // never reads: its closing handshake cannot complete
    for (const reader of readers) reader.ws.send('go');
    stalled.sendFrame({ opcode: OP.TEXT, payload: Buffer.from('go') });
    await deadline(allQueued.promise, 10_000, '90 sends queued');

    const result = await deadline(server.server.close({ timeout: 1500 }), 10_000, 'server.close()');
    // The readers complete their closing handshakes; the one that never reads is cut off.
    expect(result).toEqual({ closed: 2, terminated: 1 });
    const outcomes = await deadline(Promise.allSettled(sends), 5000, 'every send promise settled');
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(ConnectionClosedError);
    }
    for (const reader of readers) {
      for (let i = 0; i < 30; i++) {
        const echo = await deadline(reader.messages.next(), 5000, `message ${i}`);
        expect(echo.data.equals(noise(64 * KiB, i))).toBe(true);
      }
      expect(await deadline(reader.closed, 5000, 'the close')).toEqual({ code: 1001, reason: 'server shutting down' });
    }
  });

  it('server.close({ timeout: 0 }) with compressions queued: every send settles, the unwritten ones reject', async () => {
    const sends: Array<Promise<void>> = [];
    const allQueued = deferred();
    const server = await deflateServer(
      { threshold: 0, concurrency: 1 },
      {
        handler: async (ws) => {
          for await (const _message of ws) {
            for (let i = 0; i < 30; i++) sends.push(ws.send(noise(64 * KiB, i)));
            if (sends.length === 90) allQueued.resolve();
          }
        },
      },
    );
    const clients = [await wsDeflate(server.url, true), await wsDeflate(server.url, true), await wsDeflate(server.url, true)];
    for (const client of clients) client.ws.send('go');
    await deadline(allQueued.promise, 10_000, '90 sends queued');
    // At once: 90 compressions of 64 KiB wait for one zlib slot, so most are still queued.
    const result = await deadline(server.server.close({ timeout: 0 }), 10_000, 'server.close()');
    expect(result.closed + result.terminated).toBe(3);
    const outcomes = await deadline(Promise.allSettled(sends), 5000, 'every send promise settled');
    const rejected = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const outcome of rejected) expect(outcome.reason).toBeInstanceOf(ConnectionClosedError);
  });

  it('a connection that dies mid-compression does not keep the zlib slot (concurrency 1)', async () => {
    let victimSends: Array<Promise<void>> = [];
    const server = await deflateServer(
      { threshold: 0, concurrency: 1 },
      {
        handler: async (ws) => {
          for await (const message of ws) {
            if (message.data === 'flood') {
              for (let i = 0; i < 30; i++) victimSends.push(ws.send(noise(256 * KiB, i)));
            } else await ws.send(message.data);
          }
        },
      },
    );
    const victim = await rawDeflate(server.port);
    victim.sendFrame({ opcode: OP.TEXT, payload: Buffer.from('flood') });
    await deadline(victim.nextFrame(), 5000, 'the first flooded frame');
    victim.socket.destroy();
    const victimWs = await server.connections.next();
    await deadline(victimWs.closed, 5000, 'the victim closed');
    const outcomes = await deadline(Promise.allSettled(victimSends), 5000, 'the victim sends settled');
    expect(outcomes.some((outcome) => outcome.status === 'rejected')).toBe(true);
    victimSends = [];

    const client = await wsDeflate(server.url, { threshold: 0 });
    const data = textOfBytes(5000, 11);
    client.ws.send(data);
    const echo = await deadline(client.messages.next(), 5000, 'the echo on another connection');
    expect(echo.data.toString('utf8')).toBe(data);
  });
});

// ================================================================================================

describe('messages still inflating when the connection closes', () => {
  // Found with our own client (issue 9): a compressed message that arrived before the peer's
  // close was still inflating when TCP ended, and was dropped. It arrived whole; it is delivered.
  it.each([
    ['the client closes; the server echoes and answers', 'client'],
    ['the server closes after its last echo', 'server'],
  ] as const)('%s: every echo before the close reaches the client', async (_name, closer) => {
    const words = Array.from({ length: 20 }, (_, i) => `message ${i} ${'x'.repeat(i * 50)}`);
    const server = await startServer({
      perMessageDeflate: { threshold: 0 },
      handler: async (ws: Ws) => {
        let count = 0;
        for await (const message of ws) {
          void ws.send(message.data);
          if (closer === 'server' && ++count === words.length) void ws.close(4000, 'done');
        }
      },
    });
    const client = await connect(server.url, { perMessageDeflate: { threshold: 0 } });
    expect(client.extensions).toBe('permessage-deflate');
    for (const word of words) void client.send(word);
    if (closer === 'client') {
      // Wait until the echoes are on their way: close right behind the last send.
      await client.drain();
      void client.close(1000);
    }
    const received: string[] = [];
    for await (const message of client) received.push(message.data as string);
    expect(received).toEqual(words);
    expect(await client.closed).toMatchObject({ code: closer === 'client' ? 1000 : 4000, wasClean: true });
  });
});
