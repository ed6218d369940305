/**
 * WebSockets Standard, "Feedback from the protocol" (https://websockets.spec.whatwg.org/#feedback-from-the-protocol)
 * and the opening handshake's response checks, one test per rule: against our WebSocketServer,
 * and a hand-written server where the server's exact bytes matter.
 */

import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, type ErrorEvent } from '../../../src/index.js';
import { OP, cleanup, closePayload, serverFrame, startHttpServer, startServer } from '../helpers.js';
import { logEvents } from './events-log.js';
import { accept, startRawServer } from './raw-server.js';

afterEach(cleanup);

async function openRaw(extra: readonly string[] = [], protocols?: string[]) {
  const server = await startRawServer((request) => accept(request, extra));
  const ws = new WebSocket(server.url, protocols);
  const log = logEvents(ws);
  const peer = await server.peers.next();
  await log.next('open');
  return { ws, log, peer };
}

describe('when the WebSocket connection is established', () => {
  it('readyState is OPEN, extensions and protocol are set, then open fires', async () => {
    const server = await startServer({ selectProtocol: (offered) => offered[1], perMessageDeflate: true, handler: () => undefined });
    const ws = new WebSocket(server.url, ['one', 'two']);
    const log = logEvents(ws);
    let seen: [number, string, string] | null = null;
    ws.addEventListener('open', () => {
      seen = [ws.readyState, ws.protocol, ws.extensions];
    });
    await log.next('open');
    // The Sec-WebSocket-Extensions value our server answered with.
    expect(seen).toEqual([WebSocket.OPEN, 'two', 'permessage-deflate']);
    ws.close();
    await log.closed;
  });
});

describe('establish a WebSocket connection: the response', () => {
  it('a status other than 101 fails the connection: error, then close 1006 not clean, never open', async () => {
    const port = await startHttpServer(
      createServer().on('upgrade', (_request, socket) => {
        socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      }),
    );
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const log = logEvents(ws);
    const close = await log.closed;
    expect(log.types()).toEqual(['error', 'close']);
    const error = log.events[0]!.event as ErrorEvent;
    expect((error.error as { code: string; status: number }).code).toBe('WS_ERR_UNEXPECTED_RESPONSE');
    expect((error.error as { status: number }).status).toBe(403);
    expect([close.code, close.reason, close.wasClean]).toEqual([1006, '', false]);
  });

  it('a refused TCP connection fails it the same way: error, then close 1006', async () => {
    const server = await startRawServer();
    const port = server.port;
    await cleanup(); // the port is closed now
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const log = logEvents(ws);
    const close = await log.closed;
    expect(log.types()).toEqual(['error', 'close']);
    expect(((log.events[0]!.event as ErrorEvent).error as { code: string }).code).toBe('WS_ERR_CONNECT');
    expect(close.code).toBe(1006);
  });

  it('step 2: subprotocols were requested and the response selected none: fail the connection', async () => {
    const server = await startRawServer();
    const ws = new WebSocket(server.url, ['chat']);
    const log = logEvents(ws);
    const close = await log.closed;
    expect(log.types()).toEqual(['error', 'close']);
    expect(ws.protocol).toBe('');
    expect(((log.events[0]!.event as ErrorEvent).error as { code: string }).code).toBe('WS_ERR_INVALID_RESPONSE');
    expect([close.code, close.wasClean]).toEqual([1006, false]);
  });

  it('RFC 6455 4.1 via step 3: a subprotocol that was not offered fails the connection', async () => {
    const server = await startRawServer((request) => accept(request, ['Sec-WebSocket-Protocol: other']));
    const ws = new WebSocket(server.url, ['chat']);
    const log = logEvents(ws);
    await log.closed;
    expect(log.types()).toEqual(['error', 'close']);
  });
});

describe('when a WebSocket message has been received', () => {
  it('text: a message event whose data is the string, and origin the URL\'s origin', async () => {
    const { log, peer } = await openRaw();
    peer.send(serverFrame(OP.TEXT, 'h\u00e9llo \u{1d11e}'));
    const event = (await log.next('message')) as MessageEvent;
    expect(event).toBeInstanceOf(MessageEvent);
    expect(event.data).toBe('h\u00e9llo \u{1d11e}');
    expect(event.origin).toBe(`ws://127.0.0.1:${peer.socket.localPort}`);
  });

  it('binary with binaryType "blob": a Blob holding the bytes', async () => {
    const { log, peer } = await openRaw();
    peer.send(serverFrame(OP.BINARY, Buffer.from([0, 1, 254, 255])));
    const event = (await log.next('message')) as MessageEvent;
    expect(event.data).toBeInstanceOf(Blob);
    expect(Buffer.from(await (event.data as Blob).arrayBuffer())).toEqual(Buffer.from([0, 1, 254, 255]));
  });

  it('binary with binaryType "arraybuffer": an ArrayBuffer of exactly the message', async () => {
    const { ws, log, peer } = await openRaw();
    ws.binaryType = 'arraybuffer';
    peer.send(serverFrame(OP.BINARY, Buffer.from([9, 8, 7])));
    const event = (await log.next('message')) as MessageEvent;
    expect(event.data).toBeInstanceOf(ArrayBuffer);
    expect(Buffer.from(event.data as ArrayBuffer)).toEqual(Buffer.from([9, 8, 7]));
  });

  it('binary with binaryType "nodebuffer" (our extension): a Buffer', async () => {
    const { ws, log, peer } = await openRaw();
    ws.binaryType = 'nodebuffer';
    peer.send(serverFrame(OP.BINARY, Buffer.from([1, 2])));
    const event = (await log.next('message')) as MessageEvent;
    expect(Buffer.isBuffer(event.data)).toBe(true);
    expect(event.data).toEqual(Buffer.from([1, 2]));
  });

  it('binaryType is read when each message is dispatched, not when it arrived', async () => {
    const { ws, log, peer } = await openRaw();
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', () => {
      ws.binaryType = 'nodebuffer';
    });
    peer.send(Buffer.concat([serverFrame(OP.BINARY, Buffer.from([1])), serverFrame(OP.BINARY, Buffer.from([2]))]));
    const second = (await log.next('message', 1)) as MessageEvent;
    const first = log.events.find((logged) => logged.type === 'message')!.event as MessageEvent;
    expect(first.data).toBeInstanceOf(ArrayBuffer);
    expect(Buffer.isBuffer(second.data)).toBe(true);
  });

  it('setting binaryType to a value outside the enumeration is ignored (Web IDL)', async () => {
    const ws = new WebSocket('ws://127.0.0.1:1/');
    ws.binaryType = 'arraybuffer';
    ws.binaryType = 'text' as 'blob';
    expect(ws.binaryType).toBe('arraybuffer');
    ws.close();
  });

  it('step 1: once readyState is not OPEN (close() was called), later messages are not dispatched', async () => {
    const { ws, log, peer } = await openRaw();
    ws.addEventListener('message', () => ws.close(1000));
    peer.send(Buffer.concat([serverFrame(OP.TEXT, 'a'), serverFrame(OP.TEXT, 'b'), serverFrame(OP.TEXT, 'c')]));
    const frame = await peer.nextFrame();
    expect(frame.opcode).toBe(OP.CLOSE);
    peer.send(serverFrame(OP.CLOSE, closePayload(1000)));
    peer.socket.end();
    await log.closed;
    expect(log.events.filter((logged) => logged.type === 'message').map((logged) => (logged.event as MessageEvent).data)).toEqual(['a']);
  });
});

describe('when the WebSocket closing handshake is started', () => {
  it('by the server: readyState becomes CLOSING after the messages before the close frame', async () => {
    const { ws, log, peer } = await openRaw();
    const states: number[] = [];
    ws.addEventListener('message', () => states.push(ws.readyState));
    peer.send(Buffer.concat([serverFrame(OP.TEXT, 'last'), serverFrame(OP.CLOSE, closePayload(1001, 'going'))]));
    const echo = await peer.nextFrame();
    expect(echo.opcode).toBe(OP.CLOSE);
    expect(echo.payload).toEqual(closePayload(1001));
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    peer.socket.end();
    const close = await log.closed;
    expect(states).toEqual([WebSocket.OPEN]);
    expect([close.code, close.reason, close.wasClean]).toEqual([1001, 'going', true]);
  });
});

describe('when the WebSocket connection is closed', () => {
  it('cleanly: readyState CLOSED, then close with wasClean, the code and the reason; no error', async () => {
    const { log, peer } = await openRaw();
    peer.send(serverFrame(OP.CLOSE, closePayload(3005, 'r\u00e9son')));
    await peer.nextFrame();
    peer.socket.end();
    const close = await log.closed;
    expect(log.types()).toEqual(['open', 'close']);
    expect(log.events[1]!.readyState).toBe(WebSocket.CLOSED);
    expect(close).toBeInstanceOf(Event);
    expect([close.code, close.reason, close.wasClean]).toEqual([3005, 'r\u00e9son', true]);
  });

  it('a close frame without a code: close code 1005, reason ""', async () => {
    const { log, peer } = await openRaw();
    peer.send(serverFrame(OP.CLOSE));
    await peer.nextFrame();
    peer.socket.end();
    const close = await log.closed;
    expect([close.code, close.reason]).toEqual([1005, '']);
  });

  it('the transport lost without a closing handshake: close 1006, not clean, reason "", no error event', async () => {
    const { log, peer } = await openRaw();
    peer.socket.destroy();
    const close = await log.closed;
    expect(log.types()).toEqual(['open', 'close']);
    expect([close.code, close.reason, close.wasClean]).toEqual([1006, '', false]);
  });

  it('failed by us (the server broke the protocol): error, then close 1006 (no close frame was received)', async () => {
    const { log, peer } = await openRaw();
    // A masked frame from a server: RFC 6455 5.1, the client fails the connection with 1002.
    peer.send(Buffer.from([0x81, 0x81, 1, 2, 3, 4, 0x61 ^ 1]));
    const frame = await peer.nextFrame();
    expect(frame.opcode).toBe(OP.CLOSE);
    expect(frame.payload.readUInt16BE(0)).toBe(1002);
    peer.socket.end();
    const close = await log.closed;
    expect(log.types()).toEqual(['open', 'error', 'close']);
    expect(((log.events[1]!.event as ErrorEvent).error as { code: string }).code).toBe('WS_ERR_MASKED_FRAME');
    expect([close.code, close.reason, close.wasClean]).toEqual([1006, '', false]);
  });

  it('invalid UTF-8 in a text message fails the connection: error, then close 1006', async () => {
    const { log, peer } = await openRaw();
    peer.send(serverFrame(OP.TEXT, Buffer.from([0xc3, 0x28])));
    await peer.nextFrame();
    peer.socket.end();
    await log.closed;
    expect(log.types()).toEqual(['open', 'error', 'close']);
    expect(log.events.filter((logged) => logged.type === 'message')).toHaveLength(0);
  });
});
