/**
 * An HTTP/1.1 response head parser (RFC 9112 4 and 5) for the client's handshake and for an HTTP
 * CONNECT proxy's answer: bytes in, the status and headers out, and where the head ends (what
 * follows is the body, or the first WebSocket frames).
 *
 * Strict where leniency could be exploited: lines end in CRLF only (a bare CR or LF is refused as it arrives,
 * never a line end), no whitespace before a header's colon (RFC 9112 5.1), no control characters
 * in values (RFC 9110 5.5). One lenient rule the RFC makes mandatory: a user agent MUST replace an
 * obs-fold with spaces (RFC 9112 5.2), so a folded value is joined. Limits are enforced as the
 * bytes arrive, before the head is complete. Every byte is scanned once.
 *
 * The scan, the limits and the header fields are http-head.ts's, shared with the request parser;
 * the status line, the arrays of repeated headers and the errors are this module's.
 */

import { WebSocketError } from './errors.js';
import { HTAB, HeadScanner, SP, isDigit, latin1, readFields, type HeadErrors } from './http-head.js';

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
  /** The chunks, the CRLFCRLF scan and the limits, shared with the request parser. */
  private readonly scanner: HeadScanner;
  /** Once the head is complete: the bytes of the last chunk after it (body or WebSocket frames). */
  remainder: Uint8Array = new Uint8Array(0);

  /**
   * A parser for one head. Throws WS_ERR_INVALID_ARGUMENT when a limit is not a positive
   * integer.
   */
  constructor(limits: ResponseHeadLimits) {
    this.scanner = new HeadScanner(limits, ERRORS);
  }

  /**
   * Adds bytes; returns the head once complete (headLength counts from the first byte ever pushed;
   * `remainder` then holds the rest of this chunk), null before. Once it has returned a head it
   * takes no more bytes.
   */
  push(chunk: Uint8Array): ResponseHead | null {
    const head = this.scanner.push(chunk);
    if (head === null) return null;
    this.remainder = this.scanner.remainder;
    return parseHead(head, this.scanner.lineEnds);
  }
}

const ERRORS: HeadErrors = {
  what: 'response',
  tooBig: (maxHeaderSize) => tooLarge(`the head exceeds ${maxHeaderSize} bytes`),
  tooManyLines: (maxHeaderCount) => tooLarge(`more than ${maxHeaderCount} header lines`),
  invalid,
};

function tooLarge(why: string): WebSocketError {
  return new WebSocketError('WS_ERR_HANDSHAKE_HEADERS', `the response head is too large: ${why}`);
}

function invalid(why: string, offset: number): WebSocketError {
  return new WebSocketError('WS_ERR_INVALID_HTTP_RESPONSE', `invalid HTTP response: ${why} at offset ${offset}`);
}

/** `head` is complete: it ends with CRLFCRLF, and its lines end at `lineEnds` (each a CRLF). */
function parseHead(head: Uint8Array, lineEnds: readonly number[]): ResponseHead {
  // Decoded once; names and values are slices of it (one string per head, not one per field).
  const text = latin1(head, head.length);
  const { httpVersion, status, statusText } = parseStatusLine(head, text, lineEnds[0]!);

  const headers: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  const rawHeaders = readFields(
    head,
    text,
    lineEnds,
    ERRORS,
    (key, value) => {
      const current = headers[key];
      if (current === undefined) headers[key] = value;
      else if (typeof current === 'string') headers[key] = [current, value];
      else current.push(value);
    },
    // RFC 9112 5.2: obs-fold continues the previous value; a user agent replaces it with SP.
    (key, joined) => {
      const current = headers[key]!;
      if (typeof current === 'string') headers[key] = joined;
      else current[current.length - 1] = joined;
    },
  );
  return { httpVersion, status, statusText, headers, rawHeaders, headLength: head.length };
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
