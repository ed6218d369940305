/**
 * The connection (`Ws`) over real TCP on 127.0.0.1: echo with the `ws` npm client and with a raw
 * client, ping/pong, both closing handshakes, vanishing peers, protocol violations on the wire,
 * and the promise contracts of send()/recv()/closed.
 */

import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Message, ServerOptions, Ws } from '../../src/index.js';
import {
  OP,
  cleanup,
  closePayload,
  clientFrame,
  deadline,
  deferred,
  echoHandler,
  expectRejection,
  nextTurn,
  rawConnect,
  serverFrame,
  settle,
  startServer,
  text,
  until,
  wsConnect,
  type Deferred,
  type RawClient,
  type TestServer,
} from './helpers.js';
import { rawStreamConnect, startH2cServer, type RawStreamClient } from './http2/helpers.js';

afterEach(cleanup);

const MULTIBYTE = 'héllo wörld € 𝄞 日本語 😀';

/** Asserts that `promise` rejects with a ConnectionClosedError carrying `closeCode`. */
async function expectClosedError(promise: Promise<unknown>, closeCode?: number): Promise<void> {
  const outcome = await settle(promise);
  expect(outcome.ok).toBe(false);
  if (outcome.ok) return;
  expect(outcome.error).toBeInstanceOf(Error);
  expect((outcome.error as { code?: unknown }).code).toBe('WS_ERR_CLOSED');
  if (closeCode !== undefined) expect((outcome.error as { closeCode?: unknown }).closeCode).toBe(closeCode);
}

/** A raw peer on either transport. */
type FrameClient = RawClient | RawStreamClient;

/** Two text messages, 'one' and 'two', then a close (1000), in one write. */
function oneTwoClose(): Buffer {
  return Buffer.concat([
    clientFrame({ opcode: OP.TEXT, payload: text('one') }),
    clientFrame({ opcode: OP.TEXT, payload: text('two') }),
    clientFrame({ opcode: OP.CLOSE, payload: closePayload(1000) }),
  ]);
}

/** The rejections left unhandled while `body` runs, and in the two turns after it (when Node reports them). */
async function unhandledRejections(body: () => unknown): Promise<unknown[]> {
  const unhandled: unknown[] = [];
  const listener = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', listener);
  try {
    await body();
    await nextTurn();
    await nextTurn();
  } finally {
    process.off('unhandledRejection', listener);
  }
  return unhandled;
}

/** Reads the next frame and asserts it is exactly `expected`. */
async function expectFrame(client: FrameClient, expected: Buffer): Promise<void> {
  const frame = await client.nextFrame();
  expect(frame.masked).toBe(false);
  if (expected.length <= 4096) {
    expect(frame.raw).toEqual(expected);
  } else {
    // Deep equality is slow on large buffers: compare the header, then the bytes in one go.
    expect(frame.raw.length).toBe(expected.length);
    expect(frame.raw.subarray(0, 14)).toEqual(expected.subarray(0, 14));
    expect(frame.raw.equals(expected)).toBe(true);
  }
}


/** An echo server (started by `start`) whose `iteration` settles with 'ended' when the for-await loop ends, or the error it threw. */
async function startWatchingIteration(
  start: (options: ServerOptions) => Promise<TestServer>,
): Promise<{ server: TestServer; iteration: Deferred<unknown> }> {
  const iteration = deferred<unknown>();
  const server = await start({
    handler: async (ws) => {
      try {
        for await (const message of ws) await ws.send(message.data);
        iteration.resolve('ended');
      } catch (error) {
        iteration.resolve(error);
      }
    },
  });
  return { server, iteration };
}

describe('echo with the ws npm client (interop)', () => {
  it('returns text as text, multibyte UTF-8 included', async () => {
    const { url } = await startServer({ handler: echoHandler });
    const client = await wsConnect(url);
    // 41 x '€' is 123 bytes (the 7-bit length limit), 42 x '€' is 126 (a 16-bit length).
    const values = [
      'hello',
      '',
      MULTIBYTE,
      '€'.repeat(41),
      '€'.repeat(42),
      '😀'.repeat(40),
      // Around the writer's 16 KiB copy threshold, counted in UTF-8 bytes.
      'x'.repeat(16_383),
      'x'.repeat(16_384),
      '€'.repeat(5_461),
      '€'.repeat(5_462),
      MULTIBYTE.repeat(3_000),
    ];
    for (const value of values) {
      client.ws.send(value);
      const reply = await client.messages.next();
      expect(reply.isBinary).toBe(false);
      expect(reply.data.toString('utf8')).toBe(value);
    }
  });

  it('returns binary as binary', async () => {
    const { url } = await startServer({ handler: echoHandler });
    const client = await wsConnect(url);
    for (const value of [Buffer.from([0, 1, 2, 0xff, 0x80]), Buffer.alloc(0), randomBytes(300)]) {
      client.ws.send(value, { binary: true });
      const reply = await client.messages.next();
      expect(reply.isBinary).toBe(true);
      expect(reply.data.equals(value)).toBe(true);
    }
  });

  it('reassembles a message the client sent in 3 fragments', async () => {
    const { url } = await startServer({ handler: echoHandler });
    const client = await wsConnect(url);
    client.ws.send('frag-', { fin: false });
    client.ws.send('ment-', { fin: false });
    client.ws.send('ed €', { fin: true });
    const reply = await client.messages.next();
    expect(reply.isBinary).toBe(false);
    expect(reply.data.toString('utf8')).toBe('frag-ment-ed €');
  });

  it.each([
    ['64 KiB', 64 * 1024],
    ['16 MiB', 16 * 1024 * 1024],
  ])('echoes a %s binary message intact', async (_name, size) => {
    const { url } = await startServer({ handler: echoHandler });
    const client = await wsConnect(url);
    const payload = randomBytes(size);
    client.ws.send(payload, { binary: true });
    const reply = await client.messages.next();
    expect(reply.isBinary).toBe(true);
    expect(reply.data.length).toBe(size);
    expect(reply.data.equals(payload)).toBe(true);
  });

  it('echoes arbitrary strings and bytes unchanged (property)', async () => {
    const { url } = await startServer({ handler: echoHandler });
    const client = await wsConnect(url);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc.uint8Array({ maxLength: 70_000, size: 'medium' }),
        ),
        async (value) => {
          const isText = typeof value === 'string';
          client.ws.send(value, { binary: !isText });
          const reply = await client.messages.next();
          expect(reply.isBinary).toBe(!isText);
          if (isText) expect(reply.data.toString('utf8')).toBe(value);
          else expect(reply.data.equals(Buffer.from(value))).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('keeps interleaved messages of many connections intact (shared write slab)', async () => {
    const { url } = await startServer({ handler: echoHandler });
    const clients = await Promise.all(Array.from({ length: 8 }, () => wsConnect(url)));
    const sizes = [0, 1, 41, 42, 125, 126, 1000, 16_383, 16_384, 40_000, 65_536];
    const sent: Array<Array<string | Buffer>> = clients.map(() => []);
    for (let round = 0; round < sizes.length * 2; round++) {
      clients.forEach((client, i) => {
        const size = sizes[(round + i) % sizes.length]!;
        const value = (round + i) % 2 === 0 ? [...'€é𝄞x'.repeat(Math.ceil(size / 4))].slice(0, size).join('') : randomBytes(size);
        sent[i]!.push(value);
        client.ws.send(value, { binary: typeof value !== 'string' });
      });
    }
    for (const [i, client] of clients.entries()) {
      for (const value of sent[i]!) {
        const reply = await client.messages.next();
        if (typeof value === 'string') {
          expect(reply.isBinary).toBe(false);
          expect(reply.data.toString('utf8')).toBe(value);
        } else {
          expect(reply.isBinary).toBe(true);
          expect(reply.data.equals(value)).toBe(true);
        }
      }
    }
  });

  it('keeps messages of concurrent connections apart', async () => {
    const { url } = await startServer({ handler: echoHandler });
    const clients = await Promise.all([1, 2, 3, 4, 5].map(() => wsConnect(url)));
    for (let round = 0; round < 20; round++) {
      clients.forEach((client, i) => client.ws.send(`client ${i} round ${round} ${MULTIBYTE}`));
    }
    for (const [i, client] of clients.entries()) {
      for (let round = 0; round < 20; round++) {
        const reply = await client.messages.next();
        expect(reply.data.toString('utf8')).toBe(`client ${i} round ${round} ${MULTIBYTE}`);
      }
    }
  });
});

/**
 * The frame and close tests run over both transports a Ws sits on: a TCP socket taken over by an
 * HTTP/1.1 upgrade, and a stream of an HTTP/2 connection (RFC 8441, h2c here), with a raw peer
 * that writes and reads frames byte for byte on each. The closing handshake maps onto the stream
 * as RFC 8441 5 says: END_STREAM for TCP's FIN (`ended`), RST_STREAM CANCEL for a reset.
 */
const TRANSPORTS = [
  { transport: 'TCP', tcp: true, startServer, rawConnect },
  { transport: 'an HTTP/2 stream', tcp: false, startServer: startH2cServer, rawConnect: rawStreamConnect },
] as const;

describe.each(TRANSPORTS)('over $transport', ({ tcp, startServer, rawConnect }) => {
  // The ws npm client speaks HTTP/1.1 only: its tests run over TCP.
  const itTcp = (tcp ? it : () => undefined) as typeof it;

  /** An echo server whose `iteration` settles with 'ended' when the for-await loop ends, or the error it threw. */
  const startEchoServerWatchingIteration = (): Promise<{ server: TestServer; iteration: Deferred<unknown> }> => startWatchingIteration(startServer);

  describe('echo with the raw client (exact frames)', () => {
    it('returns a multibyte text frame byte for byte', async () => {
      const { port } = await startServer({ handler: echoHandler });
      const client = await rawConnect(port);
      client.sendFrame({ opcode: OP.TEXT, payload: text(MULTIBYTE) });
      await expectFrame(client, serverFrame(OP.TEXT, MULTIBYTE));
    });

    it('returns a binary frame byte for byte', async () => {
      const { port } = await startServer({ handler: echoHandler });
      const client = await rawConnect(port);
      const payload = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f]);
      client.sendFrame({ opcode: OP.BINARY, payload });
      await expectFrame(client, Buffer.from([0x82, 0x05, 0x00, 0xff, 0x10, 0x80, 0x7f]));
    });

    it('returns an empty text message as an empty text frame', async () => {
      const { port } = await startServer({ handler: echoHandler });
      const client = await rawConnect(port);
      client.sendFrame({ opcode: OP.TEXT });
      await expectFrame(client, Buffer.from([0x81, 0x00]));
    });

    it('returns a message sent in 3 fragments as ONE whole frame', async () => {
      const { port } = await startServer({ handler: echoHandler });
      const client = await rawConnect(port);
      const whole = text('frag € mented');
      // Split inside the 3-byte '€' so each fragment on its own is not valid UTF-8.
      const cuts = [whole.subarray(0, 6), whole.subarray(6, 8), whole.subarray(8)];
      client.send(
        Buffer.concat([
          clientFrame({ opcode: OP.TEXT, fin: false, payload: cuts[0] }),
          clientFrame({ opcode: OP.CONT, fin: false, payload: cuts[1] }),
          clientFrame({ opcode: OP.CONT, fin: true, payload: cuts[2] }),
        ]),
      );
      await expectFrame(client, serverFrame(OP.TEXT, whole));
    });

    it('reassembles fragments written separately, with a ping between them', async () => {
      const { port } = await startServer({ handler: echoHandler });
      const client = await rawConnect(port);
      const parts = [randomBytes(100), randomBytes(20_000), randomBytes(3)];
      client.sendFrame({ opcode: OP.BINARY, fin: false, payload: parts[0] });
      client.sendFrame({ opcode: OP.PING, payload: text('between') });
      client.sendFrame({ opcode: OP.CONT, fin: false, payload: parts[1] });
      client.sendFrame({ opcode: OP.CONT, fin: true, payload: parts[2] });
      // RFC 6455 5.4: control frames may be injected in the middle of a fragmented message.
      await expectFrame(client, serverFrame(OP.PONG, 'between'));
      await expectFrame(client, serverFrame(OP.BINARY, Buffer.concat(parts)));
    });

    it('parses a frame delivered one byte per write', async () => {
      const { port } = await startServer({ handler: echoHandler });
      const client = await rawConnect(port);
      const frame = clientFrame({ opcode: OP.TEXT, payload: text(MULTIBYTE.repeat(10)) });
      for (const byte of frame) client.send(Buffer.from([byte]));
      await expectFrame(client, serverFrame(OP.TEXT, MULTIBYTE.repeat(10)));
    });

    it('answers many frames in one write in order', async () => {
      const { port } = await startServer({ handler: echoHandler });
      const client = await rawConnect(port);
      const values = Array.from({ length: 50 }, (_, i) => `message ${i} ${MULTIBYTE}`);
      client.send(Buffer.concat(values.map((value) => clientFrame({ opcode: OP.TEXT, payload: text(value) }))));
      for (const value of values) await expectFrame(client, serverFrame(OP.TEXT, value));
    });

    it.each([
      // 65536 is one more than a 16-bit length holds: both need the 64-bit form.
      ['64 KiB', 64 * 1024, Buffer.from([0x82, 127, 0, 0, 0, 0, 0x00, 0x01, 0x00, 0x00])],
      ['16 MiB', 16 * 1024 * 1024, Buffer.from([0x82, 127, 0, 0, 0, 0, 0x01, 0x00, 0x00, 0x00])],
    ])('echoes a %s binary message intact', async (_name, size, header) => {
      const { port } = await startServer({ handler: echoHandler });
      const client = await rawConnect(port);
      const payload = randomBytes(size);
      client.sendFrame({ opcode: OP.BINARY, payload });
      const frame = await client.nextFrame();
      expect(frame.raw.subarray(0, header.length)).toEqual(header);
      expect(frame.fin).toBe(true);
      expect(frame.opcode).toBe(OP.BINARY);
      expect(frame.payload.length).toBe(size);
      expect(frame.payload.equals(payload)).toBe(true);
    });

    it('uses the 16-bit length form for a 65535-byte message', async () => {
      const { port } = await startServer({ handler: echoHandler });
      const client = await rawConnect(port);
      const payload = randomBytes(0xffff);
      client.sendFrame({ opcode: OP.BINARY, payload });
      await expectFrame(client, Buffer.concat([Buffer.from([0x82, 126, 0xff, 0xff]), payload]));
    });
  });

  describe('ping and pong', () => {
    it.each([
      ['a short payload', text('ping-payload')],
      ['an empty payload', Buffer.alloc(0)],
      ['125 bytes', randomBytes(125)],
    ])('answers a client ping with %s by a pong with the same payload', async (_name, payload) => {
      const { port } = await startServer({ handler: echoHandler });
      const client = await rawConnect(port);
      client.sendFrame({ opcode: OP.PING, payload });
      await expectFrame(client, Buffer.concat([Buffer.from([0x8a, payload.length]), payload]));
    });

    it('answers a ping even when the application never reads', async () => {
      const { port } = await startServer({ handler: () => undefined });
      const client = await rawConnect(port);
      client.sendFrame({ opcode: OP.PING, payload: text('hi') });
      await expectFrame(client, Buffer.from([0x8a, 0x02, 0x68, 0x69]));
    });

    itTcp('ws.ping() reaches the ws client as a ping', async () => {
      const server = await startServer();
      const client = await wsConnect(server.url);
      const ws = await server.connections.next();
      await ws.ping('are you there');
      expect((await client.pings.next()).toString()).toBe('are you there');
      await ws.ping(Buffer.from([1, 2, 3]));
      expect(await client.pings.next()).toEqual(Buffer.from([1, 2, 3]));
    });

    it('ws.ping() sends the exact ping frame', async () => {
      const server = await startServer();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      // The raw client answers no ping, so these never resolve: ping() now waits for the pong.
      void ws.ping();
      await expectFrame(client, Buffer.from([0x89, 0x00]));
      void ws.ping('abc');
      await expectFrame(client, Buffer.from([0x89, 0x03, 0x61, 0x62, 0x63]));
    });

    it('ws.ping() resolves with the round-trip time once the matching pong arrives', async () => {
      const server = await startServer();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      // performance.now() on a fake clock: the round trip lasts exactly what the test moves it by.
      vi.useFakeTimers({ toFake: ['performance'] });
      let settled = false;
      const rtt = ws.ping('abc').then((ms) => {
        settled = true;
        return ms;
      });
      vi.advanceTimersByTime(7);
      await expectFrame(client, Buffer.from([0x89, 0x03, 0x61, 0x62, 0x63]));
      // An unsolicited pong with another payload answers nothing (RFC 6455 5.5.3).
      client.sendFrame({ opcode: OP.PONG, payload: text('xyz') });
      client.sendFrame({ opcode: OP.PONG, payload: text('abc') });
      const ms = await deadline(rtt, 5000, 'the pong');
      expect(settled).toBe(true);
      expect(ms).toBe(7);
    });

    it('a pong answers its ping and every ping before it; pending pings reject when the connection closes', async () => {
      const server = await startServer();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      const first = ws.ping('1');
      const second = ws.ping('2');
      const third = ws.ping('3');
      await expectFrame(client, Buffer.from([0x89, 0x01, 0x31]));
      await expectFrame(client, Buffer.from([0x89, 0x01, 0x32]));
      await expectFrame(client, Buffer.from([0x89, 0x01, 0x33]));
      client.sendFrame({ opcode: OP.PONG, payload: text('2') });
      expect(typeof (await first)).toBe('number');
      expect(typeof (await second)).toBe('number');
      ws.terminate();
      await expect(third).rejects.toMatchObject({ code: 'WS_ERR_CLOSED', closeCode: 1006 });
    });

    itTcp('ws.ping() rejects (never throws) a payload over 125 bytes, or one that is not data, with WS_ERR_INVALID_ARGUMENT', async () => {
      const server = await startServer();
      await wsConnect(server.url);
      const ws = await server.connections.next();
      // RFC 6455 5.5: a control frame's payload is at most 125 bytes.
      await expectRejection(() => ws.ping(Buffer.alloc(126)), 'WS_ERR_INVALID_ARGUMENT');
      await expectRejection(() => ws.ping('x'.repeat(126)), 'WS_ERR_INVALID_ARGUMENT');
      await expectRejection(() => ws.ping(42 as unknown as string), 'WS_ERR_INVALID_ARGUMENT');
      expect(ws.readyState).toBe('open');
      expect(await ws.ping(Buffer.alloc(125))).toBeGreaterThanOrEqual(0);
    });
  });

  describe('close initiated by the client', () => {
    it.each([
      [1000, Buffer.from([0x88, 0x02, 0x03, 0xe8])],
      [4001, Buffer.from([0x88, 0x02, 0x0f, 0xa1])],
    ])('echoes code %i, ends TCP, and settles closed, recv() and iteration', async (code, expected) => {
      const { server, iteration } = await startEchoServerWatchingIteration();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(code, 'client leaving') });
      await expectFrame(client, expected);
      await client.ended; // the server ends TCP first (RFC 6455 7.1.1)
      expect(await ws.closed).toEqual({ code, reason: 'client leaving', wasClean: true });
      expect(ws.readyState).toBe('closed');
      expect(ws.closeResult).toEqual({ code, reason: 'client leaving', wasClean: true });
      await expectClosedError(ws.recv(), code);
      expect(await iteration.promise).toBe('ended');
      expect(server.errors).toEqual([]);
      expect(server.server.clients.size).toBe(0);
    });

    it('answers a close with no code by an empty close and reports 1005', async () => {
      const server = await startServer({ handler: echoHandler });
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      client.sendFrame({ opcode: OP.CLOSE });
      await expectFrame(client, Buffer.from([0x88, 0x00]));
      await client.ended;
      expect(await ws.closed).toEqual({ code: 1005, reason: '', wasClean: true });
    });

    itTcp('completes the handshake with the ws client (code 4001)', async () => {
      const server = await startServer({ handler: echoHandler });
      const client = await wsConnect(server.url);
      const ws = await server.connections.next();
      client.ws.close(4001, 'bye');
      expect(await client.closed).toEqual({ code: 4001, reason: '' });
      expect(await ws.closed).toEqual({ code: 4001, reason: 'bye', wasClean: true });
    });

    it('still hands over messages that arrived before the close, then reports the close', async () => {
      const server = await startServer(); // the handler never reads
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      client.send(
        Buffer.concat([
          clientFrame({ opcode: OP.TEXT, payload: text('first') }),
          clientFrame({ opcode: OP.BINARY, payload: Buffer.from([9, 8, 7]) }),
          clientFrame({ opcode: OP.CLOSE, payload: closePayload(1000) }),
        ]),
      );
      await expectFrame(client, Buffer.from([0x88, 0x02, 0x03, 0xe8]));
      await ws.closed;
      expect(await ws.recv()).toEqual({ type: 'text', data: 'first' });
      const second = await ws.recv();
      expect(second.type).toBe('binary');
      expect(second.data).toEqual(Buffer.from([9, 8, 7]));
      await expectClosedError(ws.recv(), 1000);
    });

    it('answers the close only once the application has read what came before it', async () => {
      const release = deferred();
      const read: Message[] = [];
      let client: FrameClient | undefined;
      const answeredEarly: boolean[] = [];
      const server = await startServer({
        handler: async (ws) => {
          read.push(await ws.recv());
          await release.promise;
          for await (const message of ws) {
            read.push(message);
            answeredEarly.push(client!.frames.size > 0 || client!.hasEnded);
          }
        },
      });
      client = await rawConnect(server.port);
      const ws = await server.connections.next();
      client.send(oneTwoClose());
      await until(() => ws.readyState === 'closing', 'the close frame was parsed');
      expect(client.frames.size).toBe(0);
      release.resolve();
      await expectFrame(client, Buffer.from([0x88, 0x02, 0x03, 0xe8]));
      expect(read.map((message) => message.data)).toEqual(['one', 'two']);
      expect(answeredEarly).toEqual([false]);
      expect(await ws.closed).toMatchObject({ code: 1000, wasClean: true });
    });

    it('answers the close after closeTimeout when the application stops reading', async () => {
      // The close timer on a fake clock (sockets stay real): it fires when the test moves time.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const server = await startServer({
        closeTimeout: 200,
        handler: async (ws) => {
          await ws.recv(); // reads one message, then never again
        },
      });
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      client.send(oneTwoClose());
      // The close frame was parsed, 'two' is unread: the close timer runs (the only timer).
      await until(() => ws.readyState === 'closing' && vi.getTimerCount() === 1, 'the close timer to start');
      await vi.advanceTimersByTimeAsync(199);
      // Not answered a millisecond early: a ping sent now is the client's next frame, not the close.
      const probe = settle(ws.ping('not yet'));
      await expectFrame(client, serverFrame(OP.PING, 'not yet'));
      await vi.advanceTimersByTimeAsync(1);
      await expectFrame(client, Buffer.from([0x88, 0x02, 0x03, 0xe8]));
      expect((await probe).ok).toBe(false); // never answered: rejected when the connection closed
      expect(await ws.closed).toMatchObject({ code: 1000, wasClean: true });
      // The unread message is still there for the application.
      expect(await ws.recv()).toEqual({ type: 'text', data: 'two' });
    });
  });

  describe('close initiated by the server', () => {
    it('sends the exact close frame and completes cleanly when the raw client answers', async () => {
      const server = await startServer();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      const closing = ws.close(4000, 'bye');
      expect(ws.readyState).toBe('closing');
      await expectFrame(client, Buffer.from([0x88, 0x05, 0x0f, 0xa0, 0x62, 0x79, 0x65]));
      expect(client.hasEnded).toBe(false);
      client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(4000) });
      await client.ended;
      const result = await closing;
      expect(result).toMatchObject({ code: 4000, wasClean: true });
      expect(await ws.closed).toBe(result);
      expect(ws.readyState).toBe('closed');
    });

    itTcp('completes cleanly with the ws client, which sees 4000 "bye"', async () => {
      const server = await startServer();
      const client = await wsConnect(server.url);
      const ws = await server.connections.next();
      const result = await ws.close(4000, 'bye');
      expect(result).toMatchObject({ code: 4000, wasClean: true });
      expect(await client.closed).toEqual({ code: 4000, reason: 'bye' });
    });

    it('destroys the socket after closeTimeout when the peer never answers (1006)', async () => {
      // The close timer on a fake clock (sockets stay real): it fires when the test moves time.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const server = await startServer({ closeTimeout: 200 });
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      const closing = ws.close(4000, 'bye');
      expect(vi.getTimerCount()).toBe(1); // the close timer, started with the close
      await vi.advanceTimersByTimeAsync(199);
      expect(vi.getTimerCount()).toBe(1); // still waiting for the answer
      expect(ws.readyState).toBe('closing');
      await vi.advanceTimersByTimeAsync(1);
      const result = await deadline(closing, 5000, 'the close to time out');
      expect(result).toEqual({ code: 1006, reason: 'closing handshake timed out', wasClean: false, errorCode: 'WS_ERR_CLOSE_TIMEOUT' });
      await expectFrame(client, Buffer.from([0x88, 0x05, 0x0f, 0xa0, 0x62, 0x79, 0x65]));
      await client.closed;
      expect(server.server.clients.size).toBe(0);
    });

    it('still delivers messages the peer sends after our close, before its own', async () => {
      const server = await startServer();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      const closing = ws.close(4000);
      await client.nextFrame();
      client.send(
        Buffer.concat([
          clientFrame({ opcode: OP.TEXT, payload: text('in flight') }),
          clientFrame({ opcode: OP.CLOSE, payload: closePayload(4000) }),
        ]),
      );
      expect(await closing).toMatchObject({ code: 4000, wasClean: true });
      expect(await ws.recv()).toEqual({ type: 'text', data: 'in flight' });
      await expectClosedError(ws.recv(), 4000);
    });

    it('delivers messages sent before close() ahead of the close frame', async () => {
      const server = await startServer();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      const big = randomBytes(100_000); // large enough to be queued by reference, not copied
      const sends = [ws.send('one'), ws.send(Buffer.from([1, 2, 3])), ws.send(big), ws.send(MULTIBYTE)];
      void ws.close(4000, 'bye');
      await Promise.all(sends);
      await expectFrame(client, serverFrame(OP.TEXT, 'one'));
      await expectFrame(client, Buffer.from([0x82, 0x03, 1, 2, 3]));
      await expectFrame(client, serverFrame(OP.BINARY, big));
      await expectFrame(client, serverFrame(OP.TEXT, MULTIBYTE));
      await expectFrame(client, serverFrame(OP.CLOSE, closePayload(4000, 'bye')));
    });

    itTcp('delivers messages sent in earlier turns before the close frame, to the ws client', async () => {
      const server = await startServer();
      const client = await wsConnect(server.url);
      const ws = await server.connections.next();
      for (let i = 0; i < 100; i++) void ws.send(`message ${i}`);
      await nextTurn();
      void ws.send('last');
      void ws.close(1000);
      for (let i = 0; i < 100; i++) expect((await client.messages.next()).data.toString()).toBe(`message ${i}`);
      expect((await client.messages.next()).data.toString()).toBe('last');
      expect(await client.closed).toEqual({ code: 1000, reason: '' });
    });

    it.each([
      ['1005', 1005, ''],
      ['1006', 1006, ''],
      ['999', 999, ''],
      ['5000', 5000, ''],
      ['a reason over 123 bytes', 1000, 'x'.repeat(124)],
    ])('close() rejects %s (WS_ERR_INVALID_ARGUMENT, never a throw) and sends nothing', async (_name, code, reason) => {
      const server = await startServer({ handler: echoHandler });
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      await expectRejection(() => ws.close(code, reason), 'WS_ERR_INVALID_ARGUMENT');
      await expectRejection(() => ws.close(1000, Symbol('not a string') as never), 'WS_ERR_INVALID_ARGUMENT');
      expect(ws.readyState).toBe('open');
      client.sendFrame({ opcode: OP.TEXT, payload: text('still open') });
      await expectFrame(client, serverFrame(OP.TEXT, 'still open'));
    });

    it('a second close() returns the same promise and sends one close frame', async () => {
      const server = await startServer();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      const first = ws.close(4000);
      const second = ws.close(4002);
      expect(second).toBe(first);
      await expectFrame(client, Buffer.from([0x88, 0x02, 0x0f, 0xa0]));
      client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(4000) });
      await client.ended;
      expect(await first).toMatchObject({ code: 4000, wasClean: true });
      expect(client.frames.size).toBe(0);
    });
  });

  describe('a peer that vanishes', () => {
    it('mid-message: closed resolves with 1006 and the connection is forgotten', async () => {
      const { server, iteration } = await startEchoServerWatchingIteration();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      expect(server.server.clients.size).toBe(1);
      expect([...server.server.clients]).toEqual([ws]);
      const frame = clientFrame({ opcode: OP.BINARY, payload: randomBytes(100) });
      client.socket.write(frame.subarray(0, 40), () => client.socket.destroy());
      const result = await ws.closed;
      expect(result.code).toBe(1006);
      expect(result.wasClean).toBe(false);
      expect(server.server.clients.size).toBe(0);
      expect(await iteration.promise).toBe('ended');
      expect(server.errors).toEqual([]);
    });

    it('while a recv() waits: it rejects with WS_ERR_CLOSED 1006 and onError is not called', async () => {
      const outcome = deferred<unknown>();
      const server = await startServer({
        handler: async (ws) => {
          outcome.resolve(await settle(ws.recv()));
          await ws.recv(); // rejects again: a closed-connection rejection is not a handler bug
        },
      });
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      client.socket.destroy();
      expect(await ws.closed).toMatchObject({ code: 1006, wasClean: false });
      const settled = (await outcome.promise) as Awaited<ReturnType<typeof settle>>;
      expect(settled.ok).toBe(false);
      if (!settled.ok) expect(settled.error).toMatchObject({ code: 'WS_ERR_CLOSED', closeCode: 1006 });
      await nextTurn();
      expect(server.errors).toEqual([]);
    });

    it('half-closes TCP without a close frame: the server ends too, 1006', async () => {
      const server = await startServer({ handler: echoHandler });
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      client.socket.end();
      await client.ended;
      expect(await ws.closed).toMatchObject({ code: 1006, wasClean: false });
      expect(client.frames.size).toBe(0);
    });
  });

  describe('protocol violations on the wire', () => {
    const cases: Array<[string, Buffer, number, string, string]> = [
      ['an unmasked frame', Buffer.from([0x81, 0x02, 0x68, 0x69]), 1002, 'client frame is not masked', 'WS_ERR_UNMASKED_FRAME'],
      ['a reserved opcode (0x3)', clientFrame({ opcode: 0x3, payload: text('x') }), 1002, 'reserved opcode 0x3', 'WS_ERR_RESERVED_OPCODE'],
      ['a reserved control opcode (0xB)', clientFrame({ opcode: 0xb }), 1002, 'reserved opcode 0xb', 'WS_ERR_RESERVED_OPCODE'],
      ['invalid UTF-8 in a text message', clientFrame({ opcode: OP.TEXT, payload: Buffer.from([0x68, 0xc3, 0x28]) }), 1007, 'text is not valid UTF-8', 'WS_ERR_INVALID_UTF8'],
      ['RSV2 set with no extension', clientFrame({ opcode: OP.TEXT, rsv2: true }), 1002, 'RSV2 or RSV3 set with no extension', 'WS_ERR_RESERVED_BITS'],
      ['a continuation with no message', clientFrame({ opcode: OP.CONT, payload: text('x') }), 1002, 'continuation frame with no message started', 'WS_ERR_UNEXPECTED_CONTINUATION'],
      ['a fragmented ping', clientFrame({ opcode: OP.PING, fin: false }), 1002, 'fragmented control frame', 'WS_ERR_FRAGMENTED_CONTROL_FRAME'],
      ['a 126-byte ping', clientFrame({ opcode: OP.PING, payload: Buffer.alloc(126) }), 1002, 'control frame of 126 bytes (at most 125)', 'WS_ERR_CONTROL_FRAME_TOO_LONG'],
      ['a close code that may not be sent (1005)', clientFrame({ opcode: OP.CLOSE, payload: closePayload(1005) }), 1002, 'invalid close code 1005', 'WS_ERR_INVALID_CLOSE_CODE'],
      ['a non-minimal 16-bit length', Buffer.from([0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 0, 0, 0, 0, 0]), 1002, 'payload length 5 not encoded in the minimal number of bytes', 'WS_ERR_INVALID_LENGTH'],
      ['a 64-bit length with its top bit set', Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]), 1002, '64-bit payload length with the most significant bit set', 'WS_ERR_INVALID_LENGTH'],
      ['a 1 TiB length (over the default maxPayload)', Buffer.from([0x82, 0xff, 0, 0, 0x01, 0, 0, 0, 0, 0, 1, 2, 3, 4]), 1009, 'message exceeds maxPayload (67108864 bytes)', 'WS_ERR_MESSAGE_TOO_BIG'],
      ['a close reason that is not UTF-8', clientFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe8, 0xff]) }), 1007, 'close reason is not valid UTF-8', 'WS_ERR_INVALID_UTF8'],
      ['RSV1 set with no extension', clientFrame({ opcode: OP.BINARY, rsv1: true, payload: Buffer.from([1]) }), 1002, 'RSV1 set with no extension', 'WS_ERR_RESERVED_BITS'],
      [
        'a new message inside a fragmented one',
        Buffer.concat([clientFrame({ opcode: OP.TEXT, fin: false, payload: text('a') }), clientFrame({ opcode: OP.TEXT, payload: text('b') })]),
        1002,
        'new data frame inside a fragmented message',
        'WS_ERR_EXPECTED_CONTINUATION',
      ],
      ['a 1-byte close payload', clientFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03]) }), 1002, 'close frame payload of 1 byte: a code takes 2', 'WS_ERR_INVALID_CLOSE_PAYLOAD'],
    ];

    it.each(cases)('%s fails the connection with the exact close frame', async (_name, bad, code, reason, errorCode) => {
      const server = await startServer({ handler: echoHandler });
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      client.send(bad);
      const frame = await client.nextFrame();
      expect(frame.opcode).toBe(OP.CLOSE);
      expect(frame.payload.readUInt16BE(0)).toBe(code);
      expect(frame.raw).toEqual(serverFrame(OP.CLOSE, closePayload(code, reason)));
      await client.ended;
      expect(await ws.closed).toEqual({ code, reason, wasClean: false, errorCode });
      expect(server.errors).toEqual([]);
    });

    it('the same failures, with a valid message in the same write first: echo, then the close', async () => {
      for (const [, bad, code, reason] of cases) {
        const server = await startServer({ handler: echoHandler });
        const client = await rawConnect(server.port);
        client.send(Buffer.concat([clientFrame({ opcode: OP.TEXT, payload: text(MULTIBYTE) }), bad]));
        await expectFrame(client, serverFrame(OP.TEXT, MULTIBYTE));
        await expectFrame(client, serverFrame(OP.CLOSE, closePayload(code, reason)));
        await client.ended;
      }
    });

    it('recv() still returns what came before the violation, then rejects with its close code', async () => {
      const server = await startServer(); // the handler never reads
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      client.send(Buffer.concat([clientFrame({ opcode: OP.TEXT, payload: text('valid') }), Buffer.from([0x81, 0x00])]));
      await expectFrame(client, serverFrame(OP.CLOSE, closePayload(1002, 'client frame is not masked')));
      await ws.closed;
      expect(await ws.recv()).toEqual({ type: 'text', data: 'valid' });
      await expectClosedError(ws.recv(), 1002);
    });

    it('a message over maxPayload gets 1009 as soon as its header arrives, before its payload', async () => {
      const server = await startServer({ handler: echoHandler, maxPayload: 1024 });
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      // Only the header: FIN + binary, masked, 16-bit length 2048, masking key. No payload follows.
      client.send(Buffer.from([0x82, 0x80 | 126, 0x08, 0x00, 0x11, 0x22, 0x33, 0x44]));
      await expectFrame(client, serverFrame(OP.CLOSE, closePayload(1009, 'message exceeds maxPayload (1024 bytes)')));
      await client.ended;
      expect(await ws.closed).toMatchObject({ code: 1009, wasClean: false });
    });

    it('maxPayload counts all fragments of a message together', async () => {
      const server = await startServer({ handler: echoHandler, maxPayload: 1024 });
      const client = await rawConnect(server.port);
      client.sendFrame({ opcode: OP.BINARY, payload: randomBytes(1024) });
      const exact = await client.nextFrame();
      expect(exact.payload.length).toBe(1024);
      client.sendFrame({ opcode: OP.BINARY, fin: false, payload: randomBytes(1000) });
      client.sendFrame({ opcode: OP.CONT, fin: true, payload: randomBytes(25) });
      await expectFrame(client, serverFrame(OP.CLOSE, closePayload(1009, 'message exceeds maxPayload (1024 bytes)')));
    });

    it('a message in more than maxFragments frames gets 1008', async () => {
      const server = await startServer({ handler: echoHandler, maxFragments: 3 });
      const client = await rawConnect(server.port);
      client.send(
        Buffer.concat([
          clientFrame({ opcode: OP.TEXT, fin: false, payload: text('a') }),
          clientFrame({ opcode: OP.CONT, fin: false, payload: text('b') }),
          clientFrame({ opcode: OP.CONT, fin: true, payload: text('c') }),
          clientFrame({ opcode: OP.TEXT, fin: false, payload: text('a') }),
          clientFrame({ opcode: OP.CONT, fin: false, payload: text('b') }),
          clientFrame({ opcode: OP.CONT, fin: false, payload: text('c') }),
          clientFrame({ opcode: OP.CONT, fin: true, payload: text('d') }),
        ]),
      );
      await expectFrame(client, serverFrame(OP.TEXT, 'abc'));
      await expectFrame(client, serverFrame(OP.CLOSE, closePayload(1008, 'message split into more than 3 frames')));
    });

    it('invalid UTF-8 split across fragments is caught before the message ends (1007)', async () => {
      const server = await startServer({ handler: echoHandler });
      const client = await rawConnect(server.port);
      client.sendFrame({ opcode: OP.TEXT, fin: false, payload: Buffer.from([0xe2, 0x82]) });
      // 0x28 cannot continue the 3-byte sequence: the message has not ended, the error is known.
      client.sendFrame({ opcode: OP.CONT, fin: false, payload: Buffer.from([0x28]) });
      await expectFrame(client, serverFrame(OP.CLOSE, closePayload(1007, 'text is not valid UTF-8')));
    });

    it('ignores whatever follows the close frame in the same write', async () => {
      const server = await startServer({ handler: echoHandler });
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      client.send(
        Buffer.concat([
          clientFrame({ opcode: OP.CLOSE, payload: closePayload(1000) }),
          clientFrame({ opcode: OP.TEXT, payload: text('after the close') }),
          Buffer.from([0x81, 0x01, 0x00]), // unmasked garbage: would be a 1002 if parsed
        ]),
      );
      await expectFrame(client, Buffer.from([0x88, 0x02, 0x03, 0xe8]));
      await client.ended;
      expect(await ws.closed).toMatchObject({ code: 1000, wasClean: true });
      expect(client.frames.size).toBe(0);
    });
  });

  describe('send() and its promise', () => {
    async function closedConnection(): Promise<Ws> {
      const server = await startServer({ handler: echoHandler });
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000) });
      await ws.closed;
      return ws;
    }

    it('send() and ping() after the connection closed reject with WS_ERR_CLOSED', async () => {
      const ws = await closedConnection();
      await expectClosedError(ws.send('late'), 1000);
      await expectClosedError(ws.send(Buffer.from([1])), 1000);
      await expectClosedError(ws.ping(), 1000);
    });

    it('send() while our close is in flight rejects with WS_ERR_CLOSED', async () => {
      const server = await startServer();
      await rawConnect(server.port);
      const ws = await server.connections.next();
      void ws.close(4000);
      await expectClosedError(ws.send('too late'));
    });

    it('an unawaited send() after close causes no unhandled rejection', async () => {
      const ws = await closedConnection();
      const unhandled = await unhandledRejections(() => {
        void ws.send('nobody awaits this');
        void ws.send(Buffer.alloc(100_000));
        void ws.ping('nor this');
      });
      expect(unhandled).toEqual([]);
    });

    it('an unawaited send() cut short by terminate() causes no unhandled rejection; an awaited one rejects', async () => {
      const server = await startServer();
      await rawConnect(server.port);
      const ws = await server.connections.next();
      const unhandled = await unhandledRejections(async () => {
        const awaited = ws.send('lost');
        void ws.send('also lost');
        ws.terminate();
        await expectClosedError(awaited, 1006);
        await ws.closed;
      });
      expect(unhandled).toEqual([]);
    });

    it('send() accepts Uint8Array, ArrayBuffer and DataView as binary', async () => {
      const server = await startServer();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      const bytes = new Uint8Array([10, 20, 30, 40, 50]);
      await ws.send(bytes.subarray(1, 4));
      await ws.send(bytes.buffer.slice(0, 2));
      await ws.send(new DataView(bytes.buffer, 3, 2));
      await expectFrame(client, Buffer.from([0x82, 0x03, 20, 30, 40]));
      await expectFrame(client, Buffer.from([0x82, 0x02, 10, 20]));
      await expectFrame(client, Buffer.from([0x82, 0x02, 40, 50]));
    });

    it('send() of something that is not data rejects with WS_ERR_INVALID_ARGUMENT, and the connection stays open', async () => {
      const server = await startServer();
      await rawConnect(server.port);
      const ws = await server.connections.next();
      await expectRejection(() => ws.send(42 as unknown as string), 'WS_ERR_INVALID_ARGUMENT');
      expect(ws.readyState).toBe('open');
    });

    it('bufferedAmount counts queued bytes and drains to 0', async () => {
      const server = await startServer();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      expect(ws.bufferedAmount).toBe(0);
      const payload = randomBytes(4 * 1024 * 1024);
      const sent = ws.send(payload);
      expect(ws.bufferedAmount).toBeGreaterThanOrEqual(payload.length);
      await sent;
      const frame = await client.nextFrame();
      expect(frame.payload.equals(payload)).toBe(true);
      await until(() => ws.bufferedAmount === 0, 'bufferedAmount drains');
    });
  });

  describe('terminate()', () => {
    it('destroys the connection without a close frame: 1006 on both sides', async () => {
      const server = await startServer();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      ws.terminate();
      await client.closed;
      expect(client.frames.size).toBe(0);
      expect(await ws.closed).toEqual({ code: 1006, reason: 'terminated', wasClean: false });
      expect(ws.readyState).toBe('closed');
      expect(server.server.clients.size).toBe(0);
    });

    itTcp('the ws client sees 1006', async () => {
      const server = await startServer();
      const client = await wsConnect(server.url);
      const ws = await server.connections.next();
      ws.terminate('gone');
      expect((await client.closed).code).toBe(1006);
      expect(await ws.closed).toEqual({ code: 1006, reason: 'gone', wasClean: false });
    });
  });

  describe('state', () => {
    it('readyState goes open -> closing -> closed; closeResult is set only when closed', async () => {
      const server = await startServer();
      const client = await rawConnect(server.port);
      const ws = await server.connections.next();
      expect(ws.readyState).toBe('open');
      expect(ws.closeResult).toBeUndefined();
      expect(ws.protocol).toBe('');
      void ws.close(1000);
      expect(ws.readyState).toBe('closing');
      expect(ws.closeResult).toBeUndefined();
      await client.nextFrame();
      client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000) });
      const result = await ws.closed;
      expect(ws.readyState).toBe('closed');
      expect(ws.closeResult).toEqual(result);
    });

    itTcp('leaving a for-await loop early does not close the connection', async () => {
      const server = await startServer({
        handler: async (ws) => {
          for await (const message of ws) {
            await ws.send(`first: ${String(message.data)}`);
            break;
          }
          for await (const message of ws) await ws.send(`then: ${String(message.data)}`);
        },
      });
      const client = await wsConnect(server.url);
      client.ws.send('a');
      expect((await client.messages.next()).data.toString()).toBe('first: a');
      client.ws.send('b');
      expect((await client.messages.next()).data.toString()).toBe('then: b');
    });
  });
});
