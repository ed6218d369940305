/**
 * The start of an HTTP/1.1 response body (RFC 9112 6 and 7.1), for a client that was refused the
 * upgrade and wants to report what the server said: how the body is delimited, and its first
 * bytes decoded from what has arrived. Pure; each call reads its input once.
 */

import { WebSocketError } from './errors.js';
import type { ResponseHead } from './http-response.js';

/** How a response's body ends (RFC 9112 6.3). */
export type BodyFraming =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'close' };

export interface BodyPrefix {
  /** The decoded body bytes so far, at most maxBytes. */
  readonly body: Uint8Array;
  /** The whole body is in `body`. */
  readonly complete: boolean;
  /** The body is longer than maxBytes: `body` holds its first maxBytes. */
  readonly truncated: boolean;
}

function invalid(why: string): WebSocketError {
  return new WebSocketError('WS_ERR_INVALID_HTTP_RESPONSE', `invalid HTTP response body: ${why}`);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * RFC 9112 6.3: no body for 1xx, 204 and 304; else Transfer-Encoding (chunked last: chunked;
 * otherwise until close) wins over Content-Length; else Content-Length, which must be one
 * decimal number (repeated copies must agree); else the body runs until the connection closes.
 * (A 2xx to CONNECT has no body either: the caller knows it sent CONNECT.)
 */
export function bodyFraming(head: ResponseHead): BodyFraming {
  if ((head.status >= 100 && head.status < 200) || head.status === 204 || head.status === 304) return { kind: 'none' };
  const transferEncoding = single(head.headers['transfer-encoding']);
  if (transferEncoding !== undefined) {
    const codings = transferEncoding.split(',').map((coding) => coding.trim().toLowerCase());
    return codings[codings.length - 1] === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  const contentLength = single(head.headers['content-length']);
  if (contentLength === undefined) return { kind: 'close' };
  let length: number | undefined;
  for (const part of contentLength.split(',')) {
    const text = part.trim();
    if (!/^\d{1,15}$/.test(text)) throw invalid(`Content-Length ${JSON.stringify(contentLength)} is not a number`);
    const value = Number(text);
    if (length !== undefined && value !== length) {
      throw invalid(`Content-Length ${JSON.stringify(contentLength)} disagrees with itself`);
    }
    length = value;
  }
  return { kind: 'length', length: length! };
}

/**
 * The body's first bytes, decoded, from `bytes` (everything received after the head so far).
 * Throws WS_ERR_INVALID_HTTP_RESPONSE for malformed chunked framing.
 */
export function readBodyPrefix(framing: BodyFraming, bytes: Uint8Array, maxBytes: number): BodyPrefix {
  switch (framing.kind) {
    case 'none':
      return { body: new Uint8Array(0), complete: true, truncated: false };
    case 'length': {
      const available = Math.min(bytes.length, framing.length);
      const take = Math.min(available, maxBytes);
      // Truncated once maxBytes of a longer body are in: not before they have arrived.
      const truncated = framing.length > maxBytes && available >= maxBytes;
      return { body: bytes.slice(0, take), complete: !truncated && available === framing.length, truncated };
    }
    case 'close': {
      const take = Math.min(bytes.length, maxBytes);
      return { body: bytes.slice(0, take), complete: false, truncated: bytes.length > maxBytes };
    }
    case 'chunked':
      return readChunked(bytes, maxBytes);
  }
}

const CR = 0x0d;
const LF = 0x0a;

/** The end of the line starting at `from` (the index of its CR), or -1 if it has not arrived. */
function lineEnd(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 1 < bytes.length; i++) {
    if (bytes[i] === CR) {
      if (bytes[i + 1] !== LF) throw invalid('a CR not followed by LF in the chunked framing');
      return i;
    }
    if (bytes[i] === LF) throw invalid('an LF not preceded by CR in the chunked framing');
  }
  return -1;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** RFC 9112 7.1: chunk-size [ chunk-ext ] CRLF chunk-data CRLF ... last-chunk trailers CRLF. */
function readChunked(bytes: Uint8Array, maxBytes: number): BodyPrefix {
  const parts: Uint8Array[] = [];
  let size = 0;
  const result = (complete: boolean, truncated: boolean): BodyPrefix => {
    const body = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      body.set(part, at);
      at += part.length;
    }
    return { body, complete, truncated };
  };
  const add = (from: number, to: number): boolean => {
    const take = Math.min(to - from, maxBytes - size);
    parts.push(bytes.subarray(from, from + take));
    size += take;
    return take < to - from; // true: the body goes beyond maxBytes
  };

  let p = 0;
  for (;;) {
    const end = lineEnd(bytes, p);
    if (end < 0) return result(false, false);
    let chunkSize = 0;
    let i = p;
    for (; i < end && hexDigit(bytes[i]!) >= 0; i++) {
      chunkSize = chunkSize * 16 + hexDigit(bytes[i]!);
      if (chunkSize > Number.MAX_SAFE_INTEGER / 16) throw invalid('a chunk size too large');
    }
    // A chunk extension may follow (";name=value", with optional whitespace before it); ignored.
    const next = bytes[i];
    if (i === p || (i < end && next !== 0x3b && next !== 0x20 && next !== 0x09)) {
      throw invalid('a malformed chunk size line');
    }
    if (chunkSize === 0) {
      // The trailer section: field lines up to an empty line.
      let q = end + 2;
      for (;;) {
        const trailerEnd = lineEnd(bytes, q);
        if (trailerEnd < 0) return result(false, false);
        if (trailerEnd === q) return result(true, false);
        q = trailerEnd + 2;
      }
    }
    const dataStart = end + 2;
    const dataEnd = dataStart + chunkSize;
    if (add(dataStart, Math.min(dataEnd, bytes.length))) return result(false, true);
    if (dataEnd + 2 > bytes.length) return result(false, false);
    if (bytes[dataEnd] !== CR || bytes[dataEnd + 1] !== LF) throw invalid('chunk data not followed by CRLF');
    p = dataEnd + 2;
  }
}
