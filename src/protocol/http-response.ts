/**
 * An HTTP/1.1 response head parser (RFC 9112 4 and 5) for the client's handshake and for an HTTP
 * CONNECT proxy's answer: bytes in, the status and headers out, and where the head ends (what
 * follows is the body, or the first WebSocket frames).
 *
 * Strict where leniency could be exploited: lines end in CRLF only (a bare CR or LF is an error,
 * never a line end), no whitespace before a header's colon (RFC 9112 5.1), no control characters
 * in values (RFC 9110 5.5). One lenient rule the RFC makes mandatory: a user agent MUST replace an
 * obs-fold with spaces (RFC 9112 5.2), so a folded value is joined. Limits are enforced as the
 * bytes arrive, before the head is complete. Every byte is scanned once.
 */

import { WebSocketError } from './errors.js';
import { isTokenChar } from './http-syntax.js';

/** Bounds on a response head, checked as its bytes arrive (the client's maxHeaderSize and maxHeaderCount). */
export interface ResponseHeadLimits {
  /** The largest head accepted, in bytes, status line and final CRLFCRLF included. */
  readonly maxHeaderSize: number;
  /** The most header lines accepted (folded continuation lines count as their own). */
  readonly maxHeaderCount: number;
}

/** An HTTP response head, parsed: what ResponseHeadParser returns once the head is complete. */
export interface ResponseHead {
  /** "1.1" for HTTP/1.1. */
  readonly httpVersion: string;
  /** The three-digit status code (101 for a WebSocket handshake accepted). */
  readonly status: number;
  /** The reason phrase as sent ("Switching Protocols"), possibly ''; informative only. */
  readonly statusText: string;
  /** Lower-case names; a header that appears more than once is an array of its values, in order. */
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** Names (as sent) and values, alternating, in order: [name, value, name, value...]. */
  readonly rawHeaders: readonly string[];
  /** The head's length in bytes; the bytes after it belong to the body or the WebSocket. */
  readonly headLength: number;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/**
 * The response head at the start of `bytes`, or null while its CRLFCRLF has not arrived. Throws
 * WS_ERR_INVALID_HTTP_RESPONSE for a malformed head, WS_ERR_HANDSHAKE_HEADERS when it is (or is
 * already bound to be) larger than a limit. To feed chunks without scanning them again, use
 * ResponseHeadParser.
 */
export function parseResponseHead(bytes: Uint8Array, limits: ResponseHeadLimits): ResponseHead | null {
  return new ResponseHeadParser(limits).push(bytes);
}

/**
 * The same, fed chunk by chunk: each byte is scanned once however the head is split, so a server
 * sending one byte at a time costs linear time. The chunks are kept (not copied) until the head
 * is complete, so they must not be modified meanwhile.
 */
export class ResponseHeadParser {
  private readonly limits: ResponseHeadLimits;
  private readonly chunks: Uint8Array[] = [];
  private length = 0;
  /** The line-ending state of the bytes scanned so far: how many of CR LF CR LF in a row. */
  private run = 0;
  private lines = 0;
  private done = false;
  /** Once the head is complete: the bytes of the last chunk after it (body or WebSocket frames). */
  remainder: Uint8Array = new Uint8Array(0);

  /**
   * A parser for one head. Throws WS_ERR_INVALID_ARGUMENT when a limit is not a positive
   * integer.
   */
  constructor(limits: ResponseHeadLimits) {
    for (const name of ['maxHeaderSize', 'maxHeaderCount'] as const) {
      if (!Number.isInteger(limits[name]) || limits[name] < 1) {
        throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `${name} must be a positive integer, got ${limits[name]}`);
      }
    }
    this.limits = limits;
  }

  /**
   * Adds bytes; returns the head once complete (headLength counts from the first byte ever pushed;
   * `remainder` then holds the rest of this chunk), null before. Once it has returned a head it
   * takes no more bytes.
   */
  push(chunk: Uint8Array): ResponseHead | null {
    if (this.done) throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'the response head is already complete');
    const start = this.length;
    const { maxHeaderSize, maxHeaderCount } = this.limits;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      // CR LF CR LF: this.run counts how far into it we are.
      if (c === CR) this.run = this.run === 2 ? 3 : 1;
      else if (c === LF && (this.run === 1 || this.run === 3)) {
        this.run++;
        this.lines++;
        // Lines so far: the status line plus the header lines; the empty last one is not a header.
        if (this.run === 2 && this.lines - 1 > maxHeaderCount) {
          throw tooLarge(`more than ${maxHeaderCount} header lines`);
        }
      } else this.run = 0;
      if (start + i + 1 > maxHeaderSize) throw tooLarge(`the head exceeds ${maxHeaderSize} bytes`);
      if (this.run === 4) {
        this.done = true;
        const headLength = start + i + 1;
        this.chunks.push(chunk.subarray(0, i + 1));
        this.remainder = chunk.subarray(i + 1);
        return parseHead(concat(this.chunks, headLength), headLength);
      }
    }
    this.chunks.push(chunk);
    this.length += chunk.length;
    return null;
  }
}

function tooLarge(why: string): WebSocketError {
  return new WebSocketError('WS_ERR_HANDSHAKE_HEADERS', `the response head is too large: ${why}`);
}

function invalid(why: string, offset: number): WebSocketError {
  return new WebSocketError('WS_ERR_INVALID_HTTP_RESPONSE', `invalid HTTP response: ${why} at offset ${offset}`);
}

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Bytes as latin1 text (each byte one character), as HTTP/1.1 heads are read. */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  let out = '';
  // In slices, so a long value is not built one character at a time.
  for (let i = start; i < end; i += 4096) {
    out += String.fromCharCode(...bytes.subarray(i, Math.min(end, i + 4096)));
  }
  return out;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** `head` is complete: it ends with CRLFCRLF at `length`. */
function parseHead(head: Uint8Array, length: number): ResponseHead {
  // The line ends, each CRLF; a lone CR or LF anywhere is an error (RFC 9112 2.2 lets us refuse it).
  const lineEnds: number[] = [];
  for (let i = 0; i < length; i++) {
    const c = head[i]!;
    if (c === CR) {
      if (head[i + 1] !== LF) throw invalid('a CR not followed by LF', i);
      lineEnds.push(i);
      i++;
    } else if (c === LF) throw invalid('an LF not preceded by CR', i);
  }
  // Decoded once; names and values are slices of it (one string per head, not one per field).
  const text = latin1(head, 0, length);
  const { httpVersion, status, statusText } = parseStatusLine(head, text, lineEnds[0]!);

  const headers: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  const rawHeaders: string[] = [];
  // The last line end is the empty line that ends the head.
  for (let k = 1; k < lineEnds.length - 1; k++) {
    const from = lineEnds[k - 1]! + 2;
    const to = lineEnds[k]!;
    const first = head[from]!;
    if (first === SP || first === HTAB) {
      // RFC 9112 5.2: obs-fold continues the previous value; a user agent replaces it with SP.
      if (rawHeaders.length === 0) throw invalid('a continuation line before any header', from);
      const more = fieldValue(head, text, from, to);
      const name = rawHeaders[rawHeaders.length - 2]!.toLowerCase();
      const joined = `${rawHeaders[rawHeaders.length - 1]!} ${more}`.trimEnd();
      rawHeaders[rawHeaders.length - 1] = joined;
      const current = headers[name]!;
      if (typeof current === 'string') headers[name] = joined;
      else current[current.length - 1] = joined;
      continue;
    }
    let colon = from;
    while (colon < to && isTokenChar(head[colon]!)) colon++;
    if (colon === from) throw invalid('a header line that does not start with a name', from);
    if (colon === to || head[colon] !== COLON) {
      // Covers "Name : value" too: RFC 9112 5.1 allows no whitespace before the colon.
      throw invalid('a header name followed by something other than ":"', colon);
    }
    const name = text.slice(from, colon);
    const value = fieldValue(head, text, colon + 1, to);
    rawHeaders.push(name, value);
    const key = name.toLowerCase();
    const current = headers[key];
    if (current === undefined) headers[key] = value;
    else if (typeof current === 'string') headers[key] = [current, value];
    else current.push(value);
  }
  return { httpVersion, status, statusText, headers, rawHeaders, headLength: length };
}

/**
 * `HTTP/x.y SP 3DIGIT SP reason`, RFC 9112 4. The SP before an empty reason phrase is often left
 * out; that is accepted (the reason is to be ignored anyway).
 */
function parseStatusLine(head: Uint8Array, text: string, end: number): { httpVersion: string; status: number; statusText: string } {
  const prefix = [0x48, 0x54, 0x54, 0x50, 0x2f]; // "HTTP/"
  let ok = end >= 12;
  for (let i = 0; ok && i < 5; i++) ok = head[i] === prefix[i];
  ok &&= isDigit(head[5]!) && head[6] === 0x2e && isDigit(head[7]!) && head[8] === SP;
  ok &&= isDigit(head[9]!) && isDigit(head[10]!) && isDigit(head[11]!);
  ok &&= end === 12 || head[12] === SP;
  if (!ok) throw invalid('a malformed status line (expected "HTTP/1.1 101 Switching Protocols")', 0);
  for (let i = 13; i < end; i++) {
    const c = head[i]!;
    if (c !== HTAB && (c < 0x20 || c === 0x7f)) throw invalid('a control character in the reason phrase', i);
  }
  const httpVersion = `${head[5]! - 0x30}.${head[7]! - 0x30}`;
  if (head[5] !== 0x31) throw invalid(`HTTP/${httpVersion} is not HTTP/1.x`, 5);
  return {
    httpVersion,
    status: (head[9]! - 0x30) * 100 + (head[10]! - 0x30) * 10 + (head[11]! - 0x30),
    statusText: end > 13 ? text.slice(13, end) : '',
  };
}

/** RFC 9112 5.1: OWS field-value OWS; RFC 9110 5.5: no control character but HTAB. */
function fieldValue(head: Uint8Array, text: string, from: number, to: number): string {
  while (from < to && (head[from] === SP || head[from] === HTAB)) from++;
  while (to > from && (head[to - 1] === SP || head[to - 1] === HTAB)) to--;
  for (let i = from; i < to; i++) {
    const c = head[i]!;
    if (c !== HTAB && (c < 0x20 || c === 0x7f)) throw invalid('a control character in a header value', i);
  }
  return text.slice(from, to);
}
