/**
 * The opening handshake, server side (RFC 6455 4.2): validate the client's request, negotiate the
 * subprotocol and extensions, compute the accept hash, and write the 101 response or the HTTP
 * error that refuses the request. The client side is in client-handshake.ts.
 *
 * Header values are parsed by single passes over their characters, never by regular expressions
 * that could backtrack, so a hostile 64 KiB header costs linear time.
 */

import { HandshakeError, WebSocketError } from './errors.js';
import { parseExtensions, type ExtensionOffer } from './extensions.js';
import { checkHeaderField, formatHeaders, isToken, listHasToken, splitHeaderList } from './http-syntax.js';
import type { DeflateAgreement, DeflateNegotiation } from './permessage-deflate.js';

/** RFC 6455 1.3: appended to the key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * A header's value as Node gives it: a string, an array for a header sent more than once,
 * undefined when absent. An array is read as its values joined with ", ".
 */
export type HeaderValue = string | readonly string[] | undefined;

/** What the handshake needs of an HTTP request (Node's IncomingMessage fits). */
export interface HandshakeRequest {
  /** The request method: anything but "GET" is refused with 405 (RFC 6455 4.1). */
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

export function header(request: HandshakeRequest, name: string): string | undefined {
  const value = request.headers[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(', ');
}

/** RFC 6455 4.1: the key is a base64-encoded 16-byte nonce, 24 characters ending in "==". */
export function isValidKey(key: string): boolean {
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
export function parseProtocols(value: string | undefined): string[] {
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
  /**
   * Extra headers, e.g. Set-Cookie. Names must be tokens, values free of CR, LF and NUL, and none
   * may be one the 101 writes itself (Upgrade, Connection, Sec-WebSocket-*).
   */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** Headers the 101 response writes itself: an extra copy would contradict it. */
const RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/** The 101 response that completes the handshake. Throws WS_ERR_INVALID_ARGUMENT for a bad header. */
export function buildHandshakeResponse(response: HandshakeResponse): string {
  checkHeaderField('Sec-WebSocket-Accept', response.accept);
  let head =
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${response.accept}\r\n`;
  if (response.protocol !== undefined) {
    checkHeaderField('Sec-WebSocket-Protocol', response.protocol);
    head += `Sec-WebSocket-Protocol: ${response.protocol}\r\n`;
  }
  if (response.extensions !== undefined) {
    checkHeaderField('Sec-WebSocket-Extensions', response.extensions);
    head += `Sec-WebSocket-Extensions: ${response.extensions}\r\n`;
  }
  head += formatHeaders(response.headers, RESPONSE_HEADERS);
  return head + '\r\n';
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  422: 'Unprocessable Content',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

const ERROR_RESPONSE_HEADERS: ReadonlySet<string> = new Set(['connection', 'content-type', 'content-length']);

/** A complete HTTP/1.1 error response with a short plain-text body; the connection then closes. */
export function buildErrorResponse(
  status: number,
  message: string,
  headers?: Readonly<Record<string, string>>,
): string {
  const body = `${message}\n`;
  return closingResponseHead(status, new TextEncoder().encode(body).length, 'text/plain; charset=utf-8', headers) + body;
}

/**
 * The head of an HTTP/1.1 response that closes the connection, for a body of `bodyLength` bytes of
 * `contentType`. `headers` may not set Connection, Content-Type or Content-Length
 * (WS_ERR_INVALID_ARGUMENT), nor break RFC 9110's field syntax.
 */
export function closingResponseHead(
  status: number,
  bodyLength: number,
  contentType: string,
  headers?: Readonly<Record<string, string>>,
): string {
  checkHeaderField('Content-Type', contentType);
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
    'Connection: close\r\n' +
    `Content-Type: ${contentType}\r\n` +
    `Content-Length: ${bodyLength}\r\n` +
    formatHeaders(headers, ERROR_RESPONSE_HEADERS) +
    '\r\n'
  );
}

// ---- the whole server handshake -----------------------------------------------------------------

/** What the server accepts, decided by the caller; every hook is synchronous and pure. */
export interface AcceptPolicy {
  /** base64(SHA-1(input)): the core has no crypto of its own. */
  sha1Base64(input: string): string;
  /**
   * Picks one of the subprotocols the client offered (called only when it offered some), or
   * undefined for none. Returning one it did not offer is a bug: WS_ERR_INVALID_ARGUMENT.
   */
  selectProtocol?(offered: readonly string[]): string | undefined;
  /**
   * Picks from the client's extension offers (called only when there are some), e.g. with
   * negotiatePermessageDeflate (permessage-deflate is the one extension the core knows);
   * undefined declines them all. A callback, so that the caller can negotiate again with other
   * settings (say, without context takeover when memory is short).
   */
  negotiateExtensions?(offers: readonly ExtensionOffer[]): DeflateNegotiation | undefined;
  /** Extra response headers, checked as HandshakeResponse.headers are. */
  headers?: Readonly<Record<string, string>>;
}

/** The server's opening handshake, done: the 101 to write and what it agreed. */
export interface AcceptedHandshake {
  /** The complete 101 response head, CRLFCRLF included. */
  readonly response: string;
  /** The subprotocol agreed, '' for none. */
  readonly protocol: string;
  /** The Sec-WebSocket-Extensions value sent, '' for none. */
  readonly extensions: string;
  /** permessage-deflate as agreed, null when not. */
  readonly deflate: DeflateAgreement | null;
  /** The client's Sec-WebSocket-Key. */
  readonly key: string;
}

/**
 * The server's opening handshake (RFC 6455 4.2), pure: validates the request as
 * validateHandshakeRequest does (405, 400, 426), parses Sec-WebSocket-Extensions strictly (400
 * WS_ERR_HANDSHAKE_EXTENSIONS when malformed, RFC 6455 9.1; unknown extensions are simply not
 * accepted), asks the policy for a subprotocol and extensions, and writes the 101 response.
 * Throws a HandshakeError to answer with buildErrorResponse; a WebSocketError
 * WS_ERR_INVALID_ARGUMENT means the policy itself is wrong (a 500, not the client's fault).
 */
export function acceptHandshake(request: HandshakeRequest, policy: AcceptPolicy): AcceptedHandshake {
  const handshake = validateHandshakeRequest(request);
  const { protocol, extensions, deflate } = negotiateHandshake(handshake.protocols, handshake.extensions, policy);
  const response = buildHandshakeResponse({
    accept: computeAcceptKey(handshake.key, (input) => policy.sha1Base64(input)),
    protocol: protocol === '' ? undefined : protocol,
    extensions: extensions === '' ? undefined : extensions,
    headers: policy.headers,
  });
  return { response, protocol, extensions, deflate, key: handshake.key };
}

/** What the server's handshake agreed, whatever carried it (HTTP/1.1 or an HTTP/2 stream). */
export interface Negotiation {
  /** The subprotocol agreed, '' for none. */
  readonly protocol: string;
  /** The Sec-WebSocket-Extensions value to send, '' for none. */
  readonly extensions: string;
  readonly deflate: DeflateAgreement | null;
}

/**
 * The negotiation both transports share (RFC 6455 4.2.2; RFC 8441 5 keeps it as is): the
 * extension offer parsed strictly (400 WS_ERR_HANDSHAKE_EXTENSIONS when malformed, RFC 6455 9.1;
 * unknown extensions are simply not accepted), then the policy asked for a subprotocol and
 * extensions.
 */
export function negotiateHandshake(
  protocols: readonly string[],
  extensionOffer: string | undefined,
  policy: Pick<AcceptPolicy, 'selectProtocol' | 'negotiateExtensions'>,
): Negotiation {
  // Parsed whether or not any extension is supported: a malformed header is a malformed request.
  const offers = extensionOffer === undefined ? [] : parseExtensions(extensionOffer);

  let protocol = '';
  if (policy.selectProtocol !== undefined && protocols.length > 0) {
    const selected = policy.selectProtocol(protocols);
    if (selected !== undefined) {
      // RFC 6455 4.2.2: the server selects one of the values the client offered.
      if (!protocols.includes(selected)) {
        throw new WebSocketError(
          'WS_ERR_INVALID_ARGUMENT',
          `selectProtocol returned ${JSON.stringify(selected)}, which the client did not offer`,
        );
      }
      protocol = selected;
    }
  }

  let extensions = '';
  let deflate: DeflateAgreement | null = null;
  if (policy.negotiateExtensions !== undefined && offers.length > 0) {
    const negotiated = policy.negotiateExtensions(offers);
    if (negotiated !== undefined) {
      extensions = negotiated.response;
      deflate = negotiated.agreement;
    }
  }
  return { protocol, extensions, deflate };
}
