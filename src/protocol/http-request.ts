/**
 * An HTTP/1.1 request head parser (RFC 9112 2, 3 and 5) for a server that reads its connections'
 * first request itself: bytes in, the method, target, version and headers out, and where the head
 * ends (what follows is the body, or the first WebSocket frames).
 *
 * Strict where leniency could be exploited, as the response parser is: lines end in CRLF only (a
 * bare CR or LF is refused as soon as it arrives, RFC 9112 2.2), the request line is exactly
 * `method SP request-target SP HTTP-version` (3), no whitespace before a header's colon (5.1), no
 * obs-fold (5.2: a server rejects it, or replaces it; we reject it), no control character in a
 * value (RFC 9110 5.5), exactly one Host (RFC 9112 3.2), a body whose length is not ambiguous
 * (one decimal Content-Length, or Transfer-Encoding ending in chunked and alone: RFC 9112 6). Limits are enforced as the bytes arrive,
 * before the head is complete. Errors are HandshakeErrors carrying the status to answer: 431
 * (WS_ERR_HANDSHAKE_HEADERS) past a limit, 400 (WS_ERR_INVALID_HTTP_REQUEST) for a malformed head.
 *
 * The scan, the limits and the header fields are http-head.ts's, shared with the response parser;
 * the request line, the joining of repeated headers and the body checks are this module's.
 */

import { HandshakeError } from './errors.js';
import { HTAB, HeadScanner, SP, isDigit, latin1, readFields, type HeadErrors } from './http-head.js';
import { isTokenChar } from './http-syntax.js';

/** Bounds on a request head, checked as its bytes arrive (a server's maxHeaderSize and maxHeaderCount). */
export interface RequestHeadLimits {
  /** The largest head accepted, in bytes, request line and final CRLFCRLF included. */
  readonly maxHeaderSize: number;
  /** The most header lines accepted. */
  readonly maxHeaderCount: number;
}

/** An HTTP request head, parsed: what RequestHeadParser returns once the head is complete. */
export interface RequestHead {
  /** The method as sent ('GET'): a token, case-sensitive (RFC 9110 9.1). */
  readonly method: string;
  /** The request target as sent: for a WebSocket, the path and query. */
  readonly url: string;
  /** '1.1' for HTTP/1.1. */
  readonly httpVersion: string;
  /**
   * Lower-case names; a repeated header joined as Node's IncomingMessage joins it (", " between
   * values; "; " for Cookie; an array for Set-Cookie; the first value kept for the fields Node
   * keeps one of, such as User-Agent or Authorization), so that code written for Node reads it alike.
   */
  readonly headers: Record<string, string | string[]>;
  /** Names (as sent) and values, alternating, in order: [name, value, name, value...]. */
  readonly rawHeaders: readonly string[];
  /** The head's length in bytes; the bytes after it belong to the body or the WebSocket. */
  readonly headLength: number;
}

/**
 * The request head at the start of `bytes`, or null while its CRLFCRLF has not arrived. Throws a
 * HandshakeError: 400 WS_ERR_INVALID_HTTP_REQUEST for a malformed head, 431
 * WS_ERR_HANDSHAKE_HEADERS when it is (or is already bound to be) larger than a limit. To feed
 * chunks without scanning them again, use RequestHeadParser.
 */
export function parseRequestHead(bytes: Uint8Array, limits: RequestHeadLimits): RequestHead | null {
  return new RequestHeadParser(limits).push(bytes);
}

/**
 * The same, fed chunk by chunk: each byte is scanned once however the head is split, so a client
 * sending one byte at a time costs linear time. The chunks are kept (not copied) until the head is
 * complete, so they must not be modified meanwhile.
 */
export class RequestHeadParser {
  /** The chunks, the CRLFCRLF scan and the limits, shared with the response parser. */
  private readonly scanner: HeadScanner;
  /** Still in the method, the first bytes: anything but a token there is refused at once. */
  private inMethod = true;
  /** Once the head is complete: the bytes of the last chunk after it (body or WebSocket frames). */
  remainder: Uint8Array = EMPTY;

  /** A parser for one head. Throws WS_ERR_INVALID_ARGUMENT when a limit is not a positive integer. */
  constructor(limits: RequestHeadLimits) {
    this.scanner = new HeadScanner(limits, ERRORS);
  }

  /** The bytes pushed so far and not parsed, in order: all of them until the head is complete. */
  get received(): readonly Uint8Array[] {
    return this.scanner.received;
  }

  /**
   * Adds bytes; returns the head once complete (headLength counts from the first byte ever pushed;
   * `remainder` then holds the rest of this chunk), null before. Once it has returned a head it
   * takes no more bytes.
   */
  push(chunk: Uint8Array): RequestHead | null {
    const scanner = this.scanner;
    let i = 0;
    // Never true once the head is complete (its method ended), so a push after it is refused by the scanner.
    if (this.inMethod) {
      // RFC 9112 3: method = token, then SP. Binary junk (a TLS hello on a cleartext port) ends here.
      const fits = scanner.fits(chunk);
      while (i < fits && isTokenChar(chunk[i]!)) i++;
      if (i < fits) {
        const start = scanner.offset;
        if (chunk[i] !== SP || start + i === 0) throw invalid('a request line that does not start with a method and a space', start + i);
        this.inMethod = false;
      }
    }
    // The method's bytes hold no CR or LF: the scan starts after them.
    const head = scanner.push(chunk, i);
    if (head === null) return null;
    this.remainder = scanner.remainder;
    return parseHead(head, scanner.lineEnds);
  }
}

const EMPTY = new Uint8Array(0);

const ERRORS: HeadErrors = {
  what: 'request',
  tooBig: (maxHeaderSize) => tooLarge(`the request head exceeds ${maxHeaderSize} bytes`),
  tooManyLines: (maxHeaderCount) => tooLarge(`more than ${maxHeaderCount} header lines`),
  invalid,
};

function tooLarge(why: string): HandshakeError {
  return new HandshakeError('WS_ERR_HANDSHAKE_HEADERS', 431, why);
}

function invalid(why: string, offset: number): HandshakeError {
  return new HandshakeError('WS_ERR_INVALID_HTTP_REQUEST', 400, `invalid HTTP request: ${why} at offset ${offset}`);
}

/**
 * The fields of which Node's IncomingMessage keeps the first value and drops the others (its
 * matchKnownFields): a request is read the same whichever of our listeners or Node's parsed it.
 */
const FIRST_VALUE_ONLY: ReadonlySet<string> = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Adds a header as Node's IncomingMessage does (see RequestHead.headers), to a plain object as
 * Node's is: only its own properties count ("constructor" is a header like any other), and
 * "__proto__" is made an own property, never the prototype.
 */
function addHeader(headers: Record<string, string | string[]>, name: string, value: string): void {
  const current = hasOwn.call(headers, name) ? headers[name] : undefined;
  if (current === undefined) {
    const first = name === 'set-cookie' ? [value] : value;
    if (name === '__proto__') Object.defineProperty(headers, name, { value: first, writable: true, enumerable: true, configurable: true });
    else headers[name] = first;
  } else if (name === 'set-cookie') (current as string[]).push(value);
  else if (!FIRST_VALUE_ONLY.has(name)) {
    const joined = `${current as string}${name === 'cookie' ? '; ' : ', '}${value}`;
    // An own "__proto__" is a data property: assigning to it sets it, as for any other name.
    headers[name] = joined;
  }
}

/** `head` is complete: it ends with CRLFCRLF, and its lines end at `lineEnds` (each a CRLF). */
function parseHead(head: Uint8Array, lineEnds: readonly number[]): RequestHead {
  const length = head.length;
  // Decoded once; names and values are slices of it (one string per head, not one per field).
  const text = latin1(head, length);
  const { method, url, httpVersion } = parseRequestLine(head, text, lineEnds[0]!);
  const headers: Record<string, string | string[]> = {};
  let hosts = 0;
  // Where the Content-Length and Transfer-Encoding lines start (-1: none), checked once all are read.
  let contentLength = -1;
  let transferEncoding = -1;
  // No fold callback: RFC 9112 5.2 lets a server reject an obs-fold (or replace it); we reject it.
  const rawHeaders = readFields(head, text, lineEnds, ERRORS, (key, value, from) => {
    if (key === 'host' && ++hosts > 1) throw invalid('a second Host header (RFC 9112 3.2)', from);
    if (key === 'content-length') {
      // RFC 9112 6.3: a body's length is known exactly or the request is refused (smuggling).
      if (contentLength !== -1) throw invalid('a second Content-Length header (RFC 9112 6.3)', from);
      if (!isDigits(value)) throw invalid('a Content-Length that is not a decimal number (RFC 9112 6.3)', from);
      contentLength = from;
    } else if (key === 'transfer-encoding' && transferEncoding === -1) transferEncoding = from;
    addHeader(headers, key, value);
  });
  if (transferEncoding !== -1) checkTransferEncoding(headers['transfer-encoding'] as string, httpVersion, contentLength, transferEncoding);
  return { method, url, httpVersion, headers, rawHeaders, headLength: length };
}

/**
 * RFC 9112 6.1 and 6.3: Transfer-Encoding with Content-Length, in HTTP/1.0, or not ending with
 * chunked leaves the body's end to guesswork, which is how requests are smuggled: all refused.
 * `value` is every Transfer-Encoding line joined; `at` is where the first one starts.
 */
function checkTransferEncoding(value: string, httpVersion: string, contentLength: number, at: number): void {
  if (contentLength !== -1) throw invalid('both Transfer-Encoding and Content-Length (RFC 9112 6.1)', Math.max(at, contentLength));
  if (httpVersion === '1.0') throw invalid('Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1)', at);
  const comma = value.lastIndexOf(',');
  // The value is trimmed already; after the last comma, OWS (RFC 9110 5.6.1) is skipped.
  let from = comma + 1;
  while (value.charCodeAt(from) === SP || value.charCodeAt(from) === HTAB) from++;
  if (value.slice(from).toLowerCase() !== 'chunked') throw invalid('a Transfer-Encoding whose final coding is not chunked (RFC 9112 6.3)', at);
}

/**
 * Whether a request head announces a body (RFC 9112 6.3: Transfer-Encoding, or a Content-Length
 * other than 0). A WebSocket upgrade has none: the bytes after its head are frames, and a request
 * that says otherwise is read two ways by two parsers.
 */
export function hasBody(head: RequestHead): boolean {
  const length = head.headers['content-length'];
  if (head.headers['transfer-encoding'] !== undefined) return true;
  if (typeof length !== 'string') return false;
  for (let i = 0; i < length.length; i++) if (length.charCodeAt(i) !== 0x30) return true;
  return false;
}

function isDigits(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) if (!isDigit(value.charCodeAt(i))) return false;
  return true;
}

/** RFC 9112 3: `method SP request-target SP HTTP-version`, the version exactly `HTTP/DIGIT.DIGIT`. */
function parseRequestLine(head: Uint8Array, text: string, end: number): { method: string; url: string; httpVersion: string } {
  // The method was checked as it arrived: tokens up to the first SP.
  let at = 0;
  while (head[at] !== SP) at++;
  const method = text.slice(0, at);
  const target = ++at;
  // RFC 9112 3.2: the target holds no whitespace; RFC 3986 allows visible ASCII only.
  while (at < end && head[at]! > SP && head[at]! < 0x7f) at++;
  if (at === target) throw invalid('a request line without a request target', at);
  if (at === end || head[at] !== SP) throw invalid('a request target with a character other than visible ASCII', at);
  const url = text.slice(target, at);
  const version = at + 1;
  // "HTTP/" DIGIT "." DIGIT, and the line ends there.
  const ok =
    end - version === 8 &&
    head[version] === 0x48 &&
    head[version + 1] === 0x54 &&
    head[version + 2] === 0x54 &&
    head[version + 3] === 0x50 &&
    head[version + 4] === 0x2f &&
    isDigit(head[version + 5]!) &&
    head[version + 6] === 0x2e &&
    isDigit(head[version + 7]!);
  if (!ok) throw invalid('a request line that does not end with an HTTP version (HTTP/1.1)', version);
  return { method, url, httpVersion: text.slice(version + 5, end) };
}
