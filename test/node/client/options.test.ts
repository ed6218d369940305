/**
 * connect()'s options: every bad one rejects with WS_ERR_INVALID_ARGUMENT (a WebSocketError with
 * a message naming the option) before anything is dialed, and the client's defaults are the
 * documented ones.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { ConnectError, WebSocketError, connect, type ClientOptions } from '../../../src/index.js';
import { CLIENT_DEFAULTS } from '../../../src/node/client/options.js';
import { cleanup, defer, settle } from '../helpers.js';
import { expectNothingDialed, startRawServer } from './helpers.js';

afterEach(cleanup);

const BAD: Array<[string, unknown]> = [
  ['options', null],
  ['options', 'fast'],
  ['handshakeTimeout', 0],
  ['handshakeTimeout', -1],
  ['handshakeTimeout', '1000'],
  ['handshakeTimeout', Number.POSITIVE_INFINITY],
  ['closeTimeout', 0],
  ['maxPayload', -1],
  ['maxPayload', 1.5],
  ['receiveHighWaterMark', 0],
  ['maxBufferedAmount', 0],
  ['pingInterval', -1],
  ['sendOverflow', 'drop'],
  ['perMessageDeflate', 'yes'],
  ['perMessageDeflate', { clientMaxWindowBits: 16 }],
  ['perMessageDeflate', { level: 10 }],
  ['perMessageDeflate', { serverNoContextTakeover: 'yes' }],
  ['protocols', [1]],
  ['protocols', ['two words']],
  ['protocols', ['dup', 'dup']],
  ['protocols', ['']],
  ['protocols', 'a,b'],
  ['headers', 'Cookie: a=1'],
  ['headers', { 'X-Number': 1 }],
  ['headers', { 'X-Injected': 'a\r\nEvil: 1' }],
  ['headers', { 'Bad Name': 'value' }],
  ['headers', { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' }],
  ['headers', { Host: 'elsewhere.example' }],
  ['headers', { upgrade: 'h2c' }],
  ['origin', 5],
  ['origin', 'https://a.example\r\nX: 1'],
  ['signal', {}],
  ['signal', 'abort'],
  ['rejectUnauthorized', 'false'],
  ['followRedirects', 1],
  ['maxRedirects', -1],
  ['maxRedirects', 101],
  ['maxRedirects', 1.5],
  ['proxy', 5],
  ['proxy', true],
  ['family', 5],
  ['lookup', 'dns'],
  ['createConnection', {}],
  ['servername', 5],
  ['http2', 'yes'],
  ['http2', 1],
];

describe('bad options: WS_ERR_INVALID_ARGUMENT before anything is dialed', () => {
  for (const [name, value] of BAD) {
    it(`${name}: ${JSON.stringify(value) ?? String(value)}`, async () => {
      const server = await startRawServer();
      const options = (name === 'options' ? value : { [name]: value }) as ClientOptions;
      const outcome = await settle(connect(server.url, options));
      if (outcome.ok) {
        defer(() => outcome.value.terminate());
        throw new Error('connect() resolved');
      }
      expect(outcome.error).toBeInstanceOf(WebSocketError);
      expect(outcome.error).not.toBeInstanceOf(ConnectError);
      expect((outcome.error as WebSocketError).code).toBe('WS_ERR_INVALID_ARGUMENT');
      await expectNothingDialed(server);
    });
  }

  it('an unsupported or malformed proxy URL is WS_ERR_INVALID_URL', async () => {
    for (const proxy of ['socks5://127.0.0.1:1080', 'https://proxy.example:443', 'http://[bad']) {
      const outcome = await settle(connect('ws://127.0.0.1:1/', { proxy }));
      expect(!outcome.ok && (outcome.error as ConnectError).code).toBe('WS_ERR_INVALID_URL');
    }
  });
});

describe('a connect that fails before dialing holds nothing', () => {
  it('the compression memory reserved for an offer is released when the request cannot be built', async () => {
    // A budget with room for one context-takeover pair (343 KiB at window 15, memLevel 8): if a
    // failed connect kept its reservation, the next offer would have to ask for no context takeover.
    const perMessageDeflate = { maxContextMemory: 400 * 1024 };
    for (let i = 0; i < 3; i++) {
      const outcome = await settle(connect('ws://127.0.0.1:1/', { perMessageDeflate, headers: { 'X-Bad': 'a\r\nInjected: 1' } }));
      expect(!outcome.ok && (outcome.error as WebSocketError).code).toBe('WS_ERR_INVALID_ARGUMENT');
    }
    const server = await startRawServer();
    const pending = connect(server.url, { perMessageDeflate });
    pending.catch(() => {});
    const peer = await server.peers.next();
    expect((await peer.request()).headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
  });

  it('clients made with one perMessageDeflate object share its context budget, also through other options objects', async () => {
    // Room for one context-takeover pair: the first offer takes it, the second asks for none.
    const perMessageDeflate = { maxContextMemory: 400 * 1024 };
    const server = await startRawServer();
    const offers: unknown[] = [];
    for (const headers of [{ 'X-Dial': '1' }, { 'X-Dial': '2' }]) {
      connect(server.url, { perMessageDeflate, headers }).catch(() => {});
      offers.push((await (await server.peers.next()).request()).headers['sec-websocket-extensions']);
    }
    expect(offers).toEqual([
      'permessage-deflate; client_max_window_bits',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits',
    ]);
  });
});

describe('defaults', () => {
  it('CLIENT_DEFAULTS: compression offered, certificates verified, no redirects (at most 10 when on), no proxy, HTTP/1.1', () => {
    expect(CLIENT_DEFAULTS).toEqual({ perMessageDeflate: true, rejectUnauthorized: true, followRedirects: false, maxRedirects: 10, proxy: false, http2: false });
  });
});
