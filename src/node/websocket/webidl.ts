/**
 * The argument checks of the WebSocket interface, as the WHATWG WebSockets Standard and Web IDL
 * spell them (https://websockets.spec.whatwg.org/): the constructor's URL and subprotocol rules,
 * close()'s code and reason rules, and the IDL conversions their arguments go through first.
 */

import { isToken } from '../../protocol/http-syntax.js';

/** A "SyntaxError" DOMException, as the constructor and close() throw. */
export function syntaxError(message: string): DOMException {
  return new DOMException(message, 'SyntaxError');
}

/**
 * WebSockets Standard, "new WebSocket(url, protocols)" steps 1-4 (steps 2-3 as the current
 * standard has them: http: and https: become ws: and wss:). Node has no document, so there is
 * no base URL: a relative URL fails to parse, as in a worker without one.
 */
export function parseWebSocketUrl(input: unknown): URL {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    throw syntaxError(`${JSON.stringify(String(input))} is not a valid URL`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw syntaxError(`the URL's scheme must be ws: or wss: (or http:, https:), got ${url.protocol}`);
  }
  // "If urlRecord's fragment is non-null": an empty fragment ('#' alone) is non-null too.
  if (url.hash !== '' || url.href.endsWith('#')) throw syntaxError('a WebSocket URL may not have a fragment');
  return url;
}

/** Web IDL `(DOMString or sequence<DOMString>)`: an iterable object is a sequence, anything else a string. */
export function toProtocolList(value: unknown): string[] {
  if (value === undefined) return [];
  if (typeof value === 'object' && value !== null && Symbol.iterator in value) {
    return Array.from(value as Iterable<unknown>, (item) => String(item));
  }
  return [String(value)];
}

/**
 * Constructor step 6: "If any of the values in protocols occur more than once or otherwise fail to
 * match the requirements for elements that comprise the value of Sec-WebSocket-Protocol fields"
 * (RFC 6455 4.1: tokens, all unique). Unique ignoring case, as the web-platform-tests require
 * (websockets/Create-protocols-repeated-case-insensitive).
 */
export function checkProtocols(protocols: readonly string[]): void {
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (!isToken(protocol)) throw syntaxError(`the subprotocol ${JSON.stringify(protocol)} is not a token (RFC 6455 4.1)`);
    const folded = protocol.toLowerCase();
    if (seen.has(folded)) throw syntaxError(`the subprotocol ${JSON.stringify(protocol)} is listed more than once`);
    seen.add(folded);
  }
}

/**
 * Web IDL `[Clamp] unsigned short` (close()'s code): NaN is 0, the value is clamped to 0-65535
 * and rounded to the nearest integer, ties to even.
 */
export function clampUnsignedShort(value: unknown): number {
  const x = Number(value);
  if (Number.isNaN(x)) return 0;
  const clamped = Math.min(Math.max(x, 0), 0xffff);
  const floor = Math.floor(clamped);
  const fraction = clamped - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Web IDL `unsigned short` without [Clamp] (CloseEventInit.code): modulo 2^16. */
export function toUnsignedShort(value: unknown): number {
  const x = Number(value);
  if (!Number.isFinite(x)) return 0;
  const truncated = Math.trunc(x);
  return ((truncated % 0x10000) + 0x10000) % 0x10000;
}

/**
 * Web IDL USVString: lone surrogates become U+FFFD. (Buffer.from() encodes them as U+FFFD too, so
 * byte counts agree with what is sent.)
 */
export function toUSVString(value: unknown): string {
  const text = String(value);
  // Fast path: no surrogate at all.
  if (!/[\uD800-\uDFFF]/.test(text)) return text;
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/**
 * close(code, reason) steps 1-2: "If code is present, but is neither an integer equal to 1000 nor
 * an integer in the range 3000 to 4999, inclusive, throw an InvalidAccessError DOMException. If
 * reason is present... If reasonBytes is longer than 123 bytes, then throw a SyntaxError."
 */
export function checkClose(code: number | undefined, reason: string | undefined): void {
  if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)) {
    throw new DOMException(`close code ${code} is neither 1000 nor in 3000-4999`, 'InvalidAccessError');
  }
  if (reason !== undefined && Buffer.byteLength(reason) > 123) {
    throw syntaxError(`the close reason is ${Buffer.byteLength(reason)} bytes of UTF-8, more than 123`);
  }
}
