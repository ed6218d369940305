/**
 * WebSockets Standard, close(code, reason) (https://websockets.spec.whatwg.org/#dom-websocket-close),
 * one test per rule, against a hand-written server so the close frame is checked byte for byte.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, type ErrorEvent } from '../../../src/index.js';
import { OP, cleanup, closePayload, serverFrame } from '../helpers.js';
import { logEvents } from './events-log.js';
import { startRawServer } from './raw-server.js';

afterEach(cleanup);

function domErrorName(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DOMException);
    return (error as DOMException).name;
  }
  return 'no exception';
}

/** An open WebSocket on a raw server, with the server's side of the connection. */
async function openPair() {
  const server = await startRawServer();
  const ws = new WebSocket(server.url);
  const log = logEvents(ws);
  const peer = await server.peers.next();
  await log.next('open');
  return { ws, log, peer };
}

describe('close(code, reason)', () => {
  it('step 1: a code other than 1000 or 3000-4999 throws an InvalidAccessError DOMException', () => {
    const ws = new WebSocket('ws://127.0.0.1:1/');
    for (const code of [0, 999, 1001, 1005, 1006, 1015, 2999, 5000, 65535]) {
      expect(domErrorName(() => ws.close(code))).toBe('InvalidAccessError');
    }
    // Nothing was closed by the calls that threw.
    expect(ws.readyState).toBe(WebSocket.CONNECTING);
    ws.close(1000);
  });

  it('step 1 after Web IDL [Clamp]: 1000.4 is 1000, 2999.5 rounds to 3000 (ties to even), NaN is 0', () => {
    const ws = new WebSocket('ws://127.0.0.1:1/');
    expect(domErrorName(() => ws.close(Number.NaN))).toBe('InvalidAccessError');
    expect(domErrorName(() => ws.close(4999.5))).toBe('InvalidAccessError'); // 5000
    expect(domErrorName(() => ws.close(2999.5))).toBe('no exception'); // 3000
    const other = new WebSocket('ws://127.0.0.1:1/');
    expect(domErrorName(() => other.close(1000.4))).toBe('no exception');
  });

  it('step 2: a reason over 123 bytes of UTF-8 throws a SyntaxError DOMException (bytes, not characters)', () => {
    const ws = new WebSocket('ws://127.0.0.1:1/');
    // 41 x U+20AC is 123 bytes; 42 is 126 bytes in 42 characters.
    expect(domErrorName(() => ws.close(1000, '\u20ac'.repeat(42)))).toBe('SyntaxError');
    expect(domErrorName(() => ws.close(1000, 'a'.repeat(124)))).toBe('SyntaxError');
    expect(domErrorName(() => ws.close(1000, '\u20ac'.repeat(41)))).toBe('no exception');
  });

  it('step 3: while CLOSING or CLOSED, close() does nothing (one close event, one close frame)', async () => {
    const { ws, log, peer } = await openPair();
    ws.close(3001, 'first');
    ws.close(3002, 'second');
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    const frame = await peer.nextFrame();
    expect(frame.opcode).toBe(OP.CLOSE);
    expect(frame.payload).toEqual(closePayload(3001, 'first'));
    peer.send(serverFrame(OP.CLOSE, closePayload(3001, 'first')));
    peer.socket.end();
    await log.closed;
    ws.close(3003);
    expect(log.types().filter((type) => type === 'close')).toHaveLength(1);
    await peer.closed;
  });

  it('step 3, not yet established: fail the WebSocket connection, CLOSING, then error and close 1006', async () => {
    // A server that never answers keeps the WebSocket CONNECTING.
    const server = await startRawServer(() => null);
    const ws = new WebSocket(server.url);
    const log = logEvents(ws);
    await expect.poll(() => server.requests.length).toBe(1);
    ws.close(1000, 'never mind');
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    const close = await log.closed;
    expect(log.types()).toEqual(['error', 'close']);
    expect(log.events.map((logged) => logged.readyState)).toEqual([WebSocket.CLOSED, WebSocket.CLOSED]);
    expect({ code: close.code, reason: close.reason, wasClean: close.wasClean }).toEqual({ code: 1006, reason: '', wasClean: false });
  });

  it('an aborted signal (options object) fails the connection like close() while connecting: error, then close 1006', async () => {
    const server = await startRawServer(() => null);
    const controller = new AbortController();
    const ws = new WebSocket(server.url, { signal: controller.signal });
    const log = logEvents(ws);
    await expect.poll(() => server.requests.length).toBe(1);
    controller.abort();
    const close = await log.closed;
    expect(log.types()).toEqual(['error', 'close']);
    expect(((log.events[0]!.event as ErrorEvent).error as { code: string }).code).toBe('WS_ERR_ABORTED');
    expect(close.code).toBe(1006);
  });

  it('step 3, open: starts the closing handshake with the code and reason as given, and CLOSING', async () => {
    const { ws, log, peer } = await openPair();
    ws.close(4000, 'bye \u00e9');
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    const frame = await peer.nextFrame();
    expect(frame.raw.subarray(0, 2)).toEqual(Buffer.from([0x88, 0x80 | (2 + Buffer.byteLength('bye \u00e9'))]));
    expect(frame.payload).toEqual(closePayload(4000, 'bye \u00e9'));
    peer.send(serverFrame(OP.CLOSE, closePayload(4000, 'ok')));
    peer.socket.end();
    const close = await log.closed;
    expect({ code: close.code, reason: close.reason, wasClean: close.wasClean }).toEqual({ code: 4000, reason: 'ok', wasClean: true });
  });

  it('step 3, open, a reason without a code: the code sent is 1000', async () => {
    const { ws, log, peer } = await openPair();
    (ws.close as (code?: number, reason?: string) => void)(undefined, 'done');
    const frame = await peer.nextFrame();
    expect(frame.payload).toEqual(closePayload(1000, 'done'));
    peer.send(serverFrame(OP.CLOSE, closePayload(1000)));
    peer.socket.end();
    await log.closed;
  });

  it('step 3, open, no code and no reason: 1000 is sent (Ws.close() cannot send an empty close frame; documented)', async () => {
    const { ws, log, peer } = await openPair();
    ws.close();
    const frame = await peer.nextFrame();
    expect(frame.payload).toEqual(closePayload(1000));
    peer.send(serverFrame(OP.CLOSE));
    peer.socket.end();
    const close = await log.closed;
    // The server's close frame had no code: the close code is 1005 (RFC 6455 7.1.5).
    expect(close.code).toBe(1005);
  });

  it('the close() note: messages sent before close() go out before the close frame', async () => {
    const { ws, log, peer } = await openPair();
    ws.send('one');
    ws.send(new Uint8Array([1, 2]));
    ws.close(1000);
    const frames = [await peer.nextFrame(), await peer.nextFrame(), await peer.nextFrame()];
    expect(frames.map((frame) => [frame.opcode, frame.payload.toString('hex')])).toEqual([
      [OP.TEXT, Buffer.from('one').toString('hex')],
      [OP.BINARY, '0102'],
      [OP.CLOSE, closePayload(1000).toString('hex')],
    ]);
    peer.send(serverFrame(OP.CLOSE, closePayload(1000)));
    peer.socket.end();
    await log.closed;
  });
});
