/**
 * The HTTP/1.1 response head parser (RFC 9112 4, 5) and the body-prefix helper (6.3, 7.1), by
 * bytes: the exact result for a 101 and a proxy's 200, null until CRLFCRLF, every malformed line
 * with its code and offset, the limits enforced before the head is complete, and properties that
 * any split of the bytes into chunks gives the same head and the same bytes after it.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bodyFraming, readBodyPrefix, type BodyFraming } from '../../src/protocol/http-body.js';
import { ResponseHeadParser, parseResponseHead, type ResponseHead } from '../../src/protocol/http-response.js';
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
/** The status line before the shared header-section cases. */
const START = 'HTTP/1.1 101 OK\r\n';

const RESPONSE_101 =
  'HTTP/1.1 101 Switching Protocols\r\n' +
  'Upgrade: websocket\r\n' +
  'Connection: Upgrade\r\n' +
  'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
  '\r\n';
/** RFC 6455 5.7: an unmasked "Hello" text frame, the first bytes after the head. */
const HELLO_FRAME = '\x81\x05Hello';

function parsed(head: string, limits = LIMITS): ResponseHead {
  const result = parseResponseHead(bytes(head), limits);
  expect(result).not.toBeNull();
  return result!;
}

function expectInvalid(head: string, why: string, offset: number): void {
  const error = expectWebSocketError(() => parseResponseHead(bytes(head), LIMITS), 'WS_ERR_INVALID_HTTP_RESPONSE');
  expect(error.message).toBe(`invalid HTTP response: ${why} at offset ${offset}`);
}

describe('parseResponseHead: complete heads', () => {
  it('reads the RFC 6455 1.3 101 response, and says where the WebSocket frames start', () => {
    const input = bytes(RESPONSE_101 + HELLO_FRAME);
    const head = parseResponseHead(input, LIMITS);
    expect(head).toEqual({
      httpVersion: '1.1',
      status: 101,
      statusText: 'Switching Protocols',
      headers: {
        upgrade: 'websocket',
        connection: 'Upgrade',
        'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
      },
      rawHeaders: ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='],
      headLength: RESPONSE_101.length,
    });
    expect(text(input.subarray(head!.headLength))).toBe(HELLO_FRAME);
  });

  it("reads an HTTP CONNECT proxy's answer, with the tunnel's first bytes after it", () => {
    const answer = 'HTTP/1.1 200 Connection established\r\nProxy-Agent: test\r\n\r\n';
    const input = bytes(`${answer}\x16\x03\x01`);
    const head = parseResponseHead(input, LIMITS)!;
    expect({ status: head.status, statusText: head.statusText, headers: head.headers, headLength: head.headLength }).toEqual({
      status: 200,
      statusText: 'Connection established',
      headers: { 'proxy-agent': 'test' },
      headLength: answer.length,
    });
    expect([...input.subarray(head.headLength)]).toEqual([0x16, 0x03, 0x01]);
  });

  it('a head with no header at all', () => {
    expect(parsed('HTTP/1.1 204 No Content\r\n\r\n')).toMatchObject({ status: 204, headers: {}, rawHeaders: [], headLength: 27 });
  });

  it('lower-cases names in headers, keeps them as sent in rawHeaders; repeated headers become arrays, in order', () => {
    const head = parsed('HTTP/1.1 101 OK\r\nSet-Cookie: a=1\r\nX-One: 1\r\nset-cookie: b=2\r\nSET-COOKIE: c=3\r\n\r\n');
    expect(head.headers).toEqual({ 'set-cookie': ['a=1', 'b=2', 'c=3'], 'x-one': '1' });
    expect(head.rawHeaders).toEqual(['Set-Cookie', 'a=1', 'X-One', '1', 'set-cookie', 'b=2', 'SET-COOKIE', 'c=3']);
  });

  it('trims spaces and tabs around values, keeps those inside; an empty value is ""', () => {
    const head = parsed('HTTP/1.1 101 OK\r\nA: \t x  y \t\r\nB:\r\nC:   \r\nD:z\r\n\r\n');
    expect(head.headers).toEqual({ a: 'x  y', b: '', c: '', d: 'z' });
  });

  it('reads obs-text (bytes 0x80-0xFF) as latin1, in values and the reason phrase', () => {
    const head = parsed('HTTP/1.1 403 Interdit \xe9\r\nX-Name: caf\xe9\r\n\r\n');
    expect(head.statusText).toBe('Interdit é');
    expect(head.headers['x-name']).toBe('café');
  });

  it('RFC 9112 5.2: a folded value (obs-fold) is joined with a space', () => {
    const head = parsed('HTTP/1.1 101 OK\r\nX-Long: part one\r\n  part two\r\n\tpart three\r\nY: 1\r\n\r\n');
    expect(head.headers).toEqual({ 'x-long': 'part one part two part three', y: '1' });
    expect(head.rawHeaders).toEqual(['X-Long', 'part one part two part three', 'Y', '1']);
    // Folded into the latest copy of a repeated header.
    expect(parsed('HTTP/1.1 101 OK\r\nA: 1\r\nA: 2\r\n 3\r\n\r\n').headers).toEqual({ a: ['1', '2 3'] });
  });

  it('status lines: other versions of HTTP/1.x, other statuses, no reason phrase (with or without the space)', () => {
    expect(parsed('HTTP/1.0 200 OK\r\n\r\n')).toMatchObject({ httpVersion: '1.0', status: 200, statusText: 'OK' });
    expect(parsed('HTTP/1.1 101\r\n\r\n')).toMatchObject({ status: 101, statusText: '' });
    expect(parsed('HTTP/1.1 101 \r\n\r\n')).toMatchObject({ status: 101, statusText: '' });
    expect(parsed('HTTP/1.1 599 Whatever it says\tat all\r\n\r\n')).toMatchObject({ status: 599, statusText: 'Whatever it says\tat all' });
  });

  it('a header named __proto__ is an ordinary header (no prototype pollution)', () => {
    const head = parsed('HTTP/1.1 101 OK\r\n__proto__: x\r\nconstructor: y\r\n\r\n');
    expect(head.headers['__proto__']).toBe('x');
    expect(head.headers['constructor']).toBe('y');
    expect(Object.keys(head.headers)).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });

  it('interim 1xx responses (RFC 9110 15.2): each head ends where the next begins', () => {
    const input = bytes(`HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n${RESPONSE_101}${HELLO_FRAME}`);
    const first = parseResponseHead(input, LIMITS)!;
    expect(first.status).toBe(103);
    const second = parseResponseHead(input.subarray(first.headLength), LIMITS)!;
    expect(second.status).toBe(101);
    expect(text(input.subarray(first.headLength + second.headLength))).toBe(HELLO_FRAME);
  });
});

describe('parseResponseHead: incomplete heads', () => {
  it('is null for every proper prefix of a head', () => {
    for (let k = 0; k < RESPONSE_101.length; k++) {
      expect(parseResponseHead(bytes(RESPONSE_101.slice(0, k)), LIMITS), `prefix of ${k} bytes`).toBeNull();
    }
  });

  it('a single CRLF ends a line, not the head', () => {
    expect(parseResponseHead(bytes('HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n'), LIMITS)).toBeNull();
  });
});

describe('parseResponseHead: malformed heads, WS_ERR_INVALID_HTTP_RESPONSE with the offset', () => {
  const STATUS = 'a malformed status line (expected "HTTP/1.1 101 Switching Protocols")';
  it.each([
    ['an empty status line', '\r\n\r\n', STATUS, 0],
    ['a lower-case HTTP name (it is case-sensitive)', 'http/1.1 101 OK\r\n\r\n', STATUS, 0],
    ['another protocol', 'ICY 200 OK\r\n\r\n', STATUS, 0],
    ['a one-digit version', 'HTTP/1 101 OK\r\n\r\n', STATUS, 0],
    ['two spaces before the status', 'HTTP/1.1  101 OK\r\n\r\n', STATUS, 0],
    ['a two-digit status', 'HTTP/1.1 10 OK\r\n\r\n', STATUS, 0],
    ['a four-digit status', 'HTTP/1.1 1011 OK\r\n\r\n', STATUS, 0],
    ['a status that is not a number', 'HTTP/1.1 1o1 OK\r\n\r\n', STATUS, 0],
    ['HTTP/2.0', 'HTTP/2.0 101 OK\r\n\r\n', 'HTTP/2.0 is not HTTP/1.x', 5],
    ['a control character in the reason phrase', 'HTTP/1.1 101 O\x01K\r\n\r\n', 'a control character in the reason phrase', 14],
    ['a continuation line before any header', 'HTTP/1.1 101 OK\r\n folded\r\n\r\n', 'a continuation line before any header', 17],
  ])('%s', (_what, head, why, offset) => {
    expectInvalid(head, why, offset);
  });

  // The header fields are read by the request parser's code too (http-head.ts): the shared cases.
  it.each(MALFORMED_FIELDS)('%s', (_what, fields, why, offset) => {
    expectInvalid(START + fields, why, START.length + offset);
  });

  it('a bare CR or LF is refused as soon as it arrives, before the head is complete', () => {
    for (const [fields, why, offset] of REFUSED_AT_ONCE) {
      const error = expectWebSocketError(() => new ResponseHeadParser(LIMITS).push(bytes(START + fields)), 'WS_ERR_INVALID_HTTP_RESPONSE');
      expect(error.message).toBe(`invalid HTTP response: ${why} at offset ${START.length + offset}`);
    }
  });
});

describe('parseResponseHead: limits, enforced as the bytes arrive (WS_ERR_HANDSHAKE_HEADERS)', () => {
  it('a head of exactly maxHeaderSize bytes is accepted; one byte more is refused', () => {
    const size = RESPONSE_101.length;
    expect(parseResponseHead(bytes(RESPONSE_101), { maxHeaderSize: size, maxHeaderCount: 3 })!.headLength).toBe(size);
    const error = expectWebSocketError(
      () => parseResponseHead(bytes(RESPONSE_101), { maxHeaderSize: size - 1, maxHeaderCount: 3 }),
      'WS_ERR_HANDSHAKE_HEADERS',
    );
    expect(error.message).toBe(`the response head is too large: the head exceeds ${size - 1} bytes`);
  });

  it('refuses an endless head before its CRLFCRLF arrives, at the first byte past the limit', () => {
    const parser = new ResponseHeadParser({ maxHeaderSize: 1024, maxHeaderCount: 100 });
    expect(parser.push(bytes(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(1000)}`))).toBeNull();
    expect(parser.push(bytes('a'.repeat(1024 - 1020)))).toBeNull(); // exactly 1024 bytes so far
    expectWebSocketError(() => parser.push(bytes('a')), 'WS_ERR_HANDSHAKE_HEADERS');
    // Without a line end at all, too.
    expectWebSocketError(
      () => parseResponseHead(bytes('H'.repeat(2000)), { maxHeaderSize: 1999, maxHeaderCount: 1 }),
      'WS_ERR_HANDSHAKE_HEADERS',
    );
  });

  it('maxHeaderCount header lines are accepted; one more is refused, before the head ends', () => {
    expect(Object.keys(parsed(`HTTP/1.1 101 OK\r\n${headerLines(5)}\r\n`, { maxHeaderSize: 4096, maxHeaderCount: 5 }).headers)).toHaveLength(5);
    const error = expectWebSocketError(
      () => parseResponseHead(bytes(`HTTP/1.1 101 OK\r\n${headerLines(6)}`), { maxHeaderSize: 4096, maxHeaderCount: 5 }),
      'WS_ERR_HANDSHAKE_HEADERS',
    );
    expect(error.message).toBe('the response head is too large: more than 5 header lines');
  });

  it.each(INVALID_LIMITS)('limits %j: WS_ERR_INVALID_ARGUMENT', (limits) => {
    expectWebSocketError(() => parseResponseHead(bytes(RESPONSE_101), limits), 'WS_ERR_INVALID_ARGUMENT');
  });
});

describe('ResponseHeadParser: chunk boundaries', () => {
  it('one byte at a time: null until the last byte of the head; the rest of that chunk is the remainder', () => {
    const input = bytes(RESPONSE_101 + HELLO_FRAME);
    const parser = new ResponseHeadParser(LIMITS);
    for (let i = 0; i < RESPONSE_101.length - 1; i++) expect(parser.push(input.subarray(i, i + 1))).toBeNull();
    const head = parser.push(input.subarray(RESPONSE_101.length - 1))!;
    expect(head).toEqual(parseResponseHead(input, LIMITS));
    expect(text(parser.remainder)).toBe(HELLO_FRAME);
    expectWebSocketError(() => parser.push(bytes('more')), 'WS_ERR_INVALID_ARGUMENT');
  });

  it('CRLFCRLF split across chunks in every way', () => {
    const input = bytes(RESPONSE_101);
    const end = input.length;
    for (const cuts of [[end - 1], [end - 2], [end - 3], [end - 3, end - 2, end - 1]]) {
      const parser = new ResponseHeadParser(LIMITS);
      const chunks = splitAt(input, cuts);
      const results = chunks.map((chunk) => parser.push(chunk));
      expect(results.slice(0, -1).every((r) => r === null)).toBe(true);
      expect(results[results.length - 1]).toEqual(parseResponseHead(input, LIMITS));
    }
  });

  const responses = fc.record({
    status: fc.integer({ min: 100, max: 599 }),
    reason: fc.string({ unit: fc.constantFrom(...'ab OK'.split('')), maxLength: 10 }),
    headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 8 }),
    after: fc.uint8Array({ maxLength: 20 }),
  });

  it('any split of any response into chunks gives the same head, and the same bytes after it', () => {
    fc.assert(
      fc.property(responses, fc.array(fc.nat(), { maxLength: 10 }), ({ status, reason, headers, after }, rawCuts) => {
        const head = `HTTP/1.1 ${status} ${reason}\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
        const input = new Uint8Array([...bytes(head), ...after]);
        const whole = parseResponseHead(input, LIMITS)!;
        expect(whole.headLength).toBe(head.length);
        expect(whole.status).toBe(status);
        expect(whole.rawHeaders).toEqual(headers.flatMap(([n, v]) => [n, v.replace(/^[ \t]+|[ \t]+$/g, '')]));

        const parser = new ResponseHeadParser(LIMITS);
        const chunks = splitAt(input, rawCuts.map((c) => c % (input.length + 1)));
        let result: ResponseHead | null = null;
        let k = 0;
        for (; k < chunks.length && result === null; k++) result = parser.push(chunks[k]!);
        expect(result).toEqual(whole);
        const rest = [...parser.remainder, ...chunks.slice(k).flatMap((c) => [...c])];
        expect(rest).toEqual([...after]);
      }),
      { seed: 9112, numRuns: 1000 },
    );
  });

  it('a 64 KiB head fed one byte at a time parses to the same head (the bytes are scanned as they come)', () => {
    const big = `HTTP/1.1 101 OK\r\n${BIG_FIELDS}\r\n`;
    const input = bytes(big);
    const limits = { maxHeaderSize: 128 * 1024, maxHeaderCount: 2000 };
    const parser = new ResponseHeadParser(limits);
    let result: ResponseHead | null = null;
    for (let i = 0; i < input.length && result === null; i++) result = parser.push(input.subarray(i, i + 1));
    expect(input.length).toBeGreaterThan(64 * 1024);
    expect(result).toEqual(parseResponseHead(input, limits));
    expect(Object.keys(result!.headers)).toHaveLength(1024);
  });
});

// ---- the body -------------------------------------------------------------------------------------

function framingOf(head: string): BodyFraming {
  return bodyFraming(parsed(head));
}

describe('bodyFraming (RFC 9112 6.3)', () => {
  it.each([
    ['101', 'HTTP/1.1 101 Switching Protocols\r\nContent-Length: 5\r\n\r\n', { kind: 'none' }],
    ['204', 'HTTP/1.1 204 No Content\r\n\r\n', { kind: 'none' }],
    ['304', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n', { kind: 'none' }],
    ['Content-Length', 'HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\n\r\n', { kind: 'length', length: 12 }],
    ['repeated equal Content-Length', 'HTTP/1.1 404 Not Found\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\n', { kind: 'length', length: 3 }],
    ['chunked', 'HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n', { kind: 'chunked' }],
    ['chunked last, in any case', 'HTTP/1.1 500 Oops\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n', { kind: 'chunked' }],
    ['Transfer-Encoding over Content-Length', 'HTTP/1.1 500 Oops\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', { kind: 'chunked' }],
    ['Transfer-Encoding without chunked last', 'HTTP/1.1 500 Oops\r\nTransfer-Encoding: gzip\r\n\r\n', { kind: 'close' }],
    ['neither', 'HTTP/1.1 400 Bad Request\r\n\r\n', { kind: 'close' }],
  ])('%s', (_what, head, framing) => {
    expect(framingOf(head)).toEqual(framing);
  });

  it.each([
    ['not a number', 'abc'],
    ['negative', '-1'],
    ['disagreeing copies', '3, 4'],
    ['empty', ''],
  ])('Content-Length %s: WS_ERR_INVALID_HTTP_RESPONSE', (_what, value) => {
    expectWebSocketError(() => framingOf(`HTTP/1.1 400 Bad\r\nContent-Length: ${value}\r\n\r\n`), 'WS_ERR_INVALID_HTTP_RESPONSE');
  });
});

describe('readBodyPrefix', () => {
  const decoded = (framing: BodyFraming, body: string, max = 100): { body: string; complete: boolean; truncated: boolean } => {
    const prefix = readBodyPrefix(framing, bytes(body), max);
    return { body: text(prefix.body), complete: prefix.complete, truncated: prefix.truncated };
  };

  it('no body', () => {
    expect(decoded({ kind: 'none' }, 'ignored')).toEqual({ body: '', complete: true, truncated: false });
  });

  it('Content-Length: complete, partial, beyond the length (not body), longer than maxBytes', () => {
    const length = { kind: 'length', length: 5 } as const;
    expect(decoded(length, 'Hello')).toEqual({ body: 'Hello', complete: true, truncated: false });
    expect(decoded(length, 'Hel')).toEqual({ body: 'Hel', complete: false, truncated: false });
    expect(decoded(length, 'Hello, next')).toEqual({ body: 'Hello', complete: true, truncated: false });
    expect(decoded(length, 'Hello', 3)).toEqual({ body: 'Hel', complete: false, truncated: true });
    // A long body is truncated once maxBytes of it are in, not before they arrived.
    expect(decoded({ kind: 'length', length: 5000 }, 'Hel', 1024)).toEqual({ body: 'Hel', complete: false, truncated: false });
  });

  it('until close: never complete by itself', () => {
    expect(decoded({ kind: 'close' }, 'so far')).toEqual({ body: 'so far', complete: false, truncated: false });
    expect(decoded({ kind: 'close' }, 'so far', 2)).toEqual({ body: 'so', complete: false, truncated: true });
  });

  const chunked = { kind: 'chunked' } as const;
  const WIKI = '4\r\nWiki\r\n7\r\npedia i\r\nB\r\nn \r\nchunks.\r\n0\r\n\r\n';

  it('chunked: decodes the chunks, with extensions and trailers', () => {
    expect(decoded(chunked, WIKI)).toEqual({ body: 'Wikipedia in \r\nchunks.', complete: true, truncated: false });
    expect(decoded(chunked, '3;name=value\r\nabc\r\n0 ; x\r\nTrailer: 1\r\n\r\n')).toEqual({
      body: 'abc',
      complete: true,
      truncated: false,
    });
  });

  it('chunked: every prefix of the body decodes to a prefix of the result, complete only at the end', () => {
    const whole = 'Wikipedia in \r\nchunks.';
    for (let k = 0; k < WIKI.length; k++) {
      const prefix = decoded(chunked, WIKI.slice(0, k));
      expect(whole.startsWith(prefix.body), `prefix of ${k}`).toBe(true);
      expect(prefix.complete).toBe(false);
    }
  });

  it('chunked: stops at maxBytes', () => {
    expect(decoded(chunked, WIKI, 6)).toEqual({ body: 'Wikipe', complete: false, truncated: true });
    expect(decoded(chunked, WIKI, 4)).toEqual({ body: 'Wiki', complete: false, truncated: true });
  });

  it.each([
    ['a size that is not hex', 'xyz\r\nabc\r\n0\r\n\r\n'],
    ['an empty size line', '\r\nabc\r\n'],
    ['junk after the size', '3x\r\nabc\r\n0\r\n\r\n'],
    ['data longer than its size', '3\r\nabcd\r\n0\r\n\r\n'],
    ['a bare LF', '3\nabc\r\n'],
    ['a huge size', `${'f'.repeat(20)}\r\n`],
  ])('chunked with %s: WS_ERR_INVALID_HTTP_RESPONSE', (_what, body) => {
    expectWebSocketError(() => readBodyPrefix(chunked, bytes(body), 100), 'WS_ERR_INVALID_HTTP_RESPONSE');
  });
});
