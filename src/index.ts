/**
 * rfc6455: a WebSocket server library for Node.js, written from scratch with no dependencies.
 *
 * The Node layer (server, connection) is exported here; the protocol core, which has no I/O, is
 * also available on its own as `rfc6455/protocol`.
 */
export { WebSocketServer, type ShutdownOptions, type ShutdownResult } from './node/server.js';
export { Ws, type BinaryData, type CloseResult, type Message, type ReadyState } from './node/ws.js';
export {
  DEFAULTS,
  DEFLATE_DEFAULTS,
  type ConnectionHandler,
  type ConnectionOptions,
  type DeflateOptions,
  type ServerOptions,
} from './node/options.js';
export { CloseCode, isSendableCloseCode } from './protocol/close.js';
export {
  ConnectionClosedError,
  HandshakeError,
  ProtocolError,
  WebSocketError,
  type HandshakeErrorCode,
  type ProtocolErrorCode,
  type UsageErrorCode,
  type WebSocketErrorCode,
} from './protocol/errors.js';
