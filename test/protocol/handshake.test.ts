import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HandshakeError, WebSocketError } from '../../src/protocol/errors.js';
import {
  WEBSOCKET_GUID,
  buildErrorResponse,
  buildHandshakeResponse,
  computeAcceptKey,
  isToken,
  splitHeaderList,
  validateHandshakeRequest,
  type HandshakeRequest,
  type HeaderValue,
} from '../../src/protocol/handshake.js';
import { expectWebSocketError, thrown } from './helpers.js';

const sha1 = (s: string): string => createHash('sha1').update(s).digest('base64');

const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function request(
  headers: Record<string, HeaderValue> = {},
  method: string | undefined = 'GET',
  httpVersion = '1.1',
): HandshakeRequest {
  const base: Record<string, HeaderValue> = {
    host: 'server.example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': SAMPLE_KEY,
    'sec-websocket-version': '13',
  };
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) delete base[name];
    else base[name] = value;
  }
  return { method, httpVersion, headers: base };
}

function rejected(req: HandshakeRequest): HandshakeError {
  const error = thrown(() => validateHandshakeRequest(req));
  expect(error).toBeInstanceOf(HandshakeError);
  return error as HandshakeError;
}

function expectRejected(req: HandshakeRequest, code: string, status: number): HandshakeError {
  const error = rejected(req);
  expect({ code: error.code, status: error.status }).toEqual({ code, status });
  return error;
}

describe('computeAcceptKey', () => {
  it('hashes the RFC 6455 sample key dGhlIHNhbXBsZSBub25jZQ== to s3pPLMBiTxaQ9kYGzzhZRbK+xOo=', () => {
    expect(computeAcceptKey(SAMPLE_KEY, sha1)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('hashes key + GUID with the injected function', () => {
    expect(WEBSOCKET_GUID).toBe('258EAFA5-E914-47DA-95CA-C5AB0DC85B11');
    expect(computeAcceptKey('k', (s) => `<${s}>`)).toBe('<k258EAFA5-E914-47DA-95CA-C5AB0DC85B11>');
  });
});

describe('validateHandshakeRequest: accepted requests', () => {
  it('accepts the RFC 6455 1.2 request', () => {
    expect(
      validateHandshakeRequest(
        request({
          origin: 'http://example.com',
          'sec-websocket-protocol': 'chat, superchat',
        }),
      ),
    ).toEqual({ key: SAMPLE_KEY, protocols: ['chat', 'superchat'], extensions: undefined });
  });

  it('returns no protocols when none are offered, and the raw extensions offer', () => {
    expect(
      validateHandshakeRequest(request({ 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' })),
    ).toEqual({ key: SAMPLE_KEY, protocols: [], extensions: 'permessage-deflate; client_max_window_bits' });
  });

  it.each(['websocket', 'WebSocket', 'WEBSOCKET', 'wEbSoCkEt', ' websocket ', 'h2c, websocket'])(
    'accepts Upgrade: %j (any case)',
    (upgrade) => {
      expect(validateHandshakeRequest(request({ upgrade })).key).toBe(SAMPLE_KEY);
    },
  );

  it.each(['Upgrade', 'upgrade', 'keep-alive, Upgrade', 'Upgrade, keep-alive', 'keep-alive,\tupgrade ,close'])(
    'accepts Connection: %j',
    (connection) => {
      expect(validateHandshakeRequest(request({ connection })).key).toBe(SAMPLE_KEY);
    },
  );

  it('accepts a header given as an array (repeated header lines)', () => {
    expect(validateHandshakeRequest(request({ connection: ['keep-alive', 'Upgrade'] })).key).toBe(SAMPLE_KEY);
  });

  it('accepts HTTP versions above 1.1 and a version header with spaces around 13', () => {
    expect(validateHandshakeRequest(request({}, 'GET', '2.0')).key).toBe(SAMPLE_KEY);
    expect(validateHandshakeRequest(request({ 'sec-websocket-version': ' 13 ' })).key).toBe(SAMPLE_KEY);
  });

  it('accepts keys of every base64 character and trims spaces around the key', () => {
    for (const key of ['ABCDEFGHIJKLMNOPQRSTUQ==', 'abcdefghijklmnopqrstuw==', '0123456789+/0123456789==']) {
      expect(validateHandshakeRequest(request({ 'sec-websocket-key': key })).key).toBe(key);
    }
    expect(validateHandshakeRequest(request({ 'sec-websocket-key': ` ${SAMPLE_KEY}\t` })).key).toBe(SAMPLE_KEY);
  });

  it('parses subprotocols in order, trimming spaces and tabs, dropping empty elements', () => {
    expect(
      validateHandshakeRequest(request({ 'sec-websocket-protocol': ' v2.chat ,\tv1.chat,  ,json ' })).protocols,
    ).toEqual(['v2.chat', 'v1.chat', 'json']);
    expect(validateHandshakeRequest(request({ 'sec-websocket-protocol': ['a', 'b, c'] })).protocols).toEqual([
      'a',
      'b',
      'c',
    ]);
  });
});

describe('validateHandshakeRequest: rejections (exact code and status)', () => {
  it.each(['POST', 'HEAD', 'get', 'PUT'])('method %s: WS_ERR_HANDSHAKE_METHOD, 405, Allow: GET', (method) => {
    const error = expectRejected(request({}, method), 'WS_ERR_HANDSHAKE_METHOD', 405);
    expect(error.headers).toEqual({ Allow: 'GET' });
  });

  it('no method: WS_ERR_HANDSHAKE_METHOD, 405', () => {
    expectRejected({ ...request(), method: undefined }, 'WS_ERR_HANDSHAKE_METHOD', 405);
  });

  it.each(['1.0', '0.9', 'abc', '1.x', '', '1'])('HTTP/%s: WS_ERR_HANDSHAKE_HTTP_VERSION, 400', (version) => {
    expectRejected(request({}, 'GET', version), 'WS_ERR_HANDSHAKE_HTTP_VERSION', 400);
  });

  it('missing Host: WS_ERR_HANDSHAKE_HOST, 400', () => {
    expectRejected(request({ host: undefined }), 'WS_ERR_HANDSHAKE_HOST', 400);
    expectRejected(request({ host: '' }), 'WS_ERR_HANDSHAKE_HOST', 400);
  });

  it.each([undefined, 'h2c', 'websocket2', 'web socket', ''])(
    'Upgrade %j: WS_ERR_HANDSHAKE_UPGRADE, 400',
    (upgrade) => {
      expectRejected(request({ upgrade }), 'WS_ERR_HANDSHAKE_UPGRADE', 400);
    },
  );

  it.each([undefined, 'keep-alive', 'close', 'upgraded', 'keep-alive upgrade', ''])(
    'Connection %j without the upgrade token: WS_ERR_HANDSHAKE_CONNECTION, 400',
    (connection) => {
      expectRejected(request({ connection }), 'WS_ERR_HANDSHAKE_CONNECTION', 400);
    },
  );

  it.each([
    ['8', '8'],
    ['missing', undefined],
    ['"13, 8"', '13, 8'],
    ['"12"', '12'],
    ['empty', ''],
  ])('Sec-WebSocket-Version %s: WS_ERR_HANDSHAKE_VERSION, 426 with Sec-WebSocket-Version: 13', (_name, version) => {
    const error = expectRejected(request({ 'sec-websocket-version': version }), 'WS_ERR_HANDSHAKE_VERSION', 426);
    expect(error.headers).toEqual({ 'Sec-WebSocket-Version': '13' });
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['23 characters', 'dGhlIHNhbXBsZSBub25jZQ='],
    ['25 characters', 'dGhlIHNhbXBsZSBub25jZQ==='],
    ['decodes to 15 bytes (20 characters)', Buffer.alloc(15, 7).toString('base64')],
    ['decodes to 17 bytes (24 characters, one "=")', Buffer.alloc(17, 7).toString('base64')],
    ['decodes to 18 bytes (24 characters, no "=")', Buffer.alloc(18, 7).toString('base64')],
    ['a bad character "-"', 'dGhlIHNhbXBsZSBub25jZ-=='],
    ['a bad character "_"', 'dGhl_HNhbXBsZSBub25jZQ=='],
    ['a space inside', 'dGhlIHNhbXBs ZSBub25jZQ=='],
    ['"=" inside', 'dGhlIHNhbX=sZSBub25jZQ=='],
    ['non-ASCII', 'dGhlIHNhbXBsZSBub25jZé=='],
    ['two keys', [SAMPLE_KEY, SAMPLE_KEY]],
  ])('Sec-WebSocket-Key %s: WS_ERR_HANDSHAKE_KEY, 400', (_name, key) => {
    expectRejected(request({ 'sec-websocket-key': key }), 'WS_ERR_HANDSHAKE_KEY', 400);
  });

  it('the fixtures for 15 and 17 bytes really have those sizes', () => {
    expect(Buffer.alloc(15, 7).toString('base64')).toHaveLength(20);
    expect(Buffer.alloc(17, 7).toString('base64')).toMatch(/^[A-Za-z0-9+/]{23}=$/);
  });

  it.each([
    ['a duplicate', 'chat, chat'],
    ['a duplicate across header lines', ['chat', 'chat']],
    ['a space inside a protocol', 'my chat'],
    ['a separator "/"', 'chat/1'],
    ['a separator "@"', 'chat@host'],
    ['a quoted string', '"chat"'],
    ['non-ASCII', 'chät'],
    ['a semicolon', 'chat;q=1'],
  ])('Sec-WebSocket-Protocol with %s: WS_ERR_HANDSHAKE_PROTOCOL, 400', (_name, protocol) => {
    expectRejected(request({ 'sec-websocket-protocol': protocol }), 'WS_ERR_HANDSHAKE_PROTOCOL', 400);
  });

  it('protocols are case-sensitive: "chat, Chat" are distinct', () => {
    expect(validateHandshakeRequest(request({ 'sec-websocket-protocol': 'chat, Chat' })).protocols).toEqual([
      'chat',
      'Chat',
    ]);
  });

  it('checks the version before the key (another version may use another kind of key)', () => {
    expectRejected(request({ 'sec-websocket-version': '8', 'sec-websocket-key': 'x' }), 'WS_ERR_HANDSHAKE_VERSION', 426);
  });

  it('is a WebSocketError with a message', () => {
    const error = rejected(request({}, 'POST'));
    expect(error).toBeInstanceOf(WebSocketError);
    expect(error.name).toBe('HandshakeError');
    expect(error.message).toBe('the method must be GET');
  });
});

describe('isToken', () => {
  it('accepts every tchar and rejects every other ASCII character', () => {
    const tchars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (let c = 0; c < 128; c++) {
      const ch = String.fromCharCode(c);
      expect(isToken(ch), JSON.stringify(ch)).toBe(tchars.includes(ch));
    }
    expect(isToken('')).toBe(false);
    expect(isToken('v1.chat')).toBe(true);
    expect(isToken('\u00e9')).toBe(false);
  });
});

describe('splitHeaderList', () => {
  it('splits on commas, trims spaces and tabs, drops empty elements', () => {
    expect(splitHeaderList('a, b ,\tc\t,,  , d')).toEqual(['a', 'b', 'c', 'd']);
    expect(splitHeaderList('')).toEqual([]);
    expect(splitHeaderList(' , ,')).toEqual([]);
    expect(splitHeaderList('one')).toEqual(['one']);
    expect(splitHeaderList('a b, c')).toEqual(['a b', 'c']);
  });

  it('handles 64 KiB hostile values (linear scan, no regular expression)', () => {
    const spaces = ' '.repeat(65536);
    expect(splitHeaderList(spaces)).toEqual([]);
    expect(splitHeaderList(','.repeat(65536))).toEqual([]);
    expect(splitHeaderList(` \t`.repeat(32768) + 'x')).toEqual(['x']);
    expect(splitHeaderList('a' + ' '.repeat(65534) + 'b')).toEqual(['a' + ' '.repeat(65534) + 'b']);
    const many = 'a,'.repeat(32768);
    const items = splitHeaderList(many);
    expect(items.length).toBe(32768);
    expect(items.every((x) => x === 'a')).toBe(true);
    // The whole handshake with a hostile Connection value is still answered.
    expectRejected(request({ connection: ' ,'.repeat(32768) }), 'WS_ERR_HANDSHAKE_CONNECTION', 400);
  });
});

describe('buildHandshakeResponse', () => {
  it('writes the exact 101 response', () => {
    expect(buildHandshakeResponse({ accept: 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' })).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
        '\r\n',
    );
  });

  it('adds the protocol, extensions and extra headers in that order', () => {
    expect(
      buildHandshakeResponse({
        accept: 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
        protocol: 'chat',
        extensions: 'permessage-deflate',
        headers: { 'Set-Cookie': 'a=b', 'X-Test': '1' },
      }),
    ).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
        'Sec-WebSocket-Protocol: chat\r\n' +
        'Sec-WebSocket-Extensions: permessage-deflate\r\n' +
        'Set-Cookie: a=b\r\n' +
        'X-Test: 1\r\n' +
        '\r\n',
    );
  });

  it('omits headers given as undefined', () => {
    expect(buildHandshakeResponse({ accept: 'x', protocol: undefined, extensions: undefined, headers: undefined })).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n',
    );
  });

  it('rejects CR or LF in extra header names and values: WS_ERR_INVALID_ARGUMENT', () => {
    expectWebSocketError(
      () => buildHandshakeResponse({ accept: 'x', headers: { 'X-A': 'a\r\nInjected: yes' } }),
      'WS_ERR_INVALID_ARGUMENT',
    );
    expectWebSocketError(() => buildHandshakeResponse({ accept: 'x', headers: { 'X\nB': 'b' } }), 'WS_ERR_INVALID_ARGUMENT');
  });

  it('completes a handshake end to end with the RFC sample', () => {
    const validated = validateHandshakeRequest(request({ 'sec-websocket-protocol': 'chat' }));
    const response = buildHandshakeResponse({
      accept: computeAcceptKey(validated.key, sha1),
      protocol: validated.protocols[0],
    });
    expect(response).toContain('\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n');
    expect(response).toContain('\r\nSec-WebSocket-Protocol: chat\r\n');
  });
});

describe('buildErrorResponse', () => {
  it('writes the exact 400 response with a byte-accurate Content-Length', () => {
    expect(buildErrorResponse(400, 'bad')).toBe(
      'HTTP/1.1 400 Bad Request\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 4\r\n' +
        '\r\n' +
        'bad\n',
    );
  });

  it('writes the 426 response with Sec-WebSocket-Version: 13', () => {
    expect(buildErrorResponse(426, 'only WebSocket version 13 is supported', { 'Sec-WebSocket-Version': '13' })).toBe(
      'HTTP/1.1 426 Upgrade Required\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 39\r\n' +
        'Sec-WebSocket-Version: 13\r\n' +
        '\r\n' +
        'only WebSocket version 13 is supported\n',
    );
  });

  it('writes the 405 response with Allow', () => {
    expect(buildErrorResponse(405, 'the method must be GET', { Allow: 'GET' })).toBe(
      'HTTP/1.1 405 Method Not Allowed\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 23\r\n' +
        'Allow: GET\r\n' +
        '\r\n' +
        'the method must be GET\n',
    );
  });

  it('counts Content-Length in UTF-8 bytes and names known statuses', () => {
    expect(buildErrorResponse(403, 'é')).toContain('HTTP/1.1 403 Forbidden\r\n');
    expect(buildErrorResponse(403, 'é')).toContain('\r\nContent-Length: 3\r\n');
    expect(buildErrorResponse(431, '')).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(buildErrorResponse(500, '')).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
    expect(buildErrorResponse(503, '')).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(buildErrorResponse(418, '')).toMatch(/^HTTP\/1\.1 418 Error\r\n/);
  });

  it('answers a rejected request with the error\'s own status and headers', () => {
    const error = rejected(request({ 'sec-websocket-version': '8' }));
    const response = buildErrorResponse(error.status, error.message, error.headers);
    expect(response.startsWith('HTTP/1.1 426 Upgrade Required\r\n')).toBe(true);
    expect(response).toContain('\r\nSec-WebSocket-Version: 13\r\n\r\n');
  });

  it('rejects CR or LF in headers: WS_ERR_INVALID_ARGUMENT', () => {
    expectWebSocketError(() => buildErrorResponse(400, 'x', { A: 'b\n' }), 'WS_ERR_INVALID_ARGUMENT');
  });
});
