/**
 * What the HTTP/1.1 request and response head parsers share (RFC 9112 2 and 5): collecting a
 * head's chunks, scanning each byte once as it arrives for the CRLFCRLF that ends the head (a bare
 * CR or LF is refused as soon as it arrives, never taken for a line end: RFC 9112 2.2 lets us),
 * enforcing the size and line limits before the head is complete, and reading the header fields
 * (RFC 9110 5.1 token names, 5.5 values without control characters; RFC 9112 5.1 no whitespace
 * before the colon, 5.2 obs-fold refused or joined). Each parser keeps its own start line, its own
 * way of joining repeated headers, and its own errors.
 */

import { WebSocketError } from './errors.js';
import { isTokenChar } from './http-syntax.js';

export const SP = 0x20;
export const HTAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;

/** Bounds on a head, checked as its bytes arrive. */
export interface HeadLimits {
  /** The largest head accepted, in bytes, start line and final CRLFCRLF included. */
  readonly maxHeaderSize: number;
  /** The most header lines accepted. */
  readonly maxHeaderCount: number;
}

/** How a parser words its errors: each role has its own codes, statuses and messages. */
export interface HeadErrors {
  /** 'request' or 'response', for the error of a push after the head is complete. */
  readonly what: string;
  /** The head is longer than maxHeaderSize bytes. */
  tooBig(maxHeaderSize: number): Error;
  /** The head has more than maxHeaderCount header lines. */
  tooManyLines(maxHeaderCount: number): Error;
  /** The head is malformed at `offset`, counted from its first byte. */
  invalid(why: string, offset: number): Error;
}

const EMPTY = new Uint8Array(0);

/**
 * Finds the end of one head in the chunks pushed: each byte is scanned once however the head is
 * split, so a peer sending one byte at a time costs linear time. The chunks are kept (not copied)
 * until the head is complete, so they must not be modified meanwhile.
 */
export class HeadScanner {
  private readonly limits: HeadLimits;
  private readonly errors: HeadErrors;
  private readonly chunks: Uint8Array[] = [];
  /** The bytes pushed before the current chunk. */
  private length = 0;
  /** The line-ending state of the bytes scanned so far: how many of CR LF CR LF in a row. */
  private run = 0;
  private done = false;
  /** Where each line ends (its CR), counted from the first byte pushed. */
  readonly lineEnds: number[] = [];
  /** Once the head is complete: the bytes of the last chunk after it (body or WebSocket frames). */
  remainder: Uint8Array = EMPTY;

  /** Throws WS_ERR_INVALID_ARGUMENT when a limit is not a positive integer. */
  constructor(limits: HeadLimits, errors: HeadErrors) {
    for (const name of ['maxHeaderSize', 'maxHeaderCount'] as const) {
      if (!Number.isInteger(limits[name]) || limits[name] < 1) {
        throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `${name} must be a positive integer, got ${limits[name]}`);
      }
    }
    this.limits = limits;
    this.errors = errors;
  }

  /** The bytes pushed so far and not parsed, in order: all of them until the head is complete. */
  get received(): readonly Uint8Array[] {
    return this.chunks;
  }

  /** How many bytes were pushed before the next chunk: the offset of its first byte. */
  get offset(): number {
    return this.length;
  }

  /** How many bytes of `chunk` fit in maxHeaderSize; one more byte is one too many. */
  fits(chunk: Uint8Array): number {
    return Math.min(chunk.length, this.limits.maxHeaderSize - this.length);
  }

  /**
   * Adds a chunk; returns the head's bytes once complete (its length is the head's; `remainder`
   * then holds the rest of this chunk), null before. `from` bytes at the chunk's start were
   * checked by the caller (no CR or LF among them, and they fit). Once it has returned a head it
   * takes no more bytes.
   */
  push(chunk: Uint8Array, from = 0): Uint8Array | null {
    if (this.done) throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `the ${this.errors.what} head is already complete`);
    const start = this.length;
    const { maxHeaderSize, maxHeaderCount } = this.limits;
    const lineEnds = this.lineEnds;
    let run = this.run;
    const fits = this.fits(chunk);
    for (let i = from; i < fits; i++) {
      const c = chunk[i]!;
      if (run === 1 || run === 3) {
        // RFC 9112 2.2: a CR that does not end a line is refused, not taken for a line end.
        if (c !== LF) throw this.errors.invalid('a CR not followed by LF', start + i - 1);
        run++;
        if (run === 2) {
          // The lines so far are the start line and the header lines.
          if (lineEnds.length - 1 > maxHeaderCount) throw this.errors.tooManyLines(maxHeaderCount);
        } else {
          this.done = true;
          const headLength = start + i + 1;
          this.chunks.push(chunk.subarray(0, i + 1));
          this.remainder = chunk.subarray(i + 1);
          const head = concat(this.chunks, headLength);
          this.chunks.length = 0;
          return head;
        }
      } else if (c === CR) {
        lineEnds.push(start + i);
        run = run === 2 ? 3 : 1;
      } else if (c === LF) throw this.errors.invalid('an LF not preceded by CR', start + i);
      else run = 0;
    }
    if (fits < chunk.length) throw this.errors.tooBig(maxHeaderSize);
    this.run = run;
    this.chunks.push(chunk);
    this.length += chunk.length;
    return null;
  }
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
export function latin1(bytes: Uint8Array, end: number): string {
  if (end <= 4096) return String.fromCharCode.apply(null, bytes.subarray(0, end) as unknown as number[]);
  let out = '';
  // In slices, so that a long head is not passed as one huge argument list.
  for (let i = 0; i < end; i += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 4096)) as unknown as number[]);
  }
  return out;
}

export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Reads the header lines of a complete head, `text` being `head` as latin1 and `lineEnds` its line
 * ends (the first the start line's, the last the empty line's). Returns rawHeaders, the names as
 * sent and the values, alternating; `add` is given each field with its name lower-cased and where
 * its line starts, in order. A line starting with whitespace is an obs-fold (RFC 9112 5.2): without
 * `fold` it is refused (a server's choice); with it, it is joined to the previous value with a
 * space (a user agent's duty), and `fold` is given the joined value.
 */
export function readFields(
  head: Uint8Array,
  text: string,
  lineEnds: readonly number[],
  errors: HeadErrors,
  add: (key: string, value: string, from: number) => void,
  fold?: (key: string, joined: string) => void,
): string[] {
  const rawHeaders: string[] = [];
  // The last line end is the empty line that ends the head.
  for (let k = 1; k < lineEnds.length - 1; k++) {
    const from = lineEnds[k - 1]! + 2;
    const to = lineEnds[k]!;
    const first = head[from]!;
    if (first === SP || first === HTAB) {
      if (fold === undefined) throw errors.invalid('a header line that starts with whitespace (obs-fold)', from);
      if (rawHeaders.length === 0) throw errors.invalid('a continuation line before any header', from);
      const more = fieldValue(head, text, from, to, errors);
      const joined = `${rawHeaders[rawHeaders.length - 1]!} ${more}`.trimEnd();
      rawHeaders[rawHeaders.length - 1] = joined;
      fold(rawHeaders[rawHeaders.length - 2]!.toLowerCase(), joined);
      continue;
    }
    let colon = from;
    while (colon < to && isTokenChar(head[colon]!)) colon++;
    if (colon === from) throw errors.invalid('a header line that does not start with a name', from);
    // Covers "Name : value" too: RFC 9112 5.1 allows no whitespace before the colon.
    if (colon === to || head[colon] !== COLON) throw errors.invalid('a header name followed by something other than ":"', colon);
    const name = text.slice(from, colon);
    const value = fieldValue(head, text, colon + 1, to, errors);
    rawHeaders.push(name, value);
    add(name.toLowerCase(), value, from);
  }
  return rawHeaders;
}

/** RFC 9112 5.1: OWS field-value OWS; RFC 9110 5.5: no control character but HTAB. */
function fieldValue(head: Uint8Array, text: string, from: number, to: number, errors: HeadErrors): string {
  while (from < to && (head[from] === SP || head[from] === HTAB)) from++;
  while (to > from && (head[to - 1] === SP || head[to - 1] === HTAB)) to--;
  for (let i = from; i < to; i++) {
    const c = head[i]!;
    if (c !== HTAB && (c < 0x20 || c === 0x7f)) throw errors.invalid('a control character in a header value', i);
  }
  return text.slice(from, to);
}
