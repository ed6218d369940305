/**
 * RFC 8441's handshake, both roles, by values: the server's checks and statuses (the same codes as
 * over HTTP/1.1), the negotiation it shares with RFC 6455's handshake, the client's request
 * fields and its checks on the response.
 */

import { describe, expect, it } from 'vitest';
import { HandshakeError, WebSocketError } from '../../src/protocol/errors.js';
import {
  acceptExtendedConnect,
  buildExtendedConnectRequest,
  validateExtendedConnectResponse,
} from '../../src/protocol/extended-connect.js';
import type { HandshakeRequest, HeaderValue } from '../../src/protocol/handshake.js';
import { negotiatePermessageDeflate, type DeflateConfig } from '../../src/protocol/permessage-deflate.js';
import { thrown } from './helpers.js';

const DEFLATE: DeflateConfig = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

/** What Chromium 156 sends (test/interop/chromium-h2.test.ts sees it on the wire), minus its browser headers. */
function request(headers: Record<string, HeaderValue> = {}, method = 'CONNECT'): HandshakeRequest {
  const base: Record<string, HeaderValue> = {
    ':method': method,
    ':authority': 'localhost:8443',
    ':scheme': 'https',
    ':path': '/chat',
    ':protocol': 'websocket',
    origin: 'https://localhost:8443',
    'sec-websocket-version': '13',
    'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
  };
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) delete base[name];
    else base[name] = value;
  }
  return { method, httpVersion: '2.0', headers: base };
}

function refusal(req: HandshakeRequest): { code: string; status: number; headers: Record<string, string> } {
  const error = thrown(() => acceptExtendedConnect(req, {}));
  expect(error).toBeInstanceOf(HandshakeError);
  const { code, status, headers } = error as HandshakeError;
  return { code, status, headers: { ...headers } };
}

describe('acceptExtendedConnect (RFC 8441 4, 5)', () => {
  it('accepts a WebSocket CONNECT with a 200 and no Sec-WebSocket-Accept', () => {
    const accepted = acceptExtendedConnect(request(), {});
    expect(accepted).toEqual({ headers: { ':status': '200' }, protocol: '', extensions: '', deflate: null });
  });

  it('needs no Sec-WebSocket-Key, and ignores one', () => {
    expect(acceptExtendedConnect(request({ 'sec-websocket-key': 'not a key' }), {}).headers).toEqual({ ':status': '200' });
  });

  it('negotiates the subprotocol and permessage-deflate as over HTTP/1.1, in lower-case fields', () => {
    const accepted = acceptExtendedConnect(request({ 'sec-websocket-protocol': 'chat.v1, chat.v2' }), {
      selectProtocol: (offered) => offered.at(-1),
      negotiateExtensions: (offers) => negotiatePermessageDeflate(offers, DEFLATE),
    });
    expect(accepted.headers).toEqual({
      ':status': '200',
      'sec-websocket-protocol': 'chat.v2',
      'sec-websocket-extensions': 'permessage-deflate',
    });
    expect(accepted.protocol).toBe('chat.v2');
    expect(accepted.deflate).toMatchObject({ ourMaxWindowBits: 15, theirMaxWindowBits: 15 });
  });

  it('adds extra response fields in lower case, and refuses ones the handshake writes or HTTP/2 forbids', () => {
    expect(acceptExtendedConnect(request(), { headers: { 'Set-Cookie': 'a=b' } }).headers).toEqual({ ':status': '200', 'set-cookie': 'a=b' });
    for (const name of ['Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'Transfer-Encoding', ':status']) {
      const error = thrown(() => acceptExtendedConnect(request(), { headers: { [name]: 'x' } }));
      expect(error, name).toBeInstanceOf(WebSocketError);
      expect((error as WebSocketError).code).toBe('WS_ERR_INVALID_ARGUMENT');
    }
  });

  it.each([
    ['a GET', request({}, 'GET'), 'WS_ERR_HANDSHAKE_METHOD', 405, { Allow: 'CONNECT' }],
    ['a CONNECT without :protocol', request({ ':protocol': undefined }), 'WS_ERR_HANDSHAKE_UPGRADE', 400, {}],
    ['another :protocol', request({ ':protocol': 'connect-udp' }), 'WS_ERR_HANDSHAKE_UPGRADE', 400, {}],
    ['no :path', request({ ':path': undefined }), 'WS_ERR_HANDSHAKE_UPGRADE', 400, {}],
    ['no :scheme', request({ ':scheme': undefined }), 'WS_ERR_HANDSHAKE_UPGRADE', 400, {}],
    ['no :authority', request({ ':authority': undefined }), 'WS_ERR_HANDSHAKE_HOST', 400, {}],
    ['version 8', request({ 'sec-websocket-version': '8' }), 'WS_ERR_HANDSHAKE_VERSION', 426, { 'Sec-WebSocket-Version': '13' }],
    ['no version', request({ 'sec-websocket-version': undefined }), 'WS_ERR_HANDSHAKE_VERSION', 426, { 'Sec-WebSocket-Version': '13' }],
    ['repeated subprotocols', request({ 'sec-websocket-protocol': 'a, a' }), 'WS_ERR_HANDSHAKE_PROTOCOL', 400, {}],
    ['a malformed extension offer', request({ 'sec-websocket-extensions': 'permessage-deflate; x="' }), 'WS_ERR_HANDSHAKE_EXTENSIONS', 400, {}],
  ])('refuses %s: %s %i', (_name, req, code, status, headers) => {
    expect(refusal(req)).toEqual({ code, status, headers });
  });

  it('accepts :protocol in any case (an HTTP Upgrade Token) and Host in place of :authority', () => {
    expect(acceptExtendedConnect(request({ ':protocol': 'WebSocket' }), {}).headers[':status']).toBe('200');
    expect(acceptExtendedConnect(request({ ':authority': undefined, host: 'localhost' }), {}).headers[':status']).toBe('200');
  });

  it('a selectProtocol that returns what was not offered is the policy\'s bug: WS_ERR_INVALID_ARGUMENT', () => {
    const error = thrown(() => acceptExtendedConnect(request({ 'sec-websocket-protocol': 'a' }), { selectProtocol: () => 'b' }));
    expect((error as WebSocketError).code).toBe('WS_ERR_INVALID_ARGUMENT');
  });
});

describe('buildExtendedConnectRequest', () => {
  it('writes the pseudo-header fields and the handshake fields, in lower case', () => {
    expect(
      buildExtendedConnectRequest({
        scheme: 'https',
        authority: 'example.com:8443',
        path: '/chat?room=1',
        origin: 'https://example.com',
        protocols: ['chat.v2', 'chat.v1'],
        extensions: 'permessage-deflate; client_max_window_bits',
        headers: { Authorization: 'Bearer abc', Cookie: 'a=b' },
      }),
    ).toEqual({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'https',
      ':authority': 'example.com:8443',
      ':path': '/chat?room=1',
      'sec-websocket-version': '13',
      origin: 'https://example.com',
      'sec-websocket-protocol': 'chat.v2, chat.v1',
      'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
      authorization: 'Bearer abc',
      cookie: 'a=b',
    });
  });

  it.each([
    ['Host', { Host: 'x' }],
    ['Sec-WebSocket-Key', { 'Sec-WebSocket-Key': 'x' }],
    ['Connection', { Connection: 'close' }],
    ['Keep-Alive', { 'Keep-Alive': '1' }],
    ['TE', { TE: 'trailers' }],
    ['a name that is not a token', { 'a b': 'x' }],
    ['a value with CR LF', { 'X-A': 'a\r\nb: c' }],
  ])('refuses an extra header %s (WS_ERR_INVALID_ARGUMENT)', (_name, headers) => {
    const error = thrown(() => buildExtendedConnectRequest({ scheme: 'http', authority: 'a', path: '/', headers }));
    expect((error as WebSocketError).code).toBe('WS_ERR_INVALID_ARGUMENT');
  });

  it('refuses a bad path, authority or subprotocol list', () => {
    for (const spec of [
      { scheme: 'http' as const, authority: 'a', path: 'no-slash' },
      { scheme: 'http' as const, authority: 'a/b', path: '/' },
      { scheme: 'http' as const, authority: 'a', path: '/', protocols: ['x', 'x'] },
    ]) {
      expect((thrown(() => buildExtendedConnectRequest(spec)) as WebSocketError).code).toBe('WS_ERR_INVALID_ARGUMENT');
    }
  });
});

describe('validateExtendedConnectResponse', () => {
  const expected = { protocols: ['chat'], deflate: DEFLATE };

  it('takes a 200 with the agreement, and a bare 2xx', () => {
    expect(
      validateExtendedConnectResponse(
        { status: 200, headers: { ':status': '200', 'sec-websocket-protocol': 'chat', 'sec-websocket-extensions': 'permessage-deflate' } },
        expected,
      ),
    ).toMatchObject({ protocol: 'chat', extensions: 'permessage-deflate', deflate: { ourMaxWindowBits: 15 } });
    expect(validateExtendedConnectResponse({ status: 204, headers: {} }, expected)).toEqual({ protocol: '', extensions: '', deflate: null });
  });

  it.each([
    ['a 404', { status: 404, headers: {} }, 'WS_ERR_HANDSHAKE_STATUS', 404],
    ['a 101 (HTTP/2 has no upgrade)', { status: 101, headers: {} }, 'WS_ERR_HANDSHAKE_STATUS', 101],
    ['a subprotocol not offered', { status: 200, headers: { 'sec-websocket-protocol': 'other' } }, 'WS_ERR_HANDSHAKE_PROTOCOL', 200],
    ['an extension not offered', { status: 200, headers: { 'sec-websocket-extensions': 'x-other' } }, 'WS_ERR_HANDSHAKE_EXTENSIONS', 200],
    ['deflate parameters not offered', { status: 200, headers: { 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits=16' } }, 'WS_ERR_HANDSHAKE_EXTENSIONS', 200],
  ])('refuses %s', (_name, response, code, status) => {
    const error = thrown(() => validateExtendedConnectResponse(response, expected)) as HandshakeError;
    expect(error).toBeInstanceOf(HandshakeError);
    expect({ code: error.code, status: error.status }).toEqual({ code, status });
  });
});
