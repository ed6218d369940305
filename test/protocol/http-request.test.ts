/**
 * The HTTP/1.1 request head parser (RFC 9112 2, 3, 5), by bytes: the exact result for RFC 6455's
 * opening handshake, headers joined as Node's IncomingMessage joins them, null until CRLFCRLF,
 * every malformed head with its status, code and offset (refused as early as the bytes allow), the
 * limits at their exact boundaries and enforced before the head is complete, and properties: any
 * split of the bytes into chunks (every offset, and random splits) gives the same head and the same
 * bytes after it; random and mutated bytes only ever give a head or a 400/431 HandshakeError.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HandshakeError } from '../../src/protocol/errors.js';
import { RequestHeadParser, hasBody, parseRequestHead, type RequestHead } from '../../src/protocol/http-request.js';
import {
  BIG_FIELDS,
  INVALID_LIMITS,
  MALFORMED_FIELDS,
  REFUSED_AT_ONCE,
  bytes,
  headerLines,
  headerName,
  headerValue,
  text,
} from './http-head-cases.js';
import { expectWebSocketError, splitAt } from './helpers.js';

const LIMITS = { maxHeaderSize: 16 * 1024, maxHeaderCount: 100 };
/** The request line before the shared header-section cases. */
const START = 'GET / HTTP/1.1\r\n';

/** RFC 6455 1.3's opening handshake (with the Host of 1.2). */
const REQUEST =
  'GET /chat HTTP/1.1\r\n' +
  'Host: server.example.com\r\n' +
  'Upgrade: websocket\r\n' +
  'Connection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
  'Origin: http://example.com\r\n' +
  'Sec-WebSocket-Protocol: chat, superchat\r\n' +
  'Sec-WebSocket-Version: 13\r\n' +
  '\r\n';
/** RFC 6455 5.7: a masked "Hello" text frame, the first bytes a client may send after its request. */
const HELLO_FRAME = '\x81\x857\xfa!=\x7f\x9fMQX';

function parsed(head: string, limits = LIMITS): RequestHead {
  const result = parseRequestHead(bytes(head), limits);
  expect(result).not.toBeNull();
  return result!;
}

function refused(head: string, limits = LIMITS): HandshakeError {
  const error = expectWebSocketError(() => parseRequestHead(bytes(head), limits), 'WS_ERR_INVALID_HTTP_REQUEST');
  expect(error).toBeInstanceOf(HandshakeError);
  return error as HandshakeError;
}

function expectInvalid(head: string, why: string, offset: number): void {
  const error = refused(head);
  expect(error.status).toBe(400);
  expect(error.message).toBe(`invalid HTTP request: ${why} at offset ${offset}`);
}

function expectTooLarge(push: () => unknown, message: string): void {
  const error = expectWebSocketError(push, 'WS_ERR_HANDSHAKE_HEADERS') as HandshakeError;
  expect(error).toBeInstanceOf(HandshakeError);
  expect(error.status).toBe(431);
  expect(error.message).toBe(message);
}

describe('parseRequestHead: complete heads', () => {
  it("reads RFC 6455 1.3's opening handshake, and says where the WebSocket frames start", () => {
    const input = bytes(REQUEST + HELLO_FRAME);
    const head = parseRequestHead(input, LIMITS);
    expect(head).toEqual({
      method: 'GET',
      url: '/chat',
      httpVersion: '1.1',
      headers: {
        host: 'server.example.com',
        upgrade: 'websocket',
        connection: 'Upgrade',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        origin: 'http://example.com',
        'sec-websocket-protocol': 'chat, superchat',
        'sec-websocket-version': '13',
      },
      rawHeaders: [
        'Host', 'server.example.com',
        'Upgrade', 'websocket',
        'Connection', 'Upgrade',
        'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==',
        'Origin', 'http://example.com',
        'Sec-WebSocket-Protocol', 'chat, superchat',
        'Sec-WebSocket-Version', '13',
      ],
      headLength: REQUEST.length,
    });
    expect(text(input.subarray(head!.headLength))).toBe(HELLO_FRAME);
  });

  it('a head with no header at all; other methods, targets and versions as sent', () => {
    expect(parsed('GET / HTTP/1.1\r\n\r\n')).toEqual({ method: 'GET', url: '/', httpVersion: '1.1', headers: {}, rawHeaders: [], headLength: 18 });
    expect(parsed('POST /a?b=c&d=%20#x HTTP/1.0\r\n\r\n')).toMatchObject({ method: 'POST', url: '/a?b=c&d=%20#x', httpVersion: '1.0' });
    expect(parsed('OPTIONS * HTTP/1.1\r\n\r\n')).toMatchObject({ method: 'OPTIONS', url: '*' });
    expect(parsed('CONNECT example.com:443 HTTP/1.1\r\n\r\n')).toMatchObject({ method: 'CONNECT', url: 'example.com:443' });
    expect(parsed('get http://h/p HTTP/2.0\r\n\r\n')).toMatchObject({ method: 'get', url: 'http://h/p', httpVersion: '2.0' });
    // The HTTP/2 connection preface's first line is a request line; what follows is its business.
    const preface = parseRequestHead(bytes('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), LIMITS)!;
    expect(preface).toMatchObject({ method: 'PRI', url: '*', httpVersion: '2.0', headLength: 18 });
  });

  it('trims spaces and tabs around values, keeps those inside; an empty value is ""', () => {
    const head = parsed('GET / HTTP/1.1\r\nA:  x y \t\r\nB:\t\r\nC:\r\nD:z\r\n\r\n');
    expect(head.rawHeaders).toEqual(['A', 'x y', 'B', '', 'C', '', 'D', 'z']);
    expect(head.headers).toEqual({ a: 'x y', b: '', c: '', d: 'z' });
  });

  it('reads obs-text (bytes 0x80-0xFF) as latin1 in values', () => {
    expect(parsed('GET / HTTP/1.1\r\nX-Name: caf\xe9 \xff\r\n\r\n').headers['x-name']).toBe('caf\xe9 \xff');
  });

  it("joins repeated headers as Node's IncomingMessage does: ', ', '; ' for Cookie, an array for Set-Cookie, the first of the others", () => {
    const head = parsed(
      'GET / HTTP/1.1\r\n' +
        'Host: a.example\r\n' +
        'Sec-WebSocket-Protocol: one\r\n' +
        'sec-websocket-protocol: two\r\n' +
        'SEC-WEBSOCKET-PROTOCOL: three\r\n' +
        'Cookie: a=1\r\n' +
        'cookie: b=2\r\n' +
        'Set-Cookie: c=3\r\n' +
        'Set-Cookie: d=4\r\n' +
        'User-Agent: first\r\n' +
        'User-Agent: second\r\n' +
        'Authorization: Bearer 1\r\n' +
        'Authorization: Bearer 2\r\n' +
        'Origin: http://a\r\n' +
        'Origin: http://b\r\n' +
        '\r\n',
    );
    expect(head.headers).toEqual({
      host: 'a.example',
      'sec-websocket-protocol': 'one, two, three',
      cookie: 'a=1; b=2',
      'set-cookie': ['c=3', 'd=4'],
      'user-agent': 'first',
      authorization: 'Bearer 1',
      origin: 'http://a, http://b',
    });
    expect(head.rawHeaders).toHaveLength(28);
  });

  it('a header named __proto__ is an ordinary header (no prototype pollution)', () => {
    const head = parsed('GET / HTTP/1.1\r\n__proto__: x\r\nconstructor: y\r\n__proto__: z\r\n\r\n');
    expect(Object.getOwnPropertyDescriptor(head.headers, '__proto__')?.value).toBe('x, z');
    expect(head.headers['constructor']).toBe('y');
    expect(Object.keys(head.headers)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(head.headers)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });
});

describe('parseRequestHead: bodies (RFC 9112 6)', () => {
  it('one decimal Content-Length, or Transfer-Encoding ending in chunked, is accepted; hasBody says whether a body follows', () => {
    const cases: Array<[string, boolean]> = [
      ['GET / HTTP/1.1\r\n\r\n', false],
      ['GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n', false],
      ['GET / HTTP/1.1\r\nContent-Length: 000\r\n\r\n', false],
      ['POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n', true],
      ['POST / HTTP/1.1\r\nTransfer-Encoding: gzip ,\tChunked\r\n\r\n', true],
      ['POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n', true],
    ];
    for (const [head, body] of cases) expect(hasBody(parsed(head)), head).toBe(body);
    expect(parsed('POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n').headers['transfer-encoding']).toBe('gzip, chunked');
  });
});

describe('parseRequestHead: incomplete heads', () => {
  it('is null for every proper prefix of a head', () => {
    for (let k = 0; k < REQUEST.length; k++) {
      expect(parseRequestHead(bytes(REQUEST.slice(0, k)), LIMITS), `prefix of ${k} bytes`).toBeNull();
    }
  });

  it('a single CRLF ends a line, not the head', () => {
    expect(parseRequestHead(bytes('GET / HTTP/1.1\r\nHost: x\r\n'), LIMITS)).toBeNull();
  });
});

describe('parseRequestHead: malformed heads, 400 WS_ERR_INVALID_HTTP_REQUEST with the offset', () => {
  const METHOD = 'a request line that does not start with a method and a space';
  const VERSION = 'a request line that does not end with an HTTP version (HTTP/1.1)';
  const TARGET = 'a request target with a character other than visible ASCII';
  it.each([
    ['an empty request line', '\r\n\r\n', METHOD, 0],
    ['a leading empty line (RFC 9112 2.2 lets a server refuse it)', '\r\nGET / HTTP/1.1\r\n\r\n', METHOD, 0],
    ['a leading space', ' GET / HTTP/1.1\r\n\r\n', METHOD, 0],
    ['a method that is not a token', 'G(T / HTTP/1.1\r\n\r\n', METHOD, 1],
    ['a TLS ClientHello on a cleartext port', '\x16\x03\x01\x02\x00\x01', METHOD, 0],
    ['a method alone on its line', 'GET\r\n\r\n', METHOD, 3],
    ['two spaces after the method', 'GET  / HTTP/1.1\r\n\r\n', 'a request line without a request target', 4],
    ['no request target', 'GET HTTP/1.1\r\n\r\n', TARGET, 12],
    ['a tab in the target', 'GET /a\tb HTTP/1.1\r\n\r\n', TARGET, 6],
    ['a control character in the target', 'GET /a\x01 HTTP/1.1\r\n\r\n', TARGET, 6],
    ['DEL in the target', 'GET /\x7f HTTP/1.1\r\n\r\n', TARGET, 5],
    ['a non-ASCII byte in the target', 'GET /caf\xe9 HTTP/1.1\r\n\r\n', TARGET, 8],
    ['no version', 'GET / \r\n\r\n', VERSION, 6],
    ['a lower-case HTTP name (it is case-sensitive)', 'GET / http/1.1\r\n\r\n', VERSION, 6],
    ['a one-digit version', 'GET / HTTP/1\r\n\r\n', VERSION, 6],
    ['a two-digit minor version', 'GET / HTTP/1.10\r\n\r\n', VERSION, 6],
    ['a space after the version', 'GET / HTTP/1.1 \r\n\r\n', VERSION, 6],
    ['a third word', 'GET / HTTP/1.1 x\r\n\r\n', VERSION, 6],
    ['a bare LF ending the request line', 'GET / HTTP/1.1\nHost: x\r\n\r\n', 'an LF not preceded by CR', 14],
    ['LF LF ending the head', 'GET / HTTP/1.1\n\n', 'an LF not preceded by CR', 14],
    ['CR CR', 'GET / HTTP/1.1\r\r\n\r\n', 'a CR not followed by LF', 14],
    ['an obs-fold (RFC 9112 5.2: a server rejects it)', 'GET / HTTP/1.1\r\nA: x\r\n y\r\n\r\n', 'a header line that starts with whitespace (obs-fold)', 22],
    ['whitespace before the first header', 'GET / HTTP/1.1\r\n\tA: x\r\n\r\n', 'a header line that starts with whitespace (obs-fold)', 16],
    ['two Host headers (RFC 9112 3.2)', 'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nhost: b\r\n\r\n', 'a second Host header (RFC 9112 3.2)', 31],
    ['two Content-Length headers, even equal (RFC 9112 6.3)', 'POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n', 'a second Content-Length header (RFC 9112 6.3)', 36],
    ['a Content-Length list (RFC 9112 6.3)', 'POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n', 'a Content-Length that is not a decimal number (RFC 9112 6.3)', 17],
    ['a signed Content-Length', 'POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n', 'a Content-Length that is not a decimal number (RFC 9112 6.3)', 17],
    ['an empty Content-Length', 'POST / HTTP/1.1\r\nContent-Length:\r\n\r\n', 'a Content-Length that is not a decimal number (RFC 9112 6.3)', 17],
    ['Transfer-Encoding after Content-Length (RFC 9112 6.1)', 'POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', 'both Transfer-Encoding and Content-Length (RFC 9112 6.1)', 36],
    ['Content-Length after Transfer-Encoding', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n', 'both Transfer-Encoding and Content-Length (RFC 9112 6.1)', 45],
    ['Transfer-Encoding in HTTP/1.0 (RFC 9112 6.1)', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 'Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1)', 17],
    ['a final coding other than chunked (RFC 9112 6.3)', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 'a Transfer-Encoding whose final coding is not chunked (RFC 9112 6.3)', 17],
    ['chunked then another line naming gzip', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX: 1\r\nTransfer-Encoding: gzip\r\n\r\n', 'a Transfer-Encoding whose final coding is not chunked (RFC 9112 6.3)', 17],
    ['a look-alike of chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n', 'a Transfer-Encoding whose final coding is not chunked (RFC 9112 6.3)', 17],
  ])('%s', (_what, head, why, offset) => {
    expectInvalid(head, why, offset);
  });

  // The header fields are read by the response parser's code too (http-head.ts): the shared cases.
  it.each(MALFORMED_FIELDS)('%s', (_what, fields, why, offset) => {
    expectInvalid(START + fields, why, START.length + offset);
  });

  it('what can be refused before the head is complete is refused at once: a bad method, a bare CR or LF', () => {
    for (const prefix of ['\x16\x03', 'G\x00', 'GET / HTTP/1.1\n', 'GET / HTTP/1.1\r\nA: 1\rx']) {
      const error = expectWebSocketError(() => new RequestHeadParser(LIMITS).push(bytes(prefix)), 'WS_ERR_INVALID_HTTP_REQUEST');
      expect((error as HandshakeError).status).toBe(400);
    }
    for (const [fields, why, offset] of REFUSED_AT_ONCE) {
      const error = expectWebSocketError(() => new RequestHeadParser(LIMITS).push(bytes(START + fields)), 'WS_ERR_INVALID_HTTP_REQUEST');
      expect(error.message).toBe(`invalid HTTP request: ${why} at offset ${START.length + offset}`);
    }
  });
});

describe('parseRequestHead: limits, enforced as the bytes arrive (431 WS_ERR_HANDSHAKE_HEADERS)', () => {
  it('a head of exactly maxHeaderSize bytes is accepted; one byte more is refused', () => {
    const size = REQUEST.length;
    expect(parseRequestHead(bytes(REQUEST), { maxHeaderSize: size, maxHeaderCount: 7 })!.headLength).toBe(size);
    // The bytes after the head do not count.
    expect(parseRequestHead(bytes(REQUEST + HELLO_FRAME), { maxHeaderSize: size, maxHeaderCount: 7 })!.headLength).toBe(size);
    expectTooLarge(
      () => parseRequestHead(bytes(REQUEST), { maxHeaderSize: size - 1, maxHeaderCount: 7 }),
      `the request head exceeds ${size - 1} bytes`,
    );
  });

  it('refuses an endless head before its CRLFCRLF arrives, at the first byte past the limit', () => {
    const parser = new RequestHeadParser({ maxHeaderSize: 1024, maxHeaderCount: 100 });
    expect(parser.push(bytes(`GET / HTTP/1.1\r\nX: ${'a'.repeat(1000)}`))).toBeNull();
    expect(parser.push(bytes('a'.repeat(1024 - 1019)))).toBeNull(); // exactly 1024 bytes so far
    expectTooLarge(() => parser.push(bytes('a')), 'the request head exceeds 1024 bytes');
    // Without a line end at all, in the method, or in the target.
    expectTooLarge(() => parseRequestHead(bytes('G'.repeat(1025)), { maxHeaderSize: 1024, maxHeaderCount: 1 }), 'the request head exceeds 1024 bytes');
    expect(parseRequestHead(bytes('G'.repeat(1024)), { maxHeaderSize: 1024, maxHeaderCount: 1 })).toBeNull();
    expectTooLarge(() => parseRequestHead(bytes(`GET /${'a'.repeat(1020)}`), { maxHeaderSize: 1024, maxHeaderCount: 1 }), 'the request head exceeds 1024 bytes');
  });

  it('maxHeaderCount header lines are accepted; one more is refused as soon as its line ends', () => {
    const limits = { maxHeaderSize: 4096, maxHeaderCount: 5 };
    expect(Object.keys(parsed(`GET / HTTP/1.1\r\n${headerLines(5)}\r\n`, limits).headers)).toHaveLength(5);
    // Five lines and the start of a sixth: still waiting.
    expect(parseRequestHead(bytes(`GET / HTTP/1.1\r\n${headerLines(5)}X-5: 5\r`), limits)).toBeNull();
    expectTooLarge(() => parseRequestHead(bytes(`GET / HTTP/1.1\r\n${headerLines(6)}`), limits), 'more than 5 header lines');
  });

  it.each(INVALID_LIMITS)('limits %j: WS_ERR_INVALID_ARGUMENT', (limits) => {
    expectWebSocketError(() => parseRequestHead(bytes(REQUEST), limits), 'WS_ERR_INVALID_ARGUMENT');
  });
});

describe('RequestHeadParser: chunk boundaries', () => {
  it('split in two at every offset, and in three at every pair of offsets: the same head, the same remainder', () => {
    const input = bytes(REQUEST + HELLO_FRAME);
    const whole = parseRequestHead(input, LIMITS)!;
    const check = (cuts: number[]): void => {
      const parser = new RequestHeadParser(LIMITS);
      const chunks = splitAt(input, cuts);
      let result: RequestHead | null = null;
      let k = 0;
      for (; k < chunks.length && result === null; k++) result = parser.push(chunks[k]!);
      expect(result, `cuts ${cuts.join(',')}`).toEqual(whole);
      expect(text(new Uint8Array([...parser.remainder, ...chunks.slice(k).flatMap((c) => [...c])]))).toBe(HELLO_FRAME);
    };
    for (let a = 1; a < input.length; a++) {
      check([a]);
      for (let b = a + 1; b < input.length; b += 7) check([a, b]);
    }
  });

  it('one byte at a time: null until the last byte of the head; the rest of that chunk is the remainder', () => {
    const input = bytes(REQUEST + HELLO_FRAME);
    const parser = new RequestHeadParser(LIMITS);
    for (let i = 0; i < REQUEST.length - 1; i++) expect(parser.push(input.subarray(i, i + 1))).toBeNull();
    expect(parser.received).toHaveLength(REQUEST.length - 1);
    const head = parser.push(input.subarray(REQUEST.length - 1))!;
    expect(head).toEqual(parseRequestHead(input, LIMITS));
    expect(text(parser.remainder)).toBe(HELLO_FRAME);
    expectWebSocketError(() => parser.push(bytes('more')), 'WS_ERR_INVALID_ARGUMENT');
  });

  it('the limits hold at every split: one byte too many is refused whichever chunk brings it', () => {
    const input = bytes(REQUEST);
    for (let a = 1; a < input.length; a++) {
      const parser = new RequestHeadParser({ maxHeaderSize: input.length - 1, maxHeaderCount: 7 });
      const [first, second] = splitAt(input, [a]);
      expect(parser.push(first!)).toBeNull();
      expectWebSocketError(() => parser.push(second!), 'WS_ERR_HANDSHAKE_HEADERS');
    }
  });

  const methods = fc.constantFrom('GET', 'POST', 'OPTIONS', 'M-SEARCH', 'x');
  const targets = fc.string({ unit: fc.constantFrom(...'/abc?=&%~*:@!'.split('')), minLength: 1, maxLength: 12 });
  const requests = fc.record({
    method: methods,
    target: targets,
    headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 8 }),
    after: fc.uint8Array({ maxLength: 20 }),
  });

  it('any split of any request into chunks gives the same head, and the same bytes after it', () => {
    fc.assert(
      fc.property(requests, fc.array(fc.nat(), { maxLength: 10 }), ({ method, target, headers, after }, rawCuts) => {
        const head = `${method} ${target} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
        const input = new Uint8Array([...bytes(head), ...after]);
        const whole = parseRequestHead(input, LIMITS)!;
        expect(whole).toMatchObject({ method, url: target, httpVersion: '1.1', headLength: head.length });
        expect(whole.rawHeaders).toEqual(headers.flatMap(([n, v]) => [n, v.replace(/^[ \t]+|[ \t]+$/g, '')]));

        const parser = new RequestHeadParser(LIMITS);
        const chunks = splitAt(input, rawCuts.map((c) => c % (input.length + 1)));
        let result: RequestHead | null = null;
        let k = 0;
        for (; k < chunks.length && result === null; k++) result = parser.push(chunks[k]!);
        expect(result).toEqual(whole);
        expect([...parser.remainder, ...chunks.slice(k).flatMap((c) => [...c])]).toEqual([...after]);
      }),
      { seed: 9112, numRuns: 1000 },
    );
  });

  it('random and mutated bytes: a head, null, or a 400/431 HandshakeError, and nothing else; the same outcome whichever the split', () => {
    const valid = bytes(REQUEST);
    const mutated = fc
      .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })
      .map((edits) => {
        const copy = valid.slice();
        for (const [at, value] of edits) copy[at] = value;
        return copy;
      });
    const input = fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated);
    const outcome = (push: () => RequestHead | null): string => {
      try {
        const head = push();
        return head === null ? 'null' : JSON.stringify(head);
      } catch (error) {
        expect(error).toBeInstanceOf(HandshakeError);
        const { status, code, message } = error as HandshakeError;
        expect([400, 431]).toContain(status);
        return `${status} ${code} ${message}`;
      }
    };
    fc.assert(
      fc.property(input, fc.array(fc.nat(), { maxLength: 6 }), (data, rawCuts) => {
        const whole = outcome(() => parseRequestHead(data, { maxHeaderSize: 256, maxHeaderCount: 6 }));
        const parser = new RequestHeadParser({ maxHeaderSize: 256, maxHeaderCount: 6 });
        const chunks = splitAt(data, rawCuts.map((c) => c % (data.length + 1)));
        const split = outcome(() => {
          let result: RequestHead | null = null;
          for (let k = 0; k < chunks.length && result === null; k++) result = parser.push(chunks[k]!);
          return result;
        });
        // Every byte is judged as it arrives, whichever chunk brings it.
        expect(split).toBe(whole);
      }),
      { seed: 7230, numRuns: 2000 },
    );
  });

  it('a 64 KiB head fed one byte at a time parses to the same head (the bytes are scanned as they come)', () => {
    const big = `GET / HTTP/1.1\r\n${BIG_FIELDS}\r\n`;
    const input = bytes(big);
    const limits = { maxHeaderSize: 128 * 1024, maxHeaderCount: 2000 };
    const parser = new RequestHeadParser(limits);
    let result: RequestHead | null = null;
    for (let i = 0; i < input.length && result === null; i++) result = parser.push(input.subarray(i, i + 1));
    expect(input.length).toBeGreaterThan(64 * 1024);
    expect(result).toEqual(parseRequestHead(input, limits));
    expect(Object.keys(result!.headers)).toHaveLength(1024);
  });
});
