/**
 * WebSockets Standard, "new WebSocket(url, protocols)" and the interface's attributes
 * (https://websockets.spec.whatwg.org/#dom-websocket-websocket), one test per rule.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, type WebSocketError } from '../../../src/index.js';
import { cleanup, startServer } from '../helpers.js';
import { logEvents } from './events-log.js';
import { startRawServer } from './raw-server.js';

afterEach(cleanup);

function syntaxErrorOf(run: () => unknown): DOMException {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe('SyntaxError');
    return error as DOMException;
  }
  throw new Error('expected a SyntaxError DOMException');
}

describe('the WebSocket(url, protocols) constructor', () => {
  it('step 2: a URL that does not parse throws a SyntaxError DOMException', () => {
    syntaxErrorOf(() => new WebSocket('ws://exa mple.com/'));
    // No base URL in Node: a relative URL fails to parse too.
    syntaxErrorOf(() => new WebSocket('/chat'));
  });

  it('steps 3-4 (current standard): http: becomes ws: and https: becomes wss:', async () => {
    const { port } = await startServer({ handler: () => undefined });
    const ws = new WebSocket(`http://127.0.0.1:${port}/path?q=1`);
    expect(ws.url).toBe(`ws://127.0.0.1:${port}/path?q=1`);
    // https: is mapped before anything is dialed (the attempt fails; only the URL matters here).
    const secure = new WebSocket('https://127.0.0.1:1/x');
    expect(secure.url).toBe('wss://127.0.0.1:1/x');
    const log = logEvents(secure);
    await log.closed;
    ws.close();
  });

  it('step 5: a scheme other than ws: or wss: throws a SyntaxError DOMException', () => {
    syntaxErrorOf(() => new WebSocket('ftp://example.com/'));
    syntaxErrorOf(() => new WebSocket('file:///tmp/socket'));
    syntaxErrorOf(() => new WebSocket('ws+unix:/tmp/app.sock'));
  });

  it('step 6: a URL with a fragment throws a SyntaxError DOMException, an empty fragment too', () => {
    syntaxErrorOf(() => new WebSocket('ws://example.com/#frag'));
    syntaxErrorOf(() => new WebSocket('ws://example.com/#'));
  });

  it('step 7: a string protocols argument is a list of that one string', async () => {
    const server = await startServer({ selectProtocol: (offered) => offered.join('|'), handler: () => undefined });
    const ws = new WebSocket(server.url, 'chat');
    const log = logEvents(ws);
    await log.next('open');
    expect(ws.protocol).toBe('chat');
    ws.close();
    await log.closed;
  });

  it('step 8: a subprotocol listed twice throws a SyntaxError DOMException (case-insensitively, as WPT requires)', () => {
    syntaxErrorOf(() => new WebSocket('ws://example.com/', ['chat', 'chat']));
    syntaxErrorOf(() => new WebSocket('ws://example.com/', ['echo', 'eCho']));
  });

  it('step 8: a subprotocol that is not a token throws a SyntaxError DOMException', () => {
    syntaxErrorOf(() => new WebSocket('ws://example.com/', ''));
    syntaxErrorOf(() => new WebSocket('ws://example.com/', ['foobar, foobar']));
    syntaxErrorOf(() => new WebSocket('ws://example.com/', 'a b'));
    syntaxErrorOf(() => new WebSocket('ws://example.com/', 'caf\u00e9'));
    syntaxErrorOf(() => new WebSocket('ws://example.com/', ['a\u0000']));
  });

  it('Web IDL: protocols is any iterable of strings, and other values become strings', async () => {
    const raw = await startRawServer(() => null);
    const fromSet = new WebSocket(raw.url, new Set(['a', 'b']));
    const fromNumber = new WebSocket(raw.url, 7 as unknown as string);
    await expect.poll(() => raw.requests.length).toBe(2);
    const offered = raw.requests.map((request) => request.headers['sec-websocket-protocol']).sort();
    expect(offered).toEqual(['7', 'a, b']);
    fromSet.close();
    fromNumber.close();
  });

  it('the readyState constants are on the interface object and its prototype, and cannot be changed', () => {
    expect([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED]).toEqual([0, 1, 2, 3]);
    const ws = new WebSocket('ws://127.0.0.1:1/');
    expect([ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED]).toEqual([0, 1, 2, 3]);
    expect(() => {
      (WebSocket as unknown as { OPEN: number }).OPEN = 5;
    }).toThrow(TypeError);
    expect(Object.getOwnPropertyDescriptor(WebSocket.prototype, 'CLOSED')).toMatchObject({ value: 3, writable: false, enumerable: true });
    ws.close();
  });

  it('a new WebSocket is CONNECTING, with empty protocol and extensions, binaryType "blob" and bufferedAmount 0', () => {
    const ws = new WebSocket('ws://127.0.0.1:1/');
    expect(ws.readyState).toBe(WebSocket.CONNECTING);
    expect(ws.protocol).toBe('');
    expect(ws.extensions).toBe('');
    expect(ws.binaryType).toBe('blob');
    expect(ws.bufferedAmount).toBe(0);
    expect(ws).toBeInstanceOf(EventTarget);
    expect(Object.prototype.toString.call(ws)).toBe('[object WebSocket]');
    ws.close();
  });

  it('the url attribute is the URL record, serialized', () => {
    const ws = new WebSocket('WS://Example.COM:80/a/../b?x');
    expect(ws.url).toBe('ws://example.com/b?x');
    ws.close();
  });

  it('undici extension: an options object with protocols and connect() options (headers, origin)', async () => {
    const raw = await startRawServer(() => null);
    const ws = new WebSocket(raw.url, { protocols: ['v2', 'v1'], headers: { Authorization: 'Bearer t0k' }, origin: 'https://app.example' });
    await expect.poll(() => raw.requests.length).toBe(1);
    const request = raw.requests[0]!;
    expect(request.headers['sec-websocket-protocol']).toBe('v2, v1');
    expect(request.headers['authorization']).toBe('Bearer t0k');
    expect(request.headers['origin']).toBe('https://app.example');
    ws.close();
  });

  it('undici extension: the options object\'s protocols follow the same rules (SyntaxError)', () => {
    syntaxErrorOf(() => new WebSocket('ws://example.com/', { protocols: ['x', 'X'] }));
  });

  it('an option of ours out of its bounds throws its WebSocketError at once', () => {
    let thrown: unknown;
    try {
      new WebSocket('ws://example.com/', { handshakeTimeout: -1 });
    } catch (error) {
      thrown = error;
    }
    expect((thrown as WebSocketError).code).toBe('WS_ERR_INVALID_ARGUMENT');
  });

  it('Web IDL: the constructor needs its url argument (TypeError)', () => {
    expect(() => new (WebSocket as unknown as new () => WebSocket)()).toThrow(TypeError);
  });
});
