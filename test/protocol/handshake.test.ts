import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HandshakeError, WebSocketError } from '../../src/protocol/errors.js';
import { parseExtensions } from '../../src/protocol/extensions.js';
import {
  WEBSOCKET_GUID,
  acceptHandshake,
  buildErrorResponse,
  buildHandshakeResponse,
  computeAcceptKey,
  validateHandshakeRequest,
  type AcceptPolicy,
  type HandshakeRequest,
  type HeaderValue,
} from '../../src/protocol/handshake.js';
import { isToken, splitHeaderList } from '../../src/protocol/http-syntax.js';
import { negotiatePermessageDeflate, type DeflateConfig } from '../../src/protocol/permessage-deflate.js';
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

  it.each([
    ['a NUL in a value', { 'X-A': 'a\u0000b' }],
    ['a bare CR in a value', { 'X-A': 'a\rb' }],
    ['a name with a space', { 'X A': 'b' }],
    ['a name with a colon', { 'X:A': 'b' }],
    ['an empty name', { '': 'b' }],
  ])('rejects an extra header with %s: WS_ERR_INVALID_ARGUMENT', (_what, headers) => {
    expectWebSocketError(() => buildHandshakeResponse({ accept: 'x', headers }), 'WS_ERR_INVALID_ARGUMENT');
  });

  it.each(['Upgrade', 'connection', 'Sec-WebSocket-Accept', 'SEC-WEBSOCKET-PROTOCOL', 'Sec-WebSocket-Extensions'])(
    'refuses an extra %s header (the 101 writes it itself): WS_ERR_INVALID_ARGUMENT',
    (name) => {
      const error = expectWebSocketError(
        () => buildHandshakeResponse({ accept: 'x', headers: { [name]: 'y' } }),
        'WS_ERR_INVALID_ARGUMENT',
      );
      expect(error.message).toBe(`header ${JSON.stringify(name)} is written by the handshake itself and cannot be set`);
    },
  );

  it('rejects CR or LF in the accept, protocol and extensions values', () => {
    expectWebSocketError(() => buildHandshakeResponse({ accept: 'x\r\ny: z' }), 'WS_ERR_INVALID_ARGUMENT');
    expectWebSocketError(() => buildHandshakeResponse({ accept: 'x', protocol: 'a\nb' }), 'WS_ERR_INVALID_ARGUMENT');
    expectWebSocketError(() => buildHandshakeResponse({ accept: 'x', extensions: 'a\r\n' }), 'WS_ERR_INVALID_ARGUMENT');
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

  it('refuses extra Connection, Content-Type or Content-Length headers (it writes them itself)', () => {
    for (const name of ['Connection', 'content-type', 'Content-Length']) {
      expectWebSocketError(() => buildErrorResponse(400, 'x', { [name]: '1' }), 'WS_ERR_INVALID_ARGUMENT');
    }
  });
});

// ---- acceptHandshake -----------------------------------------------------------------------------

const DEFLATE: DeflateConfig = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

const policy = (extra: Partial<AcceptPolicy> = {}): AcceptPolicy => ({ sha1Base64: sha1, ...extra });

const deflatePolicy = (config: DeflateConfig = DEFLATE): AcceptPolicy =>
  policy({ negotiateExtensions: (offers) => negotiatePermessageDeflate(offers, config) });

describe('acceptHandshake: the whole server handshake', () => {
  it('answers the RFC 6455 1.3 request with the exact 101 (sample key -> s3pPLMBiTxaQ9kYGzzhZRbK+xOo=)', () => {
    expect(acceptHandshake(request({ origin: 'http://example.com' }), policy())).toEqual({
      response:
        'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
        '\r\n',
      protocol: '',
      extensions: '',
      deflate: null,
      key: SAMPLE_KEY,
    });
  });

  it('selects a subprotocol with the policy, and writes it (RFC 6455 1.3: chat, superchat -> chat)', () => {
    let offered: readonly string[] = [];
    const accepted = acceptHandshake(
      request({ 'sec-websocket-protocol': 'chat, superchat' }),
      policy({
        selectProtocol: (protocols) => {
          offered = protocols;
          return 'chat';
        },
      }),
    );
    expect(offered).toEqual(['chat', 'superchat']);
    expect(accepted.protocol).toBe('chat');
    expect(accepted.response).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
        'Sec-WebSocket-Protocol: chat\r\n' +
        '\r\n',
    );
  });

  it('no subprotocol when the policy returns undefined, has no selectProtocol, or none was offered', () => {
    const offered = request({ 'sec-websocket-protocol': 'chat' });
    expect(acceptHandshake(offered, policy({ selectProtocol: () => undefined })).protocol).toBe('');
    expect(acceptHandshake(offered, policy()).protocol).toBe('');
    let called = false;
    const none = acceptHandshake(
      request(),
      policy({
        selectProtocol: () => {
          called = true;
          return 'chat';
        },
      }),
    );
    expect({ called, protocol: none.protocol }).toEqual({ called: false, protocol: '' });
    expect(none.response).not.toContain('Sec-WebSocket-Protocol');
  });

  it('a policy that selects a subprotocol the client did not offer is a bug: WS_ERR_INVALID_ARGUMENT', () => {
    const error = expectWebSocketError(
      () => acceptHandshake(request({ 'sec-websocket-protocol': 'chat' }), policy({ selectProtocol: () => 'superchat' })),
      'WS_ERR_INVALID_ARGUMENT',
    );
    expect(error).not.toBeInstanceOf(HandshakeError);
    expect(error.message).toBe('selectProtocol returned "superchat", which the client did not offer');
  });

  it('negotiates permessage-deflate with the policy: the response element and the agreement', () => {
    const accepted = acceptHandshake(
      request({ 'sec-websocket-extensions': 'x-foo, permessage-deflate; client_max_window_bits; server_no_context_takeover' }),
      deflatePolicy({ ...DEFLATE, clientMaxWindowBits: 10 }),
    );
    expect(accepted).toEqual({
      response:
        'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
        'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=10\r\n' +
        '\r\n',
      protocol: '',
      extensions: 'permessage-deflate; server_no_context_takeover; client_max_window_bits=10',
      deflate: { ourNoContextTakeover: true, theirNoContextTakeover: false, ourMaxWindowBits: 15, theirMaxWindowBits: 10 },
      key: SAMPLE_KEY,
    });
  });

  it('passes negotiateExtensions the parsed offers, so the caller can negotiate again (e.g. without context takeover)', () => {
    const seen: string[] = [];
    const accepted = acceptHandshake(
      request({ 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' }),
      policy({
        negotiateExtensions: (offers) => {
          seen.push(JSON.stringify(offers));
          const first = negotiatePermessageDeflate(offers, DEFLATE);
          // Pretend the memory budget is spent: retry without context takeover.
          return first === undefined
            ? undefined
            : negotiatePermessageDeflate(offers, { ...DEFLATE, serverNoContextTakeover: true, clientNoContextTakeover: true });
        },
      }),
    );
    expect(seen).toEqual([JSON.stringify(parseExtensions('permessage-deflate; client_max_window_bits'))]);
    expect(accepted.extensions).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    expect(accepted.deflate).toEqual({
      ourNoContextTakeover: true,
      theirNoContextTakeover: true,
      ourMaxWindowBits: 15,
      theirMaxWindowBits: 15,
    });
  });

  it('declined or unknown extensions: no header, no agreement, still a 101', () => {
    for (const offer of ['x-webkit-deflate-frame', 'permessage-deflate; server_max_window_bits=16', '', ' , ']) {
      const accepted = acceptHandshake(request({ 'sec-websocket-extensions': offer }), deflatePolicy());
      expect({ offer, extensions: accepted.extensions, deflate: accepted.deflate }).toEqual({
        offer,
        extensions: '',
        deflate: null,
      });
      expect(accepted.response).not.toContain('Sec-WebSocket-Extensions');
    }
  });

  it('negotiateExtensions is not called without offers; without it, offers are declined', () => {
    let calls = 0;
    const counting = policy({
      negotiateExtensions: () => {
        calls++;
        return undefined;
      },
    });
    acceptHandshake(request(), counting);
    acceptHandshake(request({ 'sec-websocket-extensions': ',,' }), counting);
    expect(calls).toBe(0);
    expect(acceptHandshake(request({ 'sec-websocket-extensions': 'permessage-deflate' }), policy()).deflate).toBeNull();
  });

  it.each([
    ['a trailing ";"', 'permessage-deflate;', 'expected a parameter name, found the end at offset 19'],
    ['";;"', 'permessage-deflate;;client_max_window_bits', 'expected a parameter name, found ";" at offset 19'],
    ['an unterminated quoted string', 'permessage-deflate; server_max_window_bits="10', 'unterminated quoted string at offset 43'],
    ['a quoted value that is not a token', 'permessage-deflate; x="a b"', 'the quoted value of parameter "x" is not a token at offset 22'],
    ['a bad token', 'permessage-deflate, x/y', 'expected ";" or ",", found "/" at offset 21'],
    ['an empty parameter value', 'permessage-deflate; server_max_window_bits=', 'expected a value for parameter "server_max_window_bits", found the end at offset 43'],
  ])('a malformed Sec-WebSocket-Extensions (%s): 400 WS_ERR_HANDSHAKE_EXTENSIONS, whether or not deflate is on', (_what, header, where) => {
    for (const p of [deflatePolicy(), policy()]) {
      const error = thrown(() => acceptHandshake(request({ 'sec-websocket-extensions': header }), p));
      expect(error).toBeInstanceOf(HandshakeError);
      expect(error).toMatchObject({
        code: 'WS_ERR_HANDSHAKE_EXTENSIONS',
        status: 400,
        message: `Sec-WebSocket-Extensions: ${where}`,
      });
      const e = error as HandshakeError;
      expect(buildErrorResponse(e.status, e.message, e.headers)).toBe(
        'HTTP/1.1 400 Bad Request\r\n' +
          'Connection: close\r\n' +
          'Content-Type: text/plain; charset=utf-8\r\n' +
          `Content-Length: ${e.message.length + 1}\r\n` +
          '\r\n' +
          `${e.message}\n`,
      );
    }
  });

  it('repeated Sec-WebSocket-Extensions lines are one list; the offset counts in the joined value', () => {
    expect(acceptHandshake(request({ 'sec-websocket-extensions': ['foo', 'permessage-deflate'] }), deflatePolicy()).extensions).toBe(
      'permessage-deflate',
    );
    expectRejectedBy(request({ 'sec-websocket-extensions': ['foo', 'bar;'] }), 'WS_ERR_HANDSHAKE_EXTENSIONS', 400);
  });

  it('refuses what validateHandshakeRequest refuses, with the same code and status', () => {
    expectRejectedBy(request({}, 'POST'), 'WS_ERR_HANDSHAKE_METHOD', 405);
    expectRejectedBy(request({}, 'GET', '1.0'), 'WS_ERR_HANDSHAKE_HTTP_VERSION', 400);
    expectRejectedBy(request({ host: undefined }), 'WS_ERR_HANDSHAKE_HOST', 400);
    expectRejectedBy(request({ upgrade: 'h2c' }), 'WS_ERR_HANDSHAKE_UPGRADE', 400);
    expectRejectedBy(request({ connection: 'close' }), 'WS_ERR_HANDSHAKE_CONNECTION', 400);
    expect(expectRejectedBy(request({ 'sec-websocket-version': '8' }), 'WS_ERR_HANDSHAKE_VERSION', 426).headers).toEqual({
      'Sec-WebSocket-Version': '13',
    });
    expectRejectedBy(request({ 'sec-websocket-key': 'short' }), 'WS_ERR_HANDSHAKE_KEY', 400);
    expectRejectedBy(request({ 'sec-websocket-protocol': 'a, a' }), 'WS_ERR_HANDSHAKE_PROTOCOL', 400);
  });

  it('the request is validated before the extensions are parsed (a 426 is not hidden by a 400)', () => {
    expectRejectedBy(
      request({ 'sec-websocket-version': '8', 'sec-websocket-extensions': ';;' }),
      'WS_ERR_HANDSHAKE_VERSION',
      426,
    );
  });

  it('writes the policy headers after the handshake headers, and refuses bad or reserved ones', () => {
    const accepted = acceptHandshake(
      request({ 'sec-websocket-protocol': 'chat' }),
      policy({ selectProtocol: () => 'chat', headers: { 'Set-Cookie': 'id=1', 'X-Server': 'rfc6455' } }),
    );
    expect(accepted.response).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
        'Sec-WebSocket-Protocol: chat\r\n' +
        'Set-Cookie: id=1\r\n' +
        'X-Server: rfc6455\r\n' +
        '\r\n',
    );
    expectWebSocketError(() => acceptHandshake(request(), policy({ headers: { 'X-A': 'a\r\nb: c' } })), 'WS_ERR_INVALID_ARGUMENT');
    expectWebSocketError(() => acceptHandshake(request(), policy({ headers: { 'Sec-WebSocket-Accept': 'x' } })), 'WS_ERR_INVALID_ARGUMENT');
  });

  it('an extension response with CR or LF from the policy is refused, not written', () => {
    expectWebSocketError(
      () =>
        acceptHandshake(
          request({ 'sec-websocket-extensions': 'permessage-deflate' }),
          policy({
            negotiateExtensions: () => ({
              response: 'permessage-deflate\r\nX-Injected: 1',
              agreement: { ourNoContextTakeover: false, theirNoContextTakeover: false, ourMaxWindowBits: 15, theirMaxWindowBits: 15 },
            }),
          }),
        ),
      'WS_ERR_INVALID_ARGUMENT',
    );
  });

  it('hashes with the injected sha1Base64, once, over key + GUID', () => {
    const inputs: string[] = [];
    const accepted = acceptHandshake(
      request(),
      policy({
        sha1Base64: (input) => {
          inputs.push(input);
          return 'HASH';
        },
      }),
    );
    expect(inputs).toEqual([SAMPLE_KEY + WEBSOCKET_GUID]);
    expect(accepted.response).toContain('\r\nSec-WebSocket-Accept: HASH\r\n');
  });
});

function expectRejectedBy(req: HandshakeRequest, code: string, status: number): HandshakeError {
  const error = thrown(() => acceptHandshake(req, deflatePolicy()));
  expect(error).toBeInstanceOf(HandshakeError);
  const e = error as HandshakeError;
  expect({ code: e.code, status: e.status }).toEqual({ code, status });
  return e;
}
