/**
 * The client's opening handshake (RFC 6455 4.1), by bytes: the key, the exact request head and
 * every refusal of it; every check on the server's response, with its code; the RFC's sample
 * exchange; and the two roles of the core talking to each other through real bytes (the request
 * parsed back, acceptHandshake, parseResponseHead, validateClientResponse), including a property
 * that the two sides of every permessage-deflate negotiation agree.
 */

import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildClientRequest,
  generateHandshakeKey,
  validateClientResponse,
  type ClientExpectation,
  type ClientHandshakeRequest,
  type ClientHandshakeResponse,
} from '../../src/protocol/client-handshake.js';
import { HandshakeError } from '../../src/protocol/errors.js';
import { acceptHandshake, type HandshakeRequest, type HeaderValue } from '../../src/protocol/handshake.js';
import { parseResponseHead } from '../../src/protocol/http-response.js';
import {
  buildDeflateOffer,
  negotiatePermessageDeflate,
  type DeflateConfig,
} from '../../src/protocol/permessage-deflate.js';
import { expectWebSocketError, thrown } from './helpers.js';

const sha1 = (s: string): string => createHash('sha1').update(s).digest('base64');

/** RFC 6455 1.3 / 4.2.2: the sample nonce and its accept value. */
const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
/** The 16 bytes of the sample nonce: the ASCII text "the sample nonce". */
const SAMPLE_NONCE = new TextEncoder().encode('the sample nonce');

const DEFLATE: DeflateConfig = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

describe('generateHandshakeKey', () => {
  it('encodes the RFC 6455 sample nonce as dGhlIHNhbXBsZSBub25jZQ==', () => {
    expect(SAMPLE_NONCE).toHaveLength(16);
    expect(generateHandshakeKey(SAMPLE_NONCE)).toBe(SAMPLE_KEY);
  });

  it('is base64 of the 16 bytes: 24 characters ending in "==" (checked against Buffer on random bytes)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const key = generateHandshakeKey(bytes);
        expect(key).toBe(Buffer.from(bytes).toString('base64'));
        expect(key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      }),
      { seed: 4648, numRuns: 500 },
    );
    expect(generateHandshakeKey(new Uint8Array(16))).toBe('AAAAAAAAAAAAAAAAAAAAAA==');
    expect(generateHandshakeKey(new Uint8Array(16).fill(255))).toBe('/////////////////////w==');
  });

  it.each([0, 15, 17, 32])('refuses %i bytes: WS_ERR_INVALID_ARGUMENT', (length) => {
    expectWebSocketError(() => generateHandshakeKey(new Uint8Array(length)), 'WS_ERR_INVALID_ARGUMENT');
  });
});

// ---- the request ------------------------------------------------------------------------------

const BASE: ClientHandshakeRequest = { path: '/chat', host: 'server.example.com', key: SAMPLE_KEY };

describe('buildClientRequest: the exact request head', () => {
  it('writes the minimal request', () => {
    expect(buildClientRequest(BASE)).toBe(
      'GET /chat HTTP/1.1\r\n' +
        'Host: server.example.com\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        'Sec-WebSocket-Version: 13\r\n' +
        '\r\n',
    );
  });

  it('writes the RFC 6455 1.2 request: Origin, subprotocols, then the extension offer and extra headers', () => {
    expect(
      buildClientRequest({
        ...BASE,
        host: 'server.example.com:8080',
        path: '/chat?room=1&x=%20y',
        origin: 'http://example.com',
        protocols: ['chat', 'superchat'],
        extensions: buildDeflateOffer(DEFLATE),
        headers: { Cookie: 'id=1', Authorization: 'Bearer abc' },
      }),
    ).toBe(
      'GET /chat?room=1&x=%20y HTTP/1.1\r\n' +
        'Host: server.example.com:8080\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        'Sec-WebSocket-Version: 13\r\n' +
        'Origin: http://example.com\r\n' +
        'Sec-WebSocket-Protocol: chat, superchat\r\n' +
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' +
        'Cookie: id=1\r\n' +
        'Authorization: Bearer abc\r\n' +
        '\r\n',
    );
  });

  it('leaves out an empty protocol list and an empty extension offer', () => {
    expect(buildClientRequest({ ...BASE, protocols: [], extensions: '' })).toBe(buildClientRequest(BASE));
  });

  it('accepts an IPv6 literal host with a port', () => {
    expect(buildClientRequest({ ...BASE, host: '[::1]:8080' })).toContain('\r\nHost: [::1]:8080\r\n');
  });

  it.each([
    ['an empty path', { path: '' }],
    ['a path not starting with "/"', { path: 'chat' }],
    ['an absolute URL as the path', { path: 'ws://x/chat' }],
    ['a space in the path', { path: '/a b' }],
    ['CR LF in the path', { path: '/a\r\nX: y' }],
    ['a fragment in the path (RFC 6455 3)', { path: '/a#b' }],
    ['non-ASCII in the path', { path: '/é' }],
    ['an empty host', { host: '' }],
    ['CR LF in the host', { host: 'a\r\nX: y' }],
    ['a space in the host', { host: 'a b' }],
    ['userinfo in the host', { host: 'user@host' }],
    ['a path in the host', { host: 'host/x' }],
    ['a key of 23 characters', { key: 'dGhlIHNhbXBsZSBub25jZQ=' }],
    ['a key with CR LF', { key: 'dGhlIHNhbXBsZSBub25j\r\n==' }],
    ['CR LF in the origin', { origin: 'http://a\r\nX: y' }],
    ['a NUL in the origin', { origin: 'http://a\u0000' }],
    ['a subprotocol that is not a token', { protocols: ['chat room'] }],
    ['an empty subprotocol', { protocols: [''] }],
    ['a subprotocol with a comma', { protocols: ['a,b'] }],
    ['a duplicated subprotocol', { protocols: ['chat', 'superchat', 'chat'] }],
    ['a malformed extension offer', { extensions: 'permessage-deflate;' }],
    ['CR LF in the extension offer', { extensions: 'permessage-deflate\r\nX: y' }],
    ['CR LF in an extra header value', { headers: { Cookie: 'a\r\nX: y' } }],
    ['an extra header name that is not a token', { headers: { 'X Y': '1' } }],
    ['an extra Host header', { headers: { Host: 'other.example.com' } }],
    ['an extra Upgrade header', { headers: { upgrade: 'h2c' } }],
    ['an extra Connection header', { headers: { Connection: 'close' } }],
    ['an extra Sec-WebSocket-Key header', { headers: { 'Sec-WebSocket-Key': SAMPLE_KEY } }],
    ['an extra Sec-WebSocket-Version header', { headers: { 'sec-websocket-version': '8' } }],
    ['an extra Sec-WebSocket-Protocol header', { headers: { 'Sec-WebSocket-Protocol': 'chat' } }],
    ['an extra Sec-WebSocket-Extensions header', { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' } }],
    ['an extra Origin header (spec.origin sets it)', { headers: { Origin: 'http://example.com' } }],
    ['an extra Content-Length header (no body)', { headers: { 'Content-Length': '0' } }],
    ['an extra Transfer-Encoding header (no body)', { headers: { 'Transfer-Encoding': 'chunked' } }],
  ] as Array<[string, Partial<ClientHandshakeRequest>]>)('refuses %s: WS_ERR_INVALID_ARGUMENT', (_what, change) => {
    expectWebSocketError(() => buildClientRequest({ ...BASE, ...change }), 'WS_ERR_INVALID_ARGUMENT');
  });

  it('says why it refuses', () => {
    expect(thrown(() => buildClientRequest({ ...BASE, protocols: ['a', 'a'] }))).toMatchObject({
      message: 'subprotocol "a" is listed twice',
    });
    expect(thrown(() => buildClientRequest({ ...BASE, headers: { host: 'x' } }))).toMatchObject({
      message: 'header "host" is written by the handshake itself and cannot be set',
    });
    expect(thrown(() => buildClientRequest({ ...BASE, extensions: 'a;' }))).toMatchObject({
      message:
        'the extension offer is malformed: Sec-WebSocket-Extensions: expected a parameter name, found the end at offset 2',
    });
  });
});

// ---- the response -----------------------------------------------------------------------------

function response(headers: Record<string, HeaderValue> = {}, status = 101): ClientHandshakeResponse {
  const base: Record<string, HeaderValue> = {
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-accept': SAMPLE_ACCEPT,
  };
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) delete base[name];
    else base[name] = value;
  }
  return { status, headers: base };
}

const EXPECTED: ClientExpectation = { key: SAMPLE_KEY, protocols: [], deflate: null, sha1Base64: sha1 };

function refusedWith(res: ClientHandshakeResponse, expected: Partial<ClientExpectation>, code: string, message?: string): HandshakeError {
  const error = thrown(() => validateClientResponse(res, { ...EXPECTED, ...expected }));
  expect(error).toBeInstanceOf(HandshakeError);
  const e = error as HandshakeError;
  expect({ code: e.code, status: e.status }).toEqual({ code, status: res.status });
  if (message !== undefined) expect(e.message).toBe(message);
  return e;
}

describe('validateClientResponse: accepted responses', () => {
  it('accepts the RFC 6455 1.3 response to the sample key', () => {
    expect(validateClientResponse(response(), EXPECTED)).toEqual({ protocol: '', extensions: '', deflate: null });
  });

  it.each(['websocket', 'WebSocket', 'WEBSOCKET', ' websocket\t'])('accepts Upgrade: %j', (upgrade) => {
    expect(validateClientResponse(response({ upgrade }), EXPECTED).protocol).toBe('');
  });

  it.each(['Upgrade', 'upgrade', 'keep-alive, Upgrade', ['keep-alive', 'UPGRADE']])('accepts Connection: %j', (connection) => {
    expect(validateClientResponse(response({ connection }), EXPECTED).protocol).toBe('');
  });

  it('accepts spaces around the accept value', () => {
    expect(validateClientResponse(response({ 'sec-websocket-accept': ` ${SAMPLE_ACCEPT} ` }), EXPECTED).deflate).toBeNull();
  });

  it('returns the subprotocol the server selected among those offered', () => {
    expect(
      validateClientResponse(response({ 'sec-websocket-protocol': 'superchat' }), {
        ...EXPECTED,
        protocols: ['chat', 'superchat'],
      }).protocol,
    ).toBe('superchat');
    // The server may select none of them.
    expect(validateClientResponse(response(), { ...EXPECTED, protocols: ['chat'] }).protocol).toBe('');
  });

  it('returns the deflate agreement and the extensions in use, when offered and accepted', () => {
    expect(
      validateClientResponse(
        response({ 'sec-websocket-extensions': 'PerMessage-Deflate; Server_No_Context_Takeover; client_max_window_bits="10"' }),
        { ...EXPECTED, deflate: DEFLATE },
      ),
    ).toEqual({
      protocol: '',
      extensions: 'permessage-deflate; server_no_context_takeover; client_max_window_bits=10',
      deflate: { ourNoContextTakeover: false, theirNoContextTakeover: true, ourMaxWindowBits: 10, theirMaxWindowBits: 15 },
    });
  });

  it('offered but declined (no header, or an empty list): no deflate', () => {
    expect(validateClientResponse(response(), { ...EXPECTED, deflate: DEFLATE })).toEqual({
      protocol: '',
      extensions: '',
      deflate: null,
    });
    expect(validateClientResponse(response({ 'sec-websocket-extensions': ' , ' }), { ...EXPECTED, deflate: DEFLATE }).deflate).toBeNull();
  });
});

describe('validateClientResponse: refusals (RFC 6455 4.1, in order), each with its code', () => {
  it.each([200, 301, 302, 400, 401, 403, 404, 426, 500, 503, 100])(
    'status %i: WS_ERR_HANDSHAKE_STATUS, with that status',
    (status) => {
      refusedWith(response({}, status), {}, 'WS_ERR_HANDSHAKE_STATUS', `expected status 101, got ${status}`);
    },
  );

  it('checks the status first: a 404 with no WebSocket header is WS_ERR_HANDSHAKE_STATUS', () => {
    refusedWith({ status: 404, headers: {} }, {}, 'WS_ERR_HANDSHAKE_STATUS');
  });

  it.each([
    ['missing', undefined, 'the response has no Upgrade header'],
    ['"h2c"', 'h2c', 'the Upgrade header is "h2c", not "websocket"'],
    ['a list holding websocket', 'websocket, h2c', 'the Upgrade header is "websocket, h2c", not "websocket"'],
    ['"websockets"', 'websockets', 'the Upgrade header is "websockets", not "websocket"'],
    ['empty', '', 'the Upgrade header is "", not "websocket"'],
  ])('Upgrade %s: WS_ERR_HANDSHAKE_UPGRADE', (_what, upgrade, message) => {
    refusedWith(response({ upgrade }), {}, 'WS_ERR_HANDSHAKE_UPGRADE', message);
  });

  it.each([
    ['missing', undefined, 'the response has no Connection header'],
    ['"keep-alive"', 'keep-alive', 'the Connection header "keep-alive" does not list "Upgrade"'],
    ['"upgraded"', 'upgraded', 'the Connection header "upgraded" does not list "Upgrade"'],
    ['"keep-alive upgrade"', 'keep-alive upgrade', 'the Connection header "keep-alive upgrade" does not list "Upgrade"'],
  ])('Connection %s: WS_ERR_HANDSHAKE_CONNECTION', (_what, connection, message) => {
    refusedWith(response({ connection }), {}, 'WS_ERR_HANDSHAKE_CONNECTION', message);
  });

  it.each([
    ['missing', undefined, 'the response has no Sec-WebSocket-Accept header'],
    ['for another key', sha1('x'), `Sec-WebSocket-Accept is "${sha1('x')}", expected "${SAMPLE_ACCEPT}"`],
    ['the key itself', SAMPLE_KEY, `Sec-WebSocket-Accept is "${SAMPLE_KEY}", expected "${SAMPLE_ACCEPT}"`],
    ['in another case', SAMPLE_ACCEPT.toLowerCase(), `Sec-WebSocket-Accept is "${SAMPLE_ACCEPT.toLowerCase()}", expected "${SAMPLE_ACCEPT}"`],
    ['twice', [SAMPLE_ACCEPT, SAMPLE_ACCEPT], `Sec-WebSocket-Accept is "${SAMPLE_ACCEPT}, ${SAMPLE_ACCEPT}", expected "${SAMPLE_ACCEPT}"`],
    ['empty', '', `Sec-WebSocket-Accept is "", expected "${SAMPLE_ACCEPT}"`],
  ])('Sec-WebSocket-Accept %s: WS_ERR_HANDSHAKE_ACCEPT', (_what, accept, message) => {
    refusedWith(response({ 'sec-websocket-accept': accept }), {}, 'WS_ERR_HANDSHAKE_ACCEPT', message);
  });

  it('cuts a long received value short in the message', () => {
    const error = refusedWith(response({ 'sec-websocket-accept': 'a'.repeat(10_000) }), {}, 'WS_ERR_HANDSHAKE_ACCEPT');
    expect(error.message).toBe(`Sec-WebSocket-Accept is "${'a'.repeat(64)}...", expected "${SAMPLE_ACCEPT}"`);
  });

  it('a subprotocol when none was offered: WS_ERR_HANDSHAKE_PROTOCOL', () => {
    refusedWith(
      response({ 'sec-websocket-protocol': 'chat' }),
      {},
      'WS_ERR_HANDSHAKE_PROTOCOL',
      'the server selected the subprotocol "chat", but none was offered',
    );
  });

  it.each([
    ['one not offered', 'superchat'],
    ['two of those offered', 'chat, v2'],
    ['two header lines', ['chat', 'chat']],
    ['another case of one offered (subprotocols are case-sensitive)', 'Chat'],
    ['an empty value', ''],
  ] as Array<[string, HeaderValue]>)('a subprotocol that is %s: WS_ERR_HANDSHAKE_PROTOCOL', (_what, protocol) => {
    const error = refusedWith(response({ 'sec-websocket-protocol': protocol }), { protocols: ['chat', 'v2'] }, 'WS_ERR_HANDSHAKE_PROTOCOL');
    expect(error.message).toMatch(/^the server selected the subprotocol ".*", which was not offered$/);
  });

  it('an extension when none was offered: WS_ERR_HANDSHAKE_EXTENSIONS', () => {
    refusedWith(
      response({ 'sec-websocket-extensions': 'permessage-deflate' }),
      {},
      'WS_ERR_HANDSHAKE_EXTENSIONS',
      'the server accepted the extension "permessage-deflate", but no extension was offered',
    );
  });

  it('an extension we did not offer, beside permessage-deflate: WS_ERR_HANDSHAKE_EXTENSIONS', () => {
    refusedWith(
      response({ 'sec-websocket-extensions': 'permessage-deflate, x-foo' }),
      { deflate: DEFLATE },
      'WS_ERR_HANDSHAKE_EXTENSIONS',
      'permessage-deflate response: the server accepted the extension "x-foo", which was not offered',
    );
  });

  it('a malformed Sec-WebSocket-Extensions (RFC 6455 9.1): WS_ERR_HANDSHAKE_EXTENSIONS with status 101', () => {
    for (const deflate of [null, DEFLATE]) {
      refusedWith(
        response({ 'sec-websocket-extensions': 'permessage-deflate;' }),
        { deflate },
        'WS_ERR_HANDSHAKE_EXTENSIONS',
        'Sec-WebSocket-Extensions: expected a parameter name, found the end at offset 19',
      );
    }
  });

  it('checks in the RFC order: Upgrade, Connection, Accept, then extensions, then the subprotocol', () => {
    // Every header wrong at first; fixing them one at a time moves the error to the next check.
    const steps: Array<[string, string, HeaderValue, string]> = [
      ['upgrade', 'h2c', 'websocket', 'WS_ERR_HANDSHAKE_UPGRADE'],
      ['connection', 'close', 'Upgrade', 'WS_ERR_HANDSHAKE_CONNECTION'],
      ['sec-websocket-accept', 'x', SAMPLE_ACCEPT, 'WS_ERR_HANDSHAKE_ACCEPT'],
      ['sec-websocket-extensions', 'x;', undefined, 'WS_ERR_HANDSHAKE_EXTENSIONS'],
      ['sec-websocket-protocol', 'nope', undefined, 'WS_ERR_HANDSHAKE_PROTOCOL'],
    ];
    const headers: Record<string, HeaderValue> = Object.fromEntries(steps.map(([name, bad]) => [name, bad]));
    for (const [name, , good, code] of steps) {
      refusedWith(response(headers), {}, code);
      headers[name] = good;
    }
    expect(validateClientResponse(response(headers), EXPECTED)).toEqual({ protocol: '', extensions: '', deflate: null });
  });
});

// ---- both roles, through bytes ------------------------------------------------------------------

/** Parses a request head the way a server's HTTP layer would hand it over (a small test parser). */
function parseRequestHead(head: string): HandshakeRequest & { path: string } {
  expect(head.endsWith('\r\n\r\n')).toBe(true);
  const [requestLine, ...lines] = head.slice(0, -4).split('\r\n');
  const [method, path, version] = requestLine!.split(' ');
  const headers: Record<string, string | string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const current = headers[name];
    headers[name] = current === undefined ? value : ([] as string[]).concat(current, value);
  }
  return { method, path: path!, httpVersion: version!.replace('HTTP/', ''), headers };
}

const LIMITS = { maxHeaderSize: 16 * 1024, maxHeaderCount: 100 };

function latin1Bytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'latin1'));
}

describe('client and server cores, end to end through bytes', () => {
  it('the RFC 6455 1.2/1.3 exchange: request -> acceptHandshake -> 101 bytes -> validateClientResponse', () => {
    const request = buildClientRequest({
      ...BASE,
      key: generateHandshakeKey(SAMPLE_NONCE),
      origin: 'http://example.com',
      protocols: ['chat', 'superchat'],
    });
    const accepted = acceptHandshake(parseRequestHead(request), {
      sha1Base64: sha1,
      selectProtocol: (offered) => offered[0],
    });
    expect(accepted.response).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}\r\n` +
        'Sec-WebSocket-Protocol: chat\r\n' +
        '\r\n',
    );
    const head = parseResponseHead(latin1Bytes(accepted.response), LIMITS)!;
    expect(head.headLength).toBe(accepted.response.length);
    expect(
      validateClientResponse(head, { key: SAMPLE_KEY, protocols: ['chat', 'superchat'], deflate: null, sha1Base64: sha1 }),
    ).toEqual({ protocol: 'chat', extensions: '', deflate: null });
  });

  const bits = fc.integer({ min: 8, max: 15 });
  const config = fc.record({
    serverNoContextTakeover: fc.boolean(),
    clientNoContextTakeover: fc.boolean(),
    serverMaxWindowBits: bits,
    clientMaxWindowBits: bits,
  });

  it('for every pair of configurations, the server accepts the client offer and both sides agree (mirror images)', () => {
    fc.assert(
      fc.property(config, config, fc.uint8Array({ minLength: 16, maxLength: 16 }), (client, server, nonce) => {
        const key = generateHandshakeKey(nonce);
        const request = buildClientRequest({ ...BASE, key, extensions: buildDeflateOffer(client) });
        const accepted = acceptHandshake(parseRequestHead(request), {
          sha1Base64: sha1,
          negotiateExtensions: (offers) => negotiatePermessageDeflate(offers, server),
        });
        expect(accepted.deflate).not.toBeNull();
        const head = parseResponseHead(latin1Bytes(accepted.response), LIMITS)!;
        const agreed = validateClientResponse(head, { key, protocols: [], deflate: client, sha1Base64: sha1 });
        const ours = accepted.deflate!;
        const theirs = agreed.deflate!;
        expect(theirs).toEqual({
          ourNoContextTakeover: ours.theirNoContextTakeover,
          theirNoContextTakeover: ours.ourNoContextTakeover,
          ourMaxWindowBits: ours.theirMaxWindowBits,
          theirMaxWindowBits: ours.ourMaxWindowBits,
        });
        expect(agreed.extensions).toBe(accepted.extensions);
        // And each side kept what it insisted on.
        if (client.clientNoContextTakeover) expect(theirs.ourNoContextTakeover).toBe(true);
        if (client.serverNoContextTakeover) expect(theirs.theirNoContextTakeover).toBe(true);
        expect(theirs.ourMaxWindowBits).toBeLessThanOrEqual(client.clientMaxWindowBits);
        expect(theirs.theirMaxWindowBits).toBeLessThanOrEqual(client.serverMaxWindowBits);
        if (server.serverNoContextTakeover) expect(ours.ourNoContextTakeover).toBe(true);
        if (server.clientNoContextTakeover) expect(ours.theirNoContextTakeover).toBe(true);
        expect(ours.ourMaxWindowBits).toBeLessThanOrEqual(server.serverMaxWindowBits);
        expect(ours.theirMaxWindowBits).toBeLessThanOrEqual(server.clientMaxWindowBits);
      }),
      { seed: 7692, numRuns: 1000 },
    );
  });

  it('a random key round-trips too (the accept is checked against the key actually sent)', () => {
    const key = generateHandshakeKey(new Uint8Array(randomBytes(16)));
    const accepted = acceptHandshake(parseRequestHead(buildClientRequest({ ...BASE, key })), { sha1Base64: sha1 });
    const head = parseResponseHead(latin1Bytes(accepted.response), LIMITS)!;
    expect(validateClientResponse(head, { ...EXPECTED, key }).protocol).toBe('');
    // Checked against another key, the same response is refused.
    refusedWith(head, { key: SAMPLE_KEY === key ? generateHandshakeKey(new Uint8Array(16)) : SAMPLE_KEY }, 'WS_ERR_HANDSHAKE_ACCEPT');
  });
});
