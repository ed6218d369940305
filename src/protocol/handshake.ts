/**
 * The opening handshake, server side (RFC 6455 4.2): validate the client's request, compute the
 * accept hash, and write the 101 response or the HTTP error that refuses the request.
 *
 * Header values are parsed by single passes over their characters, never by regular expressions
 * that could backtrack, so a hostile 64 KiB header costs linear time.
 */

import { HandshakeError, WebSocketError } from './errors.js';

/** RFC 6455 1.3: appended to the key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export type HeaderValue = string | readonly string[] | undefined;

/** What the handshake needs of an HTTP request (Node's IncomingMessage fits). */
export interface HandshakeRequest {
  readonly method?: string | undefined;
  /** "1.1" for HTTP/1.1. */
  readonly httpVersion: string;
  /** Lower-case header names, as Node gives them. */
  readonly headers: Readonly<Record<string, HeaderValue>>;
}

export interface ValidatedHandshake {
  /** The client's Sec-WebSocket-Key. */
  readonly key: string;
  /** Subprotocols the client offered, in its order of preference (RFC 6455 4.1, 11.3.4). */
  readonly protocols: readonly string[];
  /** The raw Sec-WebSocket-Extensions offer, if any. */
  readonly extensions: string | undefined;
}

function header(request: HandshakeRequest, name: string): string | undefined {
  const value = request.headers[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(', ');
}

/**
 * Splits a comma-separated header value into its elements, trimmed of spaces and tabs (RFC 9110
 * 5.6.1); empty elements are dropped.
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

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
export function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    const ok =
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
      c === 0x7e;
    if (!ok) return false;
  }
  return true;
}

function listHasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  for (const item of splitHeaderList(value)) {
    if (item.toLowerCase() === token) return true;
  }
  return false;
}

/** RFC 6455 4.1: the key is a base64-encoded 16-byte nonce, 24 characters ending in "==". */
function isValidKey(key: string): boolean {
  if (key.length !== 24 || key.charCodeAt(22) !== 0x3d || key.charCodeAt(23) !== 0x3d) return false;
  for (let i = 0; i < 22; i++) {
    const c = key.charCodeAt(i);
    const base64 =
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x2b ||
      c === 0x2f;
    if (!base64) return false;
  }
  return true;
}

/**
 * Checks a request against RFC 6455 4.2.1. Throws a HandshakeError with the status to answer:
 * 405 for a method other than GET, 400 for a malformed request, 426 (with Sec-WebSocket-Version:
 * 13) for a version we do not speak.
 */
export function validateHandshakeRequest(request: HandshakeRequest): ValidatedHandshake {
  if (request.method !== 'GET') {
    throw new HandshakeError('WS_ERR_HANDSHAKE_METHOD', 405, 'the method must be GET', {
      Allow: 'GET',
    });
  }
  const [major, minor] = request.httpVersion.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : NaN));
  if (!(major! > 1 || (major === 1 && minor! >= 1))) {
    throw new HandshakeError('WS_ERR_HANDSHAKE_HTTP_VERSION', 400, 'HTTP/1.1 or later is required');
  }
  if (!header(request, 'host')) {
    throw new HandshakeError('WS_ERR_HANDSHAKE_HOST', 400, 'the Host header is missing');
  }
  if (!listHasToken(header(request, 'upgrade'), 'websocket')) {
    throw new HandshakeError('WS_ERR_HANDSHAKE_UPGRADE', 400, 'the Upgrade header must be "websocket"');
  }
  if (!listHasToken(header(request, 'connection'), 'upgrade')) {
    throw new HandshakeError('WS_ERR_HANDSHAKE_CONNECTION', 400, 'the Connection header must list "Upgrade"');
  }
  // Checked before the key: a client of another version may well use another kind of key.
  if (header(request, 'sec-websocket-version')?.trim() !== '13') {
    throw new HandshakeError('WS_ERR_HANDSHAKE_VERSION', 426, 'only WebSocket version 13 is supported', {
      'Sec-WebSocket-Version': '13',
    });
  }
  const key = header(request, 'sec-websocket-key')?.trim();
  if (key === undefined || !isValidKey(key)) {
    throw new HandshakeError('WS_ERR_HANDSHAKE_KEY', 400, 'Sec-WebSocket-Key must be 16 bytes in base64');
  }
  return {
    key,
    protocols: parseProtocols(header(request, 'sec-websocket-protocol')),
    extensions: header(request, 'sec-websocket-extensions'),
  };
}

/** RFC 6455 4.1: subprotocols are distinct tokens. */
function parseProtocols(value: string | undefined): string[] {
  if (value === undefined) return [];
  const protocols = splitHeaderList(value);
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (!isToken(protocol) || seen.has(protocol)) {
      throw new HandshakeError(
        'WS_ERR_HANDSHAKE_PROTOCOL',
        400,
        'Sec-WebSocket-Protocol must list distinct tokens',
      );
    }
    seen.add(protocol);
  }
  return protocols;
}

/**
 * RFC 6455 4.2.2: Sec-WebSocket-Accept is base64(SHA-1(key + GUID)). The hash comes from outside
 * (Node's crypto, WebCrypto...) so this module stays free of any runtime.
 */
export function computeAcceptKey(key: string, sha1Base64: (input: string) => string): string {
  return sha1Base64(key + WEBSOCKET_GUID);
}

export interface HandshakeResponse {
  readonly accept: string;
  readonly protocol?: string | undefined;
  readonly extensions?: string | undefined;
  /** Extra headers, e.g. Set-Cookie. Names and values must not contain CR or LF. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** The 101 response that completes the handshake. */
export function buildHandshakeResponse(response: HandshakeResponse): string {
  let head =
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${response.accept}\r\n`;
  if (response.protocol !== undefined) head += `Sec-WebSocket-Protocol: ${response.protocol}\r\n`;
  if (response.extensions !== undefined) head += `Sec-WebSocket-Extensions: ${response.extensions}\r\n`;
  head += formatHeaders(response.headers);
  return head + '\r\n';
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  426: 'Upgrade Required',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A complete HTTP/1.1 error response with a short plain-text body; the connection then closes. */
export function buildErrorResponse(
  status: number,
  message: string,
  headers?: Readonly<Record<string, string>>,
): string {
  const body = `${message}\n`;
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${new TextEncoder().encode(body).length}\r\n` +
    formatHeaders(headers) +
    '\r\n' +
    body
  );
}

function formatHeaders(headers: Readonly<Record<string, string>> | undefined): string {
  if (headers === undefined) return '';
  let out = '';
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `header ${JSON.stringify(name)} contains CR or LF`);
    }
    out += `${name}: ${value}\r\n`;
  }
  return out;
}
