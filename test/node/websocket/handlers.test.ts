/**
 * The event handler attributes (HTML Standard, "event handler IDL attributes", which the
 * WebSocket interface's onopen/onmessage/onerror/onclose are) and the event interfaces
 * (WebSockets Standard, "The CloseEvent interface"; HTML Standard, ErrorEvent).
 */

import { afterEach, describe, expect, it } from 'vitest';
import { CloseEvent, ErrorEvent, WebSocket } from '../../../src/index.js';
import { OP, cleanup, serverFrame } from '../helpers.js';
import { logEvents } from './events-log.js';
import { startRawServer } from './raw-server.js';

afterEach(cleanup);

describe('event handler IDL attributes', () => {
  it('each of onopen, onmessage, onerror, onclose receives its event, with this the WebSocket', async () => {
    const server = await startRawServer();
    const ws = new WebSocket(server.url);
    const seen: string[] = [];
    let self: unknown;
    ws.onopen = function (this: WebSocket, event) {
      self = this;
      seen.push(event.type);
    };
    ws.onmessage = (event) => seen.push(`${event.type}:${String(event.data)}`);
    ws.onerror = (event) => seen.push(event.type);
    const closed = new Promise<void>((resolve) => {
      ws.onclose = (event) => {
        seen.push(`${event.type}:${event.code}`);
        resolve();
      };
    });
    const peer = await server.peers.next();
    peer.send(serverFrame(OP.TEXT, 'hi'));
    // Then a protocol error: error, then close.
    peer.send(Buffer.from([0x83, 0x00]));
    await closed;
    expect(self).toBe(ws);
    expect(seen).toEqual(['open', 'message:hi', 'error', 'close:1006']);
  });

  it('a new value replaces the handler (one call), and keeps its place before later listeners', async () => {
    const server = await startRawServer();
    const ws = new WebSocket(server.url);
    const log = logEvents(ws);
    const order: string[] = [];
    ws.onmessage = () => order.push('first handler');
    ws.addEventListener('message', () => order.push('listener'));
    ws.onmessage = () => order.push('second handler');
    const peer = await server.peers.next();
    peer.send(serverFrame(OP.TEXT, 'x'));
    await log.next('message');
    expect(order).toEqual(['second handler', 'listener']);
  });

  it('null (or a non-function) removes the handler; setting one again adds it after the others', async () => {
    const server = await startRawServer();
    const ws = new WebSocket(server.url);
    const log = logEvents(ws);
    const order: string[] = [];
    ws.onmessage = () => order.push('handler');
    ws.addEventListener('message', () => order.push('listener'));
    ws.onmessage = null;
    expect(ws.onmessage).toBeNull();
    ws.onmessage = 'not a function' as unknown as null;
    expect(ws.onmessage).toBeNull();
    const handler = (): void => void order.push('handler again');
    ws.onmessage = handler;
    expect(ws.onmessage).toBe(handler);
    const peer = await server.peers.next();
    peer.send(serverFrame(OP.TEXT, 'x'));
    await log.next('message');
    expect(order).toEqual(['listener', 'handler again']);
  });

  it('the attributes start null', () => {
    const ws = new WebSocket('ws://127.0.0.1:1/');
    expect([ws.onopen, ws.onmessage, ws.onerror, ws.onclose]).toEqual([null, null, null, null]);
    ws.close();
  });
});

describe('the CloseEvent interface', () => {
  it('CloseEventInit defaults: wasClean false, code 0, reason ""; it is an Event that does not bubble', () => {
    const event = new CloseEvent('close');
    expect([event.type, event.wasClean, event.code, event.reason, event.bubbles, event.cancelable]).toEqual(['close', false, 0, '', false, false]);
    expect(event).toBeInstanceOf(Event);
    expect(Object.prototype.toString.call(event)).toBe('[object CloseEvent]');
  });

  it('the attributes return what they were initialized to, converted by Web IDL (unsigned short, USVString)', () => {
    const event = new CloseEvent('close', { wasClean: true, code: 65536 + 1000, reason: 'a\udc00' });
    expect([event.wasClean, event.code, event.reason]).toEqual([true, 1000, 'a\ufffd']);
    expect(() => {
      (event as unknown as { code: number }).code = 1;
    }).toThrow(TypeError);
  });
});

describe('ErrorEvent', () => {
  it('carries message and error; filename, lineno and colno default to empty', () => {
    const cause = new Error('boom');
    const event = new ErrorEvent('error', { message: 'boom', error: cause });
    expect([event.type, event.message, event.error, event.filename, event.lineno, event.colno]).toEqual(['error', 'boom', cause, '', 0, 0]);
    expect(event).toBeInstanceOf(Event);
  });
});
