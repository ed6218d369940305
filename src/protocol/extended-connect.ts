/**
 * The opening handshake of a WebSocket over HTTP/2 (RFC 8441), both roles, pure: an extended
 * CONNECT request (`:method CONNECT`, `:protocol websocket`, `:scheme`, `:path`, `:authority`)
 * answered with a 2xx on the same stream, which then carries the WebSocket's frames.
 *
 * RFC 8441 5 keeps RFC 6455's handshake headers, in lower case, with their meaning, except that
 * Sec-WebSocket-Key and Sec-WebSocket-Accept are not used (the stream is the WebSocket's from the
 * start: there is no upgrade to prove), and neither are Upgrade and Connection (RFC 9113 8.2.2
 * forbids connection-specific header fields). Subprotocol and permessage-deflate negotiation are
 * the HTTP/1.1 handshake's (handshake.ts, client-handshake.ts), shared rather than copied.
 *
 * The HTTP/2 framing itself (HPACK, SETTINGS_ENABLE_CONNECT_PROTOCOL, flow control) is the
 * transport's: headers come in and go out here as plain objects with lower-case names.
 */

import {
  REQUEST_HEADERS,
  checkAgreement,
  checkHost,
  checkPath,
  offerFields,
  type ClientExpectation,
  type ClientHandshakeResponse,
  type ClientHandshakeResult,
} from './client-handshake.js';
import { HandshakeError, WebSocketError } from './errors.js';
import { header, negotiateHandshake, parseProtocols, type AcceptPolicy, type HandshakeRequest } from './handshake.js';
import { checkHeaderField, trimWhitespace } from './http-syntax.js';
import type { DeflateAgreement } from './permessage-deflate.js';

/** RFC 8441 4: the `:protocol` of a WebSocket's extended CONNECT (the HTTP Upgrade Token). */
const WEBSOCKET_PROTOCOL = 'websocket';

/**
 * Header fields RFC 9113 8.2.2 forbids in HTTP/2 (connection-specific), and those the handshake
 * writes itself: an extra copy would contradict it, or make the message malformed.
 */
const CONNECTION_SPECIFIC: readonly string[] = ['connection', 'upgrade', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te'];

const RESPONSE_HEADERS: ReadonlySet<string> = new Set([...CONNECTION_SPECIFIC, 'sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions']);

/** The server's answer to an extended CONNECT it accepts, and what it agreed. */
export interface AcceptedExtendedConnect {
  /** The response's header fields, names in lower case: `:status` 200 and the agreement. */
  readonly headers: Readonly<Record<string, string>>;
  /** The subprotocol agreed, '' for none. */
  readonly protocol: string;
  /** The Sec-WebSocket-Extensions value sent, '' for none. */
  readonly extensions: string;
  /** permessage-deflate as agreed, null when not. */
  readonly deflate: DeflateAgreement | null;
}

/**
 * The server's side of RFC 8441 4 and 5: checks an extended CONNECT (its pseudo-header fields
 * among `headers`, as an HTTP/2 implementation gives them) and negotiates as RFC 6455 4.2 does.
 * Throws a HandshakeError with the status to answer on the stream, the same statuses and codes
 * as over HTTP/1.1: 405 for a method other than CONNECT, 400 for a `:protocol` other than
 * websocket or a request without `:scheme`, `:path` or `:authority`, 426 (with
 * sec-websocket-version: 13) for another WebSocket version, 400 for a malformed
 * Sec-WebSocket-Protocol or Sec-WebSocket-Extensions. A WebSocketError WS_ERR_INVALID_ARGUMENT
 * means the policy itself is wrong (a 500). No key is checked and no accept computed (RFC 8441 5),
 * so `policy.sha1Base64` is not needed.
 */
export function acceptExtendedConnect(
  request: HandshakeRequest,
  policy: Omit<AcceptPolicy, 'sha1Base64'>,
): AcceptedExtendedConnect {
  if (request.method !== 'CONNECT') {
    throw new HandshakeError('WS_ERR_HANDSHAKE_METHOD', 405, 'the method must be CONNECT (RFC 8441 4)', { Allow: 'CONNECT' });
  }
  const protocol = header(request, ':protocol');
  if (protocol === undefined || protocol.toLowerCase() !== WEBSOCKET_PROTOCOL) {
    throw new HandshakeError('WS_ERR_HANDSHAKE_UPGRADE', 400, 'the :protocol pseudo-header must be "websocket" (RFC 8441 4)');
  }
  if (!header(request, ':scheme') || !header(request, ':path')) {
    throw new HandshakeError('WS_ERR_HANDSHAKE_UPGRADE', 400, 'an extended CONNECT needs :scheme and :path (RFC 8441 4)');
  }
  if (!header(request, ':authority') && !header(request, 'host')) {
    throw new HandshakeError('WS_ERR_HANDSHAKE_HOST', 400, 'the :authority pseudo-header is missing');
  }
  if (header(request, 'sec-websocket-version')?.trim() !== '13') {
    throw new HandshakeError('WS_ERR_HANDSHAKE_VERSION', 426, 'only WebSocket version 13 is supported', {
      'Sec-WebSocket-Version': '13',
    });
  }
  const negotiated = negotiateHandshake(
    parseProtocols(header(request, 'sec-websocket-protocol')),
    header(request, 'sec-websocket-extensions'),
    policy,
  );
  const headers: Record<string, string> = { ':status': '200' };
  if (negotiated.protocol !== '') headers['sec-websocket-protocol'] = negotiated.protocol;
  if (negotiated.extensions !== '') headers['sec-websocket-extensions'] = negotiated.extensions;
  addHeaders(headers, policy.headers, RESPONSE_HEADERS);
  return { headers, protocol: negotiated.protocol, extensions: negotiated.extensions, deflate: negotiated.deflate };
}

/** What a client's extended CONNECT says (buildExtendedConnectRequest writes it). */
export interface ExtendedConnectRequest {
  /** `https` for wss:, `http` for ws: (RFC 8441 5: the scheme of the WebSocket URI's HTTP form). */
  readonly scheme: 'https' | 'http';
  /** The `:authority`: host, plus ":port" when not the scheme's default. */
  readonly authority: string;
  /** The path and query, starting with "/". */
  readonly path: string;
  /** The `origin` field a browser would send (a client may send none). */
  readonly origin?: string | undefined;
  /** Subprotocols in order of preference: distinct tokens (RFC 6455 4.1). */
  readonly protocols?: readonly string[] | undefined;
  /** The Sec-WebSocket-Extensions offer, e.g. from buildDeflateOffer. */
  readonly extensions?: string | undefined;
  /** Extra header fields (cookies, authorization...); none the handshake writes itself. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** Request header fields the handshake writes itself, or that HTTP/2 forbids. */
const CONNECT_REQUEST_HEADERS: ReadonlySet<string> = new Set([...REQUEST_HEADERS, ...CONNECTION_SPECIFIC]);

/**
 * The header fields of a client's extended CONNECT (RFC 8441 4 and 5), names in lower case, for
 * the HTTP/2 implementation to send. Throws WS_ERR_INVALID_ARGUMENT as buildClientRequest does:
 * a bad path or authority, subprotocols that are not distinct tokens, a malformed extension
 * offer, an extra header that is not a token with a clean value, or one the handshake writes.
 */
export function buildExtendedConnectRequest(spec: ExtendedConnectRequest): Record<string, string> {
  checkPath(spec.path);
  checkHost(spec.authority);
  if (spec.scheme !== 'https' && spec.scheme !== 'http') {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `the scheme must be "https" or "http", got ${JSON.stringify(spec.scheme)}`);
  }
  const headers: Record<string, string> = {
    ':method': 'CONNECT',
    ':protocol': WEBSOCKET_PROTOCOL,
    ':scheme': spec.scheme,
    ':authority': spec.authority,
    ':path': spec.path,
    'sec-websocket-version': '13',
  };
  for (const [name, value] of offerFields(spec)) headers[name.toLowerCase()] = value;
  addHeaders(headers, spec.headers, CONNECT_REQUEST_HEADERS);
  return headers;
}

/**
 * Checks the server's response to an extended CONNECT and returns what was agreed: a 2xx (RFC
 * 9113 8.5: any 2xx accepts a CONNECT; RFC 8441 servers send 200), then the subprotocol and
 * extensions by RFC 6455 4.1's steps 5 and 6, as over HTTP/1.1. There is no Upgrade, Connection
 * or Sec-WebSocket-Accept to check (RFC 8441 5). Throws a HandshakeError: WS_ERR_HANDSHAKE_STATUS
 * (another status; the caller reports it), WS_ERR_HANDSHAKE_PROTOCOL, WS_ERR_HANDSHAKE_EXTENSIONS.
 */
export function validateExtendedConnectResponse(
  response: ClientHandshakeResponse,
  expected: Pick<ClientExpectation, 'protocols' | 'deflate'>,
): ClientHandshakeResult {
  if (response.status < 200 || response.status > 299) {
    throw new HandshakeError('WS_ERR_HANDSHAKE_STATUS', response.status, `expected a 2xx status, got ${response.status}`);
  }
  return checkAgreement(response, expected);
}

/** Copies extra header fields into `into` with lower-case names, each checked, none in `reserved`. */
function addHeaders(into: Record<string, string>, extra: Readonly<Record<string, string>> | undefined, reserved: ReadonlySet<string>): void {
  if (extra === undefined) return;
  for (const [name, value] of Object.entries(extra)) {
    checkHeaderField(name, value);
    const lower = name.toLowerCase();
    if (reserved.has(lower) || lower in into) {
      throw new WebSocketError(
        'WS_ERR_INVALID_ARGUMENT',
        `header ${JSON.stringify(name)} is written by the handshake itself or not allowed in HTTP/2, and cannot be set`,
      );
    }
    into[lower] = trimWhitespace(value);
  }
}
