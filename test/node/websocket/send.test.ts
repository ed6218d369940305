/**
 * WebSockets Standard, send(data) and bufferedAmount (https://websockets.spec.whatwg.org/#dom-websocket-send),
 * one test per rule; the frames are read byte for byte by a hand-written server.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, type ErrorEvent } from '../../../src/index.js';
import { OP, cleanup, closePayload, serverFrame, startServer, until } from '../helpers.js';
import { logEvents } from './events-log.js';
import { startRawServer } from './raw-server.js';

afterEach(cleanup);

async function openPair() {
  const server = await startRawServer();
  const ws = new WebSocket(server.url);
  const log = logEvents(ws);
  const peer = await server.peers.next();
  await log.next('open');
  return { ws, log, peer };
}

describe('send(data)', () => {
  it('while CONNECTING: throws an InvalidStateError DOMException and counts nothing', () => {
    const ws = new WebSocket('ws://127.0.0.1:1/');
    let thrown: unknown;
    try {
      ws.send('early');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DOMException);
    expect((thrown as DOMException).name).toBe('InvalidStateError');
    expect(ws.bufferedAmount).toBe(0);
    ws.close();
  });

  it('a string: one masked text frame of its UTF-8, bufferedAmount grows by that many bytes', async () => {
    const { ws, peer } = await openPair();
    ws.send('h\u00e9llo \u20ac');
    expect(ws.bufferedAmount).toBe(Buffer.byteLength('h\u00e9llo \u20ac'));
    const frame = await peer.nextFrame();
    expect([frame.fin, frame.opcode, frame.masked]).toEqual([true, OP.TEXT, true]);
    expect(frame.payload).toEqual(Buffer.from('h\u00e9llo \u20ac'));
  });

  it('a string with a lone surrogate is a USVString: the surrogate is sent as U+FFFD', async () => {
    const { ws, peer } = await openPair();
    ws.send('a\ud800b');
    expect(ws.bufferedAmount).toBe(5);
    const frame = await peer.nextFrame();
    expect(frame.payload).toEqual(Buffer.from([0x61, 0xef, 0xbf, 0xbd, 0x62]));
  });

  it('a value that is none of the types is converted to a string (Web IDL union)', async () => {
    const { ws, peer } = await openPair();
    ws.send(42 as unknown as string);
    const frame = await peer.nextFrame();
    expect([frame.opcode, frame.payload.toString()]).toEqual([OP.TEXT, '42']);
  });

  it('an ArrayBuffer: a binary frame of its bytes; bufferedAmount grows by its byteLength', async () => {
    const { ws, peer } = await openPair();
    ws.send(new Uint8Array([0, 1, 2, 255]).buffer);
    expect(ws.bufferedAmount).toBe(4);
    const frame = await peer.nextFrame();
    expect([frame.opcode, frame.payload.toString('hex')]).toEqual([OP.BINARY, '000102ff']);
  });

  it('an ArrayBufferView: only the section of the buffer it views', async () => {
    const { ws, peer } = await openPair();
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    ws.send(backing.subarray(2, 5));
    ws.send(new DataView(backing.buffer, 1, 2));
    expect(ws.bufferedAmount).toBe(5);
    expect((await peer.nextFrame()).payload.toString('hex')).toBe('010203');
    expect((await peer.nextFrame()).payload.toString('hex')).toBe('0901');
  });

  it('a Blob: a binary frame of its raw data, in order with the sends around it', async () => {
    const { ws, peer } = await openPair();
    ws.send('before');
    ws.send(new Blob([Buffer.from([7, 7]), 'x']));
    ws.send('after');
    expect(ws.bufferedAmount).toBe(6 + 3 + 5);
    const frames = [await peer.nextFrame(), await peer.nextFrame(), await peer.nextFrame()];
    expect(frames.map((frame) => [frame.opcode, frame.payload.toString('hex')])).toEqual([
      [OP.TEXT, Buffer.from('before').toString('hex')],
      [OP.BINARY, '070778'],
      [OP.TEXT, Buffer.from('after').toString('hex')],
    ]);
  });

  it('the bytes sent are those of the buffer at the time of the call, even when compressed later', async () => {
    const server = await startServer({
      perMessageDeflate: true,
      handler: async (ws) => {
        for await (const message of ws) await ws.send(message.data);
      },
    });
    const ws = new WebSocket(server.url, { perMessageDeflate: { threshold: 0 } });
    ws.binaryType = 'nodebuffer';
    const log = logEvents(ws);
    await log.next('open');
    expect(ws.extensions).toContain('permessage-deflate');
    // Large enough that zlib takes it in several steps, after send() has returned.
    const bytes = Buffer.alloc(4 << 20, 0x61);
    ws.send(bytes);
    bytes.fill(0x62);
    const echo = (await log.next('message')) as MessageEvent & { data: Buffer };
    expect(echo.data.length).toBe(4 << 20);
    // Every byte is still 'a' (compared in one go: a diff of 4 MiB would take minutes to print).
    expect(echo.data.equals(Buffer.alloc(4 << 20, 0x61))).toBe(true);
    ws.close();
    await log.closed;
  });
});

describe('send(data) behind a Blob', () => {
  it('a buffer sent while a Blob is still being read is sent with the bytes it had at the call', async () => {
    const { ws, peer } = await openPair();
    const bytes = new Uint8Array([1, 2, 3]);
    ws.send(new Blob(['blob']));
    ws.send(bytes);
    ws.send(bytes.buffer);
    bytes.fill(9);
    const frames = [await peer.nextFrame(), await peer.nextFrame(), await peer.nextFrame()];
    expect(frames.map((frame) => frame.payload.toString('hex'))).toEqual([Buffer.from('blob').toString('hex'), '010203', '010203']);
  });
});

describe('bufferedAmount', () => {
  it('falls back to 0 once the data is transmitted', async () => {
    const { ws, peer } = await openPair();
    ws.send('x'.repeat(1000));
    expect(ws.bufferedAmount).toBe(1000);
    await peer.nextFrame();
    await until(() => ws.bufferedAmount === 0, 'bufferedAmount back to 0');
  });

  it('once CLOSING, send() discards the data but bufferedAmount still grows', async () => {
    const { ws, log, peer } = await openPair();
    ws.close(1000);
    ws.send('dropped');
    ws.send(new Uint8Array(10));
    expect(ws.bufferedAmount).toBe(7 + 10);
    const frame = await peer.nextFrame();
    expect(frame.opcode).toBe(OP.CLOSE);
    peer.send(serverFrame(OP.CLOSE, closePayload(1000)));
    peer.socket.end();
    await log.closed;
    // Nothing but the close frame was written.
    expect(peer.frames.size).toBe(0);
  });

  it('once CLOSED, it does not reset: each send() adds to it', async () => {
    const { ws, log, peer } = await openPair();
    peer.socket.destroy();
    await log.closed;
    expect(ws.readyState).toBe(WebSocket.CLOSED);
    ws.send('abc');
    ws.send(new Blob(['de']));
    expect(ws.bufferedAmount).toBe(5);
  });
});

describe('flag the WebSocket as full', () => {
  it('data that cannot be buffered closes the connection, which fires error then close', async () => {
    const server = await startRawServer();
    const ws = new WebSocket(server.url, { maxBufferedAmount: 1 });
    const log = logEvents(ws);
    const peer = await server.peers.next();
    await log.next('open');
    ws.send('first'); // buffered until the end of this turn: bufferedAmount is over 1 now
    ws.send('second');
    const frames = [await peer.nextFrame(), await peer.nextFrame()];
    expect(frames.map((frame) => frame.opcode)).toEqual([OP.TEXT, OP.CLOSE]);
    expect(frames[1]!.payload.readUInt16BE(0)).toBe(1008);
    peer.socket.end();
    const close = await log.closed;
    expect(log.types()).toEqual(['open', 'error', 'close']);
    expect(((log.events[1]!.event as ErrorEvent).error as { code: string }).code).toBe('WS_ERR_BUFFER_FULL');
    expect(close.code).toBe(1006);
  });
});
