/**
 * rfc6455/protocol: the Sans-I/O core, for someone writing an adapter for another transport. Pure
 * TypeScript with no I/O and no `node:*` import: the connection's state machine (bytes in, events
 * and bytes out), the server's and the client's opening handshakes (over HTTP/1.1, and over HTTP/2
 * as RFC 8441's extended CONNECT), and the permessage-deflate negotiation. The vocabulary its
 * types use (CloseResult, ReadyState, Role, the errors, DeflateAgreement, PreparedFrame) is
 * exported by `rfc6455`; see examples/duplex.ts.
 *
 * @module rfc6455/protocol
 */

// The connection.
export { Connection, type ConnectionHost, type ConnectionOptions } from './connection.js';
export { type CloseInfo } from './close.js';

// The server's opening handshake.
export {
  acceptHandshake,
  buildErrorResponse,
  type AcceptPolicy,
  type AcceptedHandshake,
  type HandshakeRequest,
  type HeaderValue,
} from './handshake.js';

// The client's opening handshake.
export {
  buildClientRequest,
  generateHandshakeKey,
  validateClientResponse,
  type ClientExpectation,
  type ClientHandshakeRequest,
  type ClientHandshakeResponse,
  type ClientHandshakeResult,
} from './client-handshake.js';
export { ResponseHeadParser, type ResponseHead, type ResponseHeadLimits } from './http-response.js';

// WebSockets over HTTP/2 (RFC 8441): the extended CONNECT, both roles.
export {
  acceptExtendedConnect,
  buildExtendedConnectRequest,
  validateExtendedConnectResponse,
  type AcceptedExtendedConnect,
  type ExtendedConnectRequest,
} from './extended-connect.js';

// Extensions, and the permessage-deflate negotiation (compressing is the adapter's: zlib).
export { parseExtensions, type ExtensionOffer, type ExtensionParam } from './extensions.js';
export {
  acceptDeflateResponse,
  buildDeflateOffer,
  negotiatePermessageDeflate,
  type DeflateConfig,
  type DeflateNegotiation,
} from './permessage-deflate.js';
