/**
 * The opening handshake, client side (RFC 6455 4.1), pure: the key, the request head, and the
 * checks on the server's response. Sockets, DNS, TLS and proxies belong to the caller, and so does
 * the SHA-1 (the core has no hash); the key's 16 random bytes may be passed in, so every rule here
 * is tested by bytes.
 */

import { HandshakeError, WebSocketError } from './errors.js';
import { formatExtension, parseExtensions } from './extensions.js';
import { computeAcceptKey, isValidKey, type HeaderValue } from './handshake.js';
import { checkHeaderField, formatHeaders, isToken, listHasToken, trimWhitespace } from './http-syntax.js';
import {
  acceptDeflateResponse,
  parseResponseExtensions,
  type DeflateAgreement,
  type DeflateConfig,
} from './permessage-deflate.js';

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** RFC 4648 4 base64, with padding. */
function encodeBase64(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += BASE64[n >> 18]! + BASE64[(n >> 12) & 63]! + BASE64[(n >> 6) & 63]! + BASE64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += `${BASE64[n >> 18]!}${BASE64[(n >> 12) & 63]!}==`;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += `${BASE64[n >> 18]!}${BASE64[(n >> 12) & 63]!}${BASE64[(n >> 6) & 63]!}=`;
  }
  return out;
}

/**
 * RFC 6455 4.1: Sec-WebSocket-Key is a nonce of 16 random bytes, base64-encoded (24 characters
 * ending in "=="); a new key per connection. The bytes come from crypto.getRandomValues unless the
 * caller supplies them (from a CSPRNG).
 */
export function generateHandshakeKey(random16: Uint8Array = crypto.getRandomValues(new Uint8Array(16))): string {
  if (random16.length !== 16) {
    throw new WebSocketError(
      'WS_ERR_INVALID_ARGUMENT',
      `the key needs exactly 16 random bytes, got ${random16.length}`,
    );
  }
  return encodeBase64(random16);
}

/** What the client's handshake request says (buildClientRequest writes it). */
export interface ClientHandshakeRequest {
  /** The request target in origin form: the path and query, starting with "/" (RFC 9112 3.2.1). */
  readonly path: string;
  /** The Host value: host, plus ":port" when not the scheme's default (the caller decides). */
  readonly host: string;
  /** The Sec-WebSocket-Key: from generateHandshakeKey. */
  readonly key: string;
  /** The Origin header (RFC 6455 10.2), sent only when given; a browser always sends one. */
  readonly origin?: string | undefined;
  /** Subprotocols in order of preference: distinct tokens (RFC 6455 4.1). */
  readonly protocols?: readonly string[] | undefined;
  /** The Sec-WebSocket-Extensions offer, e.g. from buildDeflateOffer; must follow RFC 6455 9.1. */
  readonly extensions?: string | undefined;
  /** Extra headers (cookies, authorization...). None may be one the handshake writes itself. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/**
 * Headers the request writes itself. Host too: spec.host is the one way to set it, so there is
 * never a second, contradicting copy. Content-Length and Transfer-Encoding: the request has no
 * body, and a server reading one would take our first frames for it.
 */
export const REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'origin',
  'content-length',
  'transfer-encoding',
]);

/**
 * The request head (RFC 6455 4.1), CRLFCRLF included, in latin1-safe text. Throws
 * WS_ERR_INVALID_ARGUMENT for anything that would make it malformed or ambiguous: CR, LF or NUL
 * in a value, a name that is not a token, a bad path, host or key, subprotocols that are not
 * distinct tokens, a malformed extension offer, an extra header that the handshake writes itself.
 */
export function buildClientRequest(spec: ClientHandshakeRequest): string {
  checkPath(spec.path);
  checkHost(spec.host);
  if (!isValidKey(spec.key)) {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'the key must be 16 bytes in base64 (see generateHandshakeKey)');
  }
  let head =
    `GET ${spec.path} HTTP/1.1\r\n` +
    `Host: ${spec.host}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${spec.key}\r\n` +
    'Sec-WebSocket-Version: 13\r\n';
  for (const [name, value] of offerFields(spec)) head += `${name}: ${value}\r\n`;
  head += formatHeaders(spec.headers, REQUEST_HEADERS);
  return head + '\r\n';
}

/**
 * The optional fields of a client's request, the same over HTTP/1.1 and HTTP/2 (RFC 8441 5):
 * Origin, Sec-WebSocket-Protocol and Sec-WebSocket-Extensions, those given, each checked
 * (WS_ERR_INVALID_ARGUMENT), in that order.
 */
export function offerFields(
  spec: Pick<ClientHandshakeRequest, 'origin' | 'protocols' | 'extensions'>,
): Array<[name: string, value: string]> {
  const fields: Array<[string, string]> = [];
  if (spec.origin !== undefined) {
    checkHeaderField('Origin', spec.origin);
    fields.push(['Origin', spec.origin]);
  }
  const protocols = spec.protocols ?? [];
  if (protocols.length > 0) {
    checkProtocols(protocols);
    fields.push(['Sec-WebSocket-Protocol', protocols.join(', ')]);
  }
  if (spec.extensions !== undefined && spec.extensions !== '') {
    checkHeaderField('Sec-WebSocket-Extensions', spec.extensions);
    try {
      parseExtensions(spec.extensions);
    } catch (error) {
      if (!(error instanceof HandshakeError)) throw error;
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `the extension offer is malformed: ${error.message}`);
    }
    fields.push(['Sec-WebSocket-Extensions', spec.extensions]);
  }
  return fields;
}

/** Visible ASCII only: a space would end the request target, anything else must be %-encoded. */
function isVisibleAscii(c: number): boolean {
  return c > 0x20 && c < 0x7f;
}

export function checkPath(path: string): void {
  let ok = path.charCodeAt(0) === 0x2f;
  for (let i = 0; ok && i < path.length; i++) {
    const c = path.charCodeAt(i);
    ok = isVisibleAscii(c) && c !== 0x23; // no fragment: RFC 6455 3, it MUST NOT be used
  }
  if (!ok) {
    throw new WebSocketError(
      'WS_ERR_INVALID_ARGUMENT',
      'the path must start with "/" and hold only visible ASCII with no "#" (percent-encode the rest), ' +
        `got ${JSON.stringify(path)}`,
    );
  }
}

export function checkHost(host: string): void {
  let ok = host.length > 0;
  for (let i = 0; ok && i < host.length; i++) {
    const c = host.charCodeAt(i);
    // RFC 9110 7.2: uri-host [ ":" port ]; "/", "?", "#" and "@" cannot appear in one.
    ok = isVisibleAscii(c) && c !== 0x2f && c !== 0x3f && c !== 0x23 && c !== 0x40;
  }
  if (!ok) throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `invalid Host ${JSON.stringify(host)}`);
}

/** RFC 6455 4.1: each subprotocol is a token (U+0021-U+007E minus separators), all distinct. */
export function checkProtocols(protocols: readonly string[]): void {
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (!isToken(protocol)) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `subprotocol ${JSON.stringify(protocol)} is not a token`);
    }
    if (seen.has(protocol)) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `subprotocol ${JSON.stringify(protocol)} is listed twice`);
    }
    seen.add(protocol);
  }
}

// ---- the server's response ----------------------------------------------------------------------

/** The server's response to the handshake, its head (a ResponseHeadParser's result, or Node's IncomingMessage, fits). */
export interface ClientHandshakeResponse {
  /** The HTTP status: anything but 101 is refused (WS_ERR_HANDSHAKE_STATUS). */
  readonly status: number;
  /** Lower-case names; repeated headers as arrays. */
  readonly headers: Readonly<Record<string, HeaderValue>>;
}

/** What the client sent, to check the response against. */
export interface ClientExpectation {
  /** The Sec-WebSocket-Key sent. */
  readonly key: string;
  /** The subprotocols offered ([] for none). */
  readonly protocols: readonly string[];
  /** The permessage-deflate configuration offered (buildDeflateOffer), null if none was. */
  readonly deflate: DeflateConfig | null;
  /** base64(SHA-1(input)), to check Sec-WebSocket-Accept: the core has no crypto of its own. */
  sha1Base64(input: string): string;
}

/** What the client's handshake agreed with the server. */
export interface ClientHandshakeResult {
  /** The subprotocol the server selected, '' for none. */
  readonly protocol: string;
  /** The extensions in use, as `name; param` elements, '' for none. */
  readonly extensions: string;
  /** permessage-deflate as agreed, null when not in use. */
  readonly deflate: DeflateAgreement | null;
}

function headerValue(response: ClientHandshakeResponse, name: string): string | undefined {
  const value = response.headers[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(', ');
}

type ResponseErrorCode =
  | 'WS_ERR_HANDSHAKE_UPGRADE'
  | 'WS_ERR_HANDSHAKE_CONNECTION'
  | 'WS_ERR_HANDSHAKE_ACCEPT'
  | 'WS_ERR_HANDSHAKE_PROTOCOL'
  | 'WS_ERR_HANDSHAKE_EXTENSIONS';

/** A 101 (or, over HTTP/2, a 2xx) that breaks a rule: the error carries the status it came with. */
function refused(code: ResponseErrorCode, message: string, status = 101): HandshakeError {
  return new HandshakeError(code, status, message);
}

/** A received value, quoted and cut short for an error message. */
function shown(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);
}

/**
 * Checks the server's response by RFC 6455 4.1 (the client's steps 1-6, in order) and returns
 * what was agreed. Throws a HandshakeError whose status is the response's:
 * WS_ERR_HANDSHAKE_STATUS (not 101; the caller reports the status, headers and body itself),
 * then with status 101: WS_ERR_HANDSHAKE_UPGRADE, WS_ERR_HANDSHAKE_CONNECTION,
 * WS_ERR_HANDSHAKE_ACCEPT, WS_ERR_HANDSHAKE_PROTOCOL, WS_ERR_HANDSHAKE_EXTENSIONS.
 */
export function validateClientResponse(response: ClientHandshakeResponse, expected: ClientExpectation): ClientHandshakeResult {
  // 1. Anything but 101 is handled per HTTP (a redirect, an authentication challenge...).
  if (response.status !== 101) {
    throw new HandshakeError('WS_ERR_HANDSHAKE_STATUS', response.status, `expected status 101, got ${response.status}`);
  }
  // 2. Upgrade: an ASCII case-insensitive match for "websocket" (the value, not a list holding it).
  const upgrade = headerValue(response, 'upgrade');
  if (upgrade === undefined || trimWhitespace(upgrade).toLowerCase() !== 'websocket') {
    throw refused(
      'WS_ERR_HANDSHAKE_UPGRADE',
      upgrade === undefined
        ? 'the response has no Upgrade header'
        : `the Upgrade header is ${shown(upgrade)}, not "websocket"`,
    );
  }
  // 3. Connection: holds the token "Upgrade", case-insensitively.
  const connection = headerValue(response, 'connection');
  if (!listHasToken(connection, 'upgrade')) {
    throw refused(
      'WS_ERR_HANDSHAKE_CONNECTION',
      connection === undefined
        ? 'the response has no Connection header'
        : `the Connection header ${shown(connection)} does not list "Upgrade"`,
    );
  }
  // 4. Sec-WebSocket-Accept: base64(SHA-1(key + GUID)), one value.
  const accept = headerValue(response, 'sec-websocket-accept');
  const expectedAccept = computeAcceptKey(expected.key, (input) => expected.sha1Base64(input));
  if (accept === undefined || trimWhitespace(accept) !== expectedAccept) {
    throw refused(
      'WS_ERR_HANDSHAKE_ACCEPT',
      accept === undefined
        ? 'the response has no Sec-WebSocket-Accept header'
        : `Sec-WebSocket-Accept is ${shown(accept)}, expected "${expectedAccept}"`,
    );
  }
  return checkAgreement(response, expected);
}

/**
 * RFC 6455 4.1's steps 5 and 6, the same after a 101 and after an extended CONNECT's 2xx (RFC
 * 8441 5): the extensions, then the subprotocol, each one we offered. The errors carry the
 * response's status.
 */
export function checkAgreement(
  response: ClientHandshakeResponse,
  expected: Pick<ClientExpectation, 'protocols' | 'deflate'>,
): ClientHandshakeResult {
  const { status } = response;
  let agreed;
  try {
    // 5. Extensions: only ones we offered (and 9.1: well-formed).
    agreed = checkExtensions(headerValue(response, 'sec-websocket-extensions'), expected.deflate, status);
  } catch (error) {
    // The permessage-deflate checks say 101, the status they meet over HTTP/1.1.
    if (error instanceof HandshakeError && error.status !== status) throw new HandshakeError(error.code, status, error.message);
    throw error;
  }
  const { extensions, deflate } = agreed;
  // 6. Subprotocol: absent, or one value that we offered.
  const protocol = checkProtocol(headerValue(response, 'sec-websocket-protocol'), expected.protocols, status);
  return { protocol, extensions, deflate };
}

function checkProtocol(header: string | undefined, offered: readonly string[], status: number): string {
  if (header === undefined) return '';
  const protocol = trimWhitespace(header);
  if (!offered.includes(protocol)) {
    throw refused(
      'WS_ERR_HANDSHAKE_PROTOCOL',
      offered.length === 0
        ? `the server selected the subprotocol ${shown(header)}, but none was offered`
        : `the server selected the subprotocol ${shown(header)}, which was not offered`,
      status,
    );
  }
  return protocol;
}

function checkExtensions(
  header: string | undefined,
  offered: DeflateConfig | null,
  status: number,
): { extensions: string; deflate: DeflateAgreement | null } {
  if (header === undefined) return { extensions: '', deflate: null };
  const elements = parseResponseExtensions(header);
  if (elements.length === 0) return { extensions: '', deflate: null };
  if (offered === null) {
    throw refused(
      'WS_ERR_HANDSHAKE_EXTENSIONS',
      `the server accepted the extension "${elements[0]!.name}", but no extension was offered`,
      status,
    );
  }
  const deflate = acceptDeflateResponse(header, offered);
  return { extensions: elements.map(formatExtension).join(', '), deflate };
}
