/** The WHATWG WebSocket interface over connect(): `import { WebSocket } from 'rfc6455'`. */
export { WebSocket, type BinaryType, type WebSocketData, type WebSocketOptions } from './websocket.js';
export { CloseEvent, ErrorEvent, type CloseEventInit, type ErrorEventInit, type EventInit } from './events.js';
export type { EventHandler } from './handlers.js';
