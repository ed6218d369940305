/**
 * rfc6455: a WebSocket library for Node.js (server and client), written from scratch with no
 * dependencies. This entry point is everything an application uses, and the vocabulary every layer
 * shares (close codes, errors, results); `rfc6455/protocol` is the Sans-I/O core for transport
 * adapters, `rfc6455/hub` the hub. Each name is exported by exactly one of them (see the README).
 *
 * @module rfc6455
 */

// The server.
export { WebSocketServer, type ShutdownOptions, type ShutdownResult } from './node/server.js';
export { type DrainOptions } from './node/drain.js';
export { type RefusedHandshake, type ServerHandler, type ServerOptions, type UpgradeRequest } from './node/server-options.js';
export { type HandshakeRefusal } from './node/refusal.js';
export { type LimitOptions, type Rate, type RateLimitEvent } from './node/limits.js';
export { type OriginsOption } from './protocol/origin.js';

// The client.
export { connect } from './node/client/connect.js';
export { ConnectError, type ConnectPhase, type ConnectTimings } from './node/client/connect-error.js';
export { type ClientOptions, type TransportRequest } from './node/client/options.js';

// A connection, either role.
export { Ws } from './node/ws.js';
export { type DeflateOptions, type WsOptions } from './node/options.js';
export { type Message } from './node/inbox.js';
export { type MessageHandler } from './node/message-loop.js';
export { type BinaryData, type SendOptions } from './node/send-arguments.js';

// The WHATWG WebSocket interface over connect().
export { WebSocket, type BinaryType, type WebSocketData } from './node/websocket/websocket.js';
export { CloseEvent, ErrorEvent, type CloseEventInit, type ErrorEventInit, type EventInit } from './node/websocket/events.js';
export { type EventHandler } from './node/websocket/handlers.js';

// Reconnection.
export { reconnect, type Connections } from './node/reconnect/reconnect.js';
export { ReconnectingClient, type ReconnectCounters, type ReconnectState } from './node/reconnect/client.js';
export { ReconnectError } from './node/reconnect/errors.js';
export { type DialCounters } from './node/reconnect/dialer.js';
export { type QueuePolicy, type ReconnectOptions, type ReconnectingClientOptions } from './node/reconnect/options.js';
export { shouldReconnectByDefault, type DisconnectInfo } from './node/reconnect/policy.js';

// The vocabulary every layer shares.
export { CloseCode, isSendableCloseCode } from './protocol/close.js';
export { type CloseResult, type ReadyState, type Role } from './protocol/connection.js';
export { type DeflateAgreement } from './protocol/permessage-deflate.js';
export { prepareFrame, type PreparedFrame } from './protocol/prepared.js';
export {
  ConnectionClosedError,
  HandshakeError,
  ProtocolError,
  WebSocketError,
  type ConnectErrorCode,
  type HandshakeErrorCode,
  type HubErrorCode,
  type ProtocolErrorCode,
  type ReconnectErrorCode,
  type TerminationCode,
  type UsageErrorCode,
  type WebSocketErrorCode,
} from './protocol/errors.js';
