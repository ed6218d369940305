/**
 * What the request and response head parsers' tests share, since one piece (src/protocol/http-head.ts)
 * reads both heads' header fields and enforces both limits: the malformed header sections with
 * their error and offset, the header sections refused before the head is complete, the invalid
 * limits, and the arbitraries of header names and values. Offsets count from the first byte after
 * the start line, so that each test adds its own start line's length.
 */

import fc from 'fast-check';

export const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));
export const text = (data: Uint8Array): string => Buffer.from(data).toString('latin1');

const NAME_THEN = 'a header name followed by something other than ":"';

/** [what, the header section (after the start line), the error's why, its offset in the section]. */
export const MALFORMED_FIELDS: Array<[string, string, string, number]> = [
  ['a bare LF ending a header line', 'A: 1\nB: 2\r\n\r\n', 'an LF not preceded by CR', 4],
  ['a bare CR inside a value', 'A: 1\r2\r\n\r\n', 'a CR not followed by LF', 4],
  ['a space before the colon (RFC 9112 5.1)', 'Upgrade : websocket\r\n\r\n', NAME_THEN, 7],
  ['a name with a space inside', 'Bad Name: x\r\n\r\n', NAME_THEN, 3],
  ['a line with no colon', 'Upgrade\r\n\r\n', NAME_THEN, 7],
  ['an empty name', ': x\r\n\r\n', 'a header line that does not start with a name', 0],
  ['a name with a non-token character', 'X(y): 1\r\n\r\n', NAME_THEN, 1],
  ['a NUL in a value', 'A: x\x00y\r\n\r\n', 'a control character in a header value', 4],
  ['DEL in a value', 'A: x\x7f\r\n\r\n', 'a control character in a header value', 4],
];

/** Header sections refused as soon as their bad byte arrives, before any CRLFCRLF: [why, offset]. */
export const REFUSED_AT_ONCE: Array<[string, string, number]> = [
  ['A: 1\n', 'an LF not preceded by CR', 4],
  ['A: 1\rx', 'a CR not followed by LF', 4],
];

/** Limits that are not positive integers: WS_ERR_INVALID_ARGUMENT from either parser. */
export const INVALID_LIMITS = [
  { maxHeaderSize: 0, maxHeaderCount: 1 },
  { maxHeaderSize: 1024, maxHeaderCount: 0 },
  { maxHeaderSize: 1.5, maxHeaderCount: 1 },
  { maxHeaderSize: Number.NaN, maxHeaderCount: 1 },
];

/** `n` header lines, `X-i: i`, each ending in CRLF. */
export const headerLines = (n: number): string => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join('');

/** Token names, and values with spaces and tabs to be trimmed, separators and obs-text. */
export const headerName = fc.string({ unit: fc.constantFrom(...'abcXYZ-_09'.split('')), minLength: 1, maxLength: 8 });
export const headerValue = fc.string({ unit: fc.constantFrom(...'ab c\t:;,="\xe9'.split('')), maxLength: 12 });

/** 1024 header lines of 64 bytes each: with a start line, a head of more than 64 KiB. */
export const BIG_FIELDS = Array.from({ length: 1024 }, (_, i) => `X-${i}: ${'v'.repeat(56)}\r\n`).join('');
