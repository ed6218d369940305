/**
 * API edges of Ws added with the client (issue 9): UTF-8 bytes sent as text without decoding, a
 * string sent as binary, frames prepared once (sendPrepared) in both roles, drain(); and the
 * server's onRefused hook, which reports every refused handshake with its status and code.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { connect, prepareFrame, type RefusedHandshake, type Ws } from '../../src/index.js';
import { AsyncQueue, OP, cleanup, closePayload, defer, deferred, expectRejection, openRawClient, rawConnect, rawHttp, serverFrame, startServer, text, upgradeRequest, wsConnect } from './helpers.js';

afterEach(cleanup);

describe('send() options', () => {
  it('{ text: true } sends UTF-8 bytes as a text frame, byte for byte', async () => {
    const server = await startServer();
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    const bytes = Buffer.from('héllo €', 'utf8');
    await ws.send(bytes, { text: true });
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, bytes));
  });

  it('{ text: true } refuses bytes that are not UTF-8 (WS_ERR_INVALID_ARGUMENT) and sends nothing', async () => {
    const server = await startServer();
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    await expect(ws.send(Buffer.from([0x68, 0xc3, 0x28]), { text: true })).rejects.toMatchObject({ code: 'WS_ERR_INVALID_ARGUMENT' });
    await ws.send('next');
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'next'));
    expect(ws.readyState).toBe('open');
  });

  it('{ binary: true } sends a string as a binary frame of its UTF-8', async () => {
    const server = await startServer();
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    await ws.send('€', { binary: true });
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.BINARY, Buffer.from([0xe2, 0x82, 0xac])));
  });
});

describe('sendPrepared()', () => {
  it('a server connection writes the prepared bytes as they are, in order with send()', async () => {
    const server = await startServer();
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    const frame = prepareFrame(true, text('Hello'));
    expect(Buffer.from(frame.frame)).toEqual(Buffer.from([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]));
    void ws.send('first');
    void ws.sendPrepared(frame);
    await ws.send('last');
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'first'));
    expect((await client.nextFrame()).raw).toEqual(Buffer.from(frame.frame));
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'last'));
  });

  it('a client connection masks a prepared frame with its own key', async () => {
    const received = new AsyncQueue<string>();
    const server = await startServer({
      handler: async (ws: Ws) => {
        for await (const message of ws) received.push(`${message.type}:${String(message.data)}`);
      },
    });
    const client = await connect(server.url, { perMessageDeflate: false });
    await client.sendPrepared(prepareFrame(true, text('prepared')));
    await client.sendPrepared(prepareFrame(false, text('bytes')));
    expect(await received.next()).toBe('text:prepared');
    expect(await received.next()).toBe('binary:bytes');
  });

  it('a compressed frame for a connection without permessage-deflate rejects with WS_ERR_INVALID_ARGUMENT (never a throw)', async () => {
    const server = await startServer();
    await rawConnect(server.port);
    const ws = await server.connections.next();
    // RFC 7692 7.2.3.1: "Hello" compressed.
    const compressed = prepareFrame(true, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), 15);
    await expectRejection(() => ws.sendPrepared(compressed), 'WS_ERR_INVALID_ARGUMENT');
    await expectRejection(() => ws.sendPrepared(undefined as never), 'WS_ERR_INVALID_ARGUMENT');
    await expectRejection(() => ws.sendPrepared({ firstByte: 0x81 } as never), 'WS_ERR_INVALID_ARGUMENT');
    expect(ws.readyState).toBe('open');
  });

  it('a frame compressed with a larger window than the peer allows rejects with WS_ERR_INVALID_ARGUMENT', async () => {
    const server = await startServer({ perMessageDeflate: { clientMaxWindowBits: 9, serverMaxWindowBits: 9 } });
    const client = await connect(server.url);
    defer(() => client.terminate());
    const ws = await server.connections.next();
    expect(ws.deflateAgreement).toMatchObject({ ourMaxWindowBits: 9 });
    const compressed = prepareFrame(true, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), 15);
    await expectRejection(() => ws.sendPrepared(compressed), 'WS_ERR_INVALID_ARGUMENT');
  });

  it('a compressed frame reaches a compressed connection, and its own messages still inflate after it', async () => {
    const received = new AsyncQueue<string>();
    const server = await startServer({ perMessageDeflate: { threshold: 0 } });
    const client = await connect(server.url, { perMessageDeflate: { threshold: 0 } });
    const ws = await server.connections.next();
    void (async () => {
      for await (const message of client) received.push(String(message.data));
    })();
    // Our own compressed messages build a context; the prepared frame (fresh context) goes in
    // between; our next message must not refer to history the client's window does not match.
    await ws.send('Hello Hello Hello');
    await ws.sendPrepared(prepareFrame(true, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), 15));
    await ws.send('Hello Hello Hello');
    expect([await received.next(), await received.next(), await received.next()]).toEqual(['Hello Hello Hello', 'Hello', 'Hello Hello Hello']);
  });
});

describe('sendNumbered() and writtenBatches', () => {
  it('no promise: one batch number for a turn, the bytes in order, writtenBatches reaching it once written; 0 once closing', async () => {
    const server = await startServer();
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    expect(ws.writtenBatches).toBe(0);
    const frame = prepareFrame(true, text('Hello'));
    expect(ws.sendNumbered(frame, frame.payload, true)).toBe(1);
    expect(ws.sendNumbered(null, Buffer.from('héllo', 'utf8'), true)).toBe(1);
    expect(ws.sendNumbered(null, Buffer.from([1, 2]), false)).toBe(1);
    expect(ws.writtenBatches).toBe(0);
    expect((await client.nextFrame()).raw).toEqual(Buffer.from(frame.frame));
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, Buffer.from('héllo', 'utf8')));
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.BINARY, Buffer.from([1, 2])));
    // Writes call back in order: once the next batch's send() has resolved, both are written.
    await ws.send('next turn');
    expect(ws.writtenBatches).toBe(2);
    expect(ws.sendNumbered(null, Buffer.from('third'), true)).toBe(3);
    void ws.close(1000);
    expect(ws.sendNumbered(null, Buffer.from('late'), true)).toBe(0);
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'next turn'));
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'third'));
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.CLOSE, closePayload(1000)));
  });

  it('throws WS_ERR_INVALID_ARGUMENT for what send() and sendPrepared() refuse, and sends nothing', async () => {
    const server = await startServer();
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    const compressed = prepareFrame(true, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), 15);
    const calls: (() => number)[] = [
      () => ws.sendNumbered(compressed, compressed.payload, true),
      () => ws.sendNumbered({ firstByte: 0x81 } as never, Buffer.from('x'), true),
      () => ws.sendNumbered(null, 'a string' as never, true),
      () => ws.sendNumbered(null, Buffer.from([0x68, 0xc3, 0x28]), true),
    ];
    for (const call of calls) expect(call).toThrow(expect.objectContaining({ code: 'WS_ERR_INVALID_ARGUMENT' }));
    // Not UTF-8 is fine as binary.
    expect(ws.sendNumbered(null, Buffer.from([0x68, 0xc3, 0x28]), false)).toBe(1);
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.BINARY, Buffer.from([0x68, 0xc3, 0x28])));
    expect(ws.readyState).toBe('open');
  });
});

describe('drain()', () => {
  it('resolves at once when nothing is buffered, and once a large send has reached the kernel', async () => {
    const server = await startServer();
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    await ws.drain();
    void ws.send(Buffer.alloc(8 * 1024 * 1024, 1));
    expect(ws.bufferedAmount).toBeGreaterThan(0);
    const drained = ws.drain();
    // The peer reads, so the kernel takes it all.
    const frame = await client.nextFrame();
    expect(frame.payload.length).toBe(8 * 1024 * 1024);
    await drained;
    expect(ws.bufferedAmount).toBe(0);
  });

  it('rejects with WS_ERR_CLOSED when the connection closes first', async () => {
    const server = await startServer();
    const client = await rawConnect(server.port);
    // The peer stops reading: the 32 MiB cannot all reach the kernel.
    client.socket.pause();
    const ws = await server.connections.next();
    void ws.send(Buffer.alloc(32 * 1024 * 1024, 1)).catch(() => {});
    const drained = ws.drain();
    ws.terminate();
    await expect(drained).rejects.toMatchObject({ code: 'WS_ERR_CLOSED', closeCode: 1006 });
  });
});

describe('onRefused', () => {
  it('reports every refused handshake with its status, code and request', async () => {
    const refused: RefusedHandshake[] = [];
    const server = await startServer({
      allowRequest: (request) => request.url !== '/forbidden',
      onRefused: (info) => refused.push(info),
    });
    await rawHttp(server.port, upgradeRequest({ path: '/forbidden' }));
    await rawHttp(server.port, upgradeRequest({ headers: { 'Sec-WebSocket-Version': '8' } }));
    await rawHttp(server.port, upgradeRequest({ headers: { 'Sec-WebSocket-Extensions': 'a;;b' } }));
    expect(refused.map(({ status, code, message, request }) => ({ status, code, message, url: request?.url }))).toEqual([
      { status: 403, code: 'WS_ERR_HANDSHAKE_FORBIDDEN', message: 'the request was refused', url: '/forbidden' },
      { status: 426, code: 'WS_ERR_HANDSHAKE_VERSION', message: 'only WebSocket version 13 is supported', url: '/' },
      { status: 400, code: 'WS_ERR_HANDSHAKE_EXTENSIONS', message: expect.stringMatching(/^Sec-WebSocket-Extensions: /), url: '/' },
    ]);
  });

  it('reports a handshake timeout (408) with no request, and a hook that threw (500)', async () => {
    const refused: RefusedHandshake[] = [];
    const both = deferred();
    const server = await startServer({
      handshakeTimeout: 50,
      allowRequest: (request) => {
        if (request.url === '/throw') throw new Error('hook bug');
        return true;
      },
      onRefused: (info) => {
        refused.push(info);
        if (refused.length === 2) both.resolve();
      },
    });
    // A client that connects and sends nothing: cut off at handshakeTimeout.
    const silent = await openRawClient(server.port);
    await rawHttp(server.port, upgradeRequest({ path: '/throw' }));
    await silent.closed;
    await both.promise;
    expect(refused.map(({ status, code }) => ({ status, code })).sort((a, b) => a.status - b.status)).toEqual([
      { status: 408, code: 'WS_ERR_HANDSHAKE_TIMEOUT' },
      { status: 500, code: 'WS_ERR_HOOK_FAILED' },
    ]);
    expect(refused.find((info) => info.status === 408)!.request).toBeUndefined();
    expect(server.errors).toHaveLength(1);
  });
});

describe('send() with fragmentSize (RFC 6455 5.4)', () => {
  it('sends a text message as a first frame, continuations and a FIN frame, in order with other sends', async () => {
    const server = await startServer();
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    void ws.send('Hello', { fragmentSize: 2 });
    await ws.send('next');
    const frames = [await client.nextFrame(), await client.nextFrame(), await client.nextFrame(), await client.nextFrame()];
    expect(frames.map((f) => [f.fin, f.opcode, f.payload.toString()])).toEqual([
      [false, OP.TEXT, 'He'],
      [false, OP.CONT, 'll'],
      [true, OP.CONT, 'o'],
      [true, OP.TEXT, 'next'],
    ]);
  });

  it('compressed: RSV1 on the first frame only; the ws client reassembles and inflates it (RFC 7692 6.1)', async () => {
    const server = await startServer({ perMessageDeflate: { threshold: 0 } });
    const { ws: peer, messages } = await wsConnect(server.url, undefined, { perMessageDeflate: true });
    const ws = await server.connections.next();
    const text = 'compressible '.repeat(20_000);
    await ws.send(text, { fragmentSize: 1000 });
    const received = await messages.next();
    expect(received.isBinary).toBe(false);
    expect(received.data.toString()).toBe(text);
    expect(peer.extensions).toBe('permessage-deflate');
  });

  it('a 1 MiB binary message in 64 KiB fragments reaches the ws client intact', async () => {
    const server = await startServer();
    const { messages } = await wsConnect(server.url);
    const ws = await server.connections.next();
    const data = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    await ws.send(data, { fragmentSize: 64 * 1024 });
    const received = await messages.next();
    expect(received.isBinary).toBe(true);
    expect(received.data.equals(data)).toBe(true);
  });

  it('a fragmentSize that is not a positive integer rejects with WS_ERR_INVALID_ARGUMENT', async () => {
    const server = await startServer();
    await rawConnect(server.port);
    const ws = await server.connections.next();
    for (const fragmentSize of [0, -1, 1.5, Number.NaN]) {
      await expect(ws.send('x', { fragmentSize })).rejects.toMatchObject({ code: 'WS_ERR_INVALID_ARGUMENT' });
    }
  });
});
