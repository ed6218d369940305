/**
 * The small pieces of HTTP syntax (RFC 9110 5.5, 5.6) that both handshake roles and the extension
 * parser share: tokens, comma-separated lists, and checks on header names and values we write.
 *
 * Every function is one pass over its characters with no regular expression that could backtrack,
 * so a hostile 64 KiB value costs linear time.
 */

import { WebSocketError } from './errors.js';

/** RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
export function isTokenChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x21 ||
    (c >= 0x23 && c <= 0x27) ||
    c === 0x2a ||
    c === 0x2b ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5e ||
    c === 0x5f ||
    c === 0x60 ||
    c === 0x7c ||
    c === 0x7e
  );
}

/** RFC 9110 5.6.2: token = 1*tchar */
export function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    if (!isTokenChar(value.charCodeAt(i))) return false;
  }
  return true;
}

/** RFC 9110 5.6.3: OWS is spaces and horizontal tabs. */
export function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * Splits a comma-separated header value into its elements, trimmed of spaces and tabs (RFC 9110
 * 5.6.1); empty elements are dropped (5.6.1.2: a recipient MUST ignore them).
 */
export function splitHeaderList(value: string): string[] {
  const items: string[] = [];
  let start = 0;
  for (let i = 0; i <= value.length; i++) {
    if (i < value.length && value.charCodeAt(i) !== 0x2c) continue;
    let a = start;
    let b = i;
    while (a < b && isWhitespace(value.charCodeAt(a))) a++;
    while (b > a && isWhitespace(value.charCodeAt(b - 1))) b--;
    if (b > a) items.push(value.slice(a, b));
    start = i + 1;
  }
  return items;
}

/** Whether a comma-separated list holds `token`, compared ASCII case-insensitively. */
export function listHasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  for (const item of splitHeaderList(value)) {
    if (item.toLowerCase() === token) return true;
  }
  return false;
}

/** Spaces and tabs removed from both ends (OWS, RFC 9110 5.6.3); `String.trim` removes more. */
export function trimWhitespace(value: string): string {
  let a = 0;
  let b = value.length;
  while (a < b && isWhitespace(value.charCodeAt(a))) a++;
  while (b > a && isWhitespace(value.charCodeAt(b - 1))) b--;
  return value.slice(a, b);
}

/** A header value with no CR, LF or NUL: RFC 9110 5.5 makes those invalid in a field value. */
function isSafeValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0x00) return false;
  }
  return true;
}

/**
 * Checks a header we are about to write: the name must be a token (RFC 9110 5.1) and the value
 * free of CR, LF and NUL (5.5), so that nothing the application passes can split the head and
 * inject headers of its own. Throws WS_ERR_INVALID_ARGUMENT.
 */
export function checkHeaderField(name: string, value: string): void {
  if (!isToken(name)) {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `header name ${JSON.stringify(name)} is not a token`);
  }
  if (!isSafeValue(value)) {
    throw new WebSocketError(
      'WS_ERR_INVALID_ARGUMENT',
      `header ${JSON.stringify(name)} contains CR, LF or NUL in its value`,
    );
  }
}

/**
 * `Name: value\r\n` for every header, each checked by checkHeaderField. A name in `reserved`
 * (lower-case) is refused: the head already says it, and a second copy would contradict it.
 */
export function formatHeaders(
  headers: Readonly<Record<string, string>> | undefined,
  reserved: ReadonlySet<string> = NO_NAMES,
): string {
  if (headers === undefined) return '';
  let out = '';
  for (const [name, value] of Object.entries(headers)) {
    checkHeaderField(name, value);
    if (reserved.has(name.toLowerCase())) {
      throw new WebSocketError(
        'WS_ERR_INVALID_ARGUMENT',
        `header ${JSON.stringify(name)} is written by the handshake itself and cannot be set`,
      );
    }
    out += `${name}: ${value}\r\n`;
  }
  return out;
}

const NO_NAMES: ReadonlySet<string> = new Set();
