/**
 * The opening handshake (RFC 6455 4) written out by hand, both sides: the client's request and the
 * check of the server's 101 (4.1), and the 101 a raw test server answers with (4.2.2). Independent
 * of src/, like the rest of testkit.
 */

import { createHash, randomBytes } from 'node:crypto';

/** RFC 6455 1.3: appended to the key before hashing. */
export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The Sec-WebSocket-Accept value for `key` (RFC 6455 4.2.2, step 5.4). */
export function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64 (RFC 6455 4.1). */
export function newKey(): string {
  return randomBytes(16).toString('base64');
}

export interface HandshakeKey {
  readonly key: string;
  readonly accept: string;
}

/** Keys with their expected Sec-WebSocket-Accept, computed up front: no SHA-1 on a hot path. */
export function makeKeyPool(size: number): HandshakeKey[] {
  return Array.from({ length: size }, () => {
    const key = newKey();
    return { key, accept: acceptFor(key) };
  });
}

// ---- HTTP heads ----------------------------------------------------------------------------------

export interface HttpHead {
  /** The request line or the status line. */
  readonly startLine: string;
  /** Lower-case names; repeated headers joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** Splits `bytes` at the end of an HTTP head: the head (without the blank line) and what follows; null while incomplete. */
export function splitHead(bytes: Buffer): { head: string; rest: Buffer } | null {
  const end = bytes.indexOf(HEAD_END);
  if (end < 0) return null;
  return { head: bytes.toString('latin1', 0, end), rest: bytes.subarray(end + 4) };
}

/** Parses an HTTP head (without its blank line): its first line and its headers. */
export function parseHead(head: string): HttpHead {
  const lines = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { startLine: lines[0] ?? '', headers };
}

/** The status code of an HTTP/1.1 status line, 0 if it is not one. */
export function statusOf(statusLine: string): number {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
  return match === null ? 0 : Number(match[1]);
}

// ---- the client side -----------------------------------------------------------------------------

export interface UpgradeRequestOptions {
  /** The Host header's value. */
  readonly host: string;
  readonly key: string;
  readonly method?: string;
  readonly path?: string;
  /** Headers added after the defaults, or replacing one by its exact name; undefined leaves one out. */
  readonly headers?: Readonly<Record<string, string | undefined>>;
}

/** A client's opening handshake request (RFC 6455 4.1), with whatever changes a test wants. */
export function upgradeRequest(options: UpgradeRequestOptions): string {
  const headers: Record<string, string | undefined> = {
    Host: options.host,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': options.key,
    'Sec-WebSocket-Version': '13',
    ...options.headers,
  };
  let request = `${options.method ?? 'GET'} ${options.path ?? '/'} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) request += `${name}: ${value}\r\n`;
  }
  return `${request}\r\n`;
}

/** Throws unless `head` is a 101 carrying the Sec-WebSocket-Accept `accept` (RFC 6455 4.1, client steps 1 and 4). */
export function check101(head: HttpHead, accept: string): void {
  if (statusOf(head.startLine) !== 101) throw new Error(`handshake refused: ${head.startLine}`);
  const got = head.headers['sec-websocket-accept'];
  if (got !== accept) throw new Error(`wrong Sec-WebSocket-Accept: ${JSON.stringify(got)}`);
}

export interface UpgradeResponse {
  readonly head: HttpHead;
  /** Sec-WebSocket-Extensions of the 101, if any. */
  readonly extensions: string | undefined;
  /** Bytes after the response head: the first frames. */
  readonly rest: Buffer;
}

/** The largest response head waited for. */
const MAX_HEAD = 16384;

/**
 * The server's answer once `received` holds its whole head, null while it does not; throws unless
 * it is a 101 with the right Sec-WebSocket-Accept.
 */
export function readUpgradeResponse(received: Buffer, accept: string): UpgradeResponse | null {
  const split = splitHead(received);
  if (split === null) {
    if (received.length > MAX_HEAD) throw new Error('handshake response head larger than 16 KiB');
    return null;
  }
  const head = parseHead(split.head);
  check101(head, accept);
  return { head, extensions: head.headers['sec-websocket-extensions'], rest: split.rest };
}

// ---- the server side -----------------------------------------------------------------------------

export interface RawRequest extends HttpHead {
  readonly method: string;
  readonly path: string;
  /** The head as received, CRLFCRLF excluded. */
  readonly head: string;
}

/** A request head once `bytes` holds it all, and the bytes after it; null while incomplete. */
export function readRequest(bytes: Buffer): { request: RawRequest; rest: Buffer } | null {
  const split = splitHead(bytes);
  if (split === null) return null;
  const parsed = parseHead(split.head);
  const [method = '', path = ''] = parsed.startLine.split(' ');
  return { request: { ...parsed, method, path, head: split.head }, rest: split.rest };
}

/**
 * A server's 101 for the client's `key` (RFC 6455 4.2.2): Upgrade, Connection and the right
 * Sec-WebSocket-Accept, changed by `headers` (null leaves one out), then `extraLines` as they are.
 */
export function acceptResponse(
  key: string,
  headers: Readonly<Record<string, string | null>> = {},
  extraLines: readonly string[] = [],
): string {
  const all: Record<string, string | null> = {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Accept': acceptFor(key),
    ...headers,
  };
  let head = 'HTTP/1.1 101 Switching Protocols\r\n';
  for (const [name, value] of Object.entries(all)) if (value !== null) head += `${name}: ${value}\r\n`;
  for (const line of extraLines) head += `${line}\r\n`;
  return `${head}\r\n`;
}
