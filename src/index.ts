/**
 * rfc6455: a WebSocket library for Node.js (server and client), written from scratch with no dependencies.
 *
 * The Node layer (server, connection) is exported here; the protocol core, which has no I/O, is
 * also available on its own as `rfc6455/protocol`.
 */
export { WebSocketServer, type ShutdownOptions, type ShutdownResult } from './node/server.js';
export { connect } from './node/client/connect.js';
export { ConnectError, type ConnectPhase, type ConnectTimings } from './node/client/connect-error.js';
export { CLIENT_DEFAULTS, type ClientOptions, type TransportRequest } from './node/client/options.js';
export {
  WebSocket,
  CloseEvent,
  ErrorEvent,
  type BinaryType,
  type CloseEventInit,
  type ErrorEventInit,
  type EventHandler,
  type EventInit,
  type WebSocketData,
  type WebSocketOptions,
} from './node/websocket/index.js';
export {
  reconnect,
  ReconnectingClient,
  ReconnectError,
  RECONNECT_DEFAULTS,
  backoffCap,
  backoffDelay,
  parseRetryAfter,
  shouldReconnectByDefault,
  type Connections,
  type DialCounters,
  type DisconnectInfo,
  type QueuePolicy,
  type ReconnectCounters,
  type ReconnectOptions,
  type ReconnectState,
  type ReconnectingClientOptions,
} from './node/reconnect/index.js';
export {
  Ws,
  type BinaryData,
  type CloseResult,
  type Message,
  type ReadyState,
  type SendOptions,
} from './node/ws.js';
export type { DeflateParams } from './node/deflate.js';
export {
  DEFAULTS,
  DEFLATE_BOUNDS,
  DEFLATE_DEFAULTS,
  OPTION_BOUNDS,
  type Bound,
  type ConnectionHandler,
  type ConnectionOptions,
  type DeflateOptions,
  type RefusedHandshake,
  type ServerOptions,
} from './node/options.js';
export { prepareFrame, type PreparedFrame } from './protocol/prepared.js';
export { CloseCode, isSendableCloseCode } from './protocol/close.js';
export {
  ConnectionClosedError,
  HandshakeError,
  ProtocolError,
  WebSocketError,
  type HandshakeErrorCode,
  type ConnectErrorCode,
  type ProtocolErrorCode,
  type ReconnectErrorCode,
  type TerminationCode,
  type UsageErrorCode,
  type WebSocketErrorCode,
} from './protocol/errors.js';
