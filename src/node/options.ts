/** Options, their defaults and their bounds, in one place. */

import type { IncomingMessage } from 'node:http';
import { WebSocketError } from '../protocol/errors.js';
import type { Ws } from './ws.js';

export interface ConnectionOptions {
  /**
   * Largest message accepted, all its fragments together, in bytes; a larger one fails the
   * connection with 1009 before it is buffered. Default 64 MiB.
   */
  maxPayload?: number;
  /** Most frames one message may be split into; more fails the connection with 1008. Default 131072. */
  maxFragments?: number;
  /**
   * Milliseconds to wait for the peer's side of the closing handshake (its close frame, then the end
   * of TCP), and for the application to read the messages that came before a close or a protocol
   * error, before the socket is destroyed. Default 5000.
   */
  closeTimeout?: number;
}

export type ConnectionHandler = (ws: Ws, request: IncomingMessage) => unknown;

export interface ServerOptions extends ConnectionOptions {
  /** Called with each new connection. If it throws or rejects, the connection closes with 1011. */
  handler?: ConnectionHandler;
  /**
   * Chooses a subprotocol among those the client offered (RFC 6455 4.2.2), or undefined for none.
   * It must return one of `offered`. By default none is chosen.
   */
  selectProtocol?: (offered: readonly string[], request: IncomingMessage) => string | undefined;
  /** Decides whether to accept a request (check Origin, cookies...); false answers 403. */
  allowRequest?: (request: IncomingMessage) => boolean | Promise<boolean>;
  /**
   * Receives errors the library cannot hand back to a caller: a handler that threw, a hook that
   * failed. Each error is reported once. Default: console.error.
   */
  onError?: (error: unknown, ws: Ws | undefined) => void;
}

export interface ResolvedConnectionOptions {
  readonly maxPayload: number;
  readonly maxFragments: number;
  readonly closeTimeout: number;
}

export const DEFAULTS: ResolvedConnectionOptions = {
  maxPayload: 64 * 1024 * 1024,
  maxFragments: 128 * 1024,
  closeTimeout: 5000,
};

// The largest Buffer Node can allocate on every supported version.
const MAX_PAYLOAD_LIMIT = 2 ** 31 - 1;
// setTimeout's limit.
const MAX_TIMEOUT = 2 ** 31 - 1;

function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new WebSocketError(
      'WS_ERR_INVALID_ARGUMENT',
      `option ${name} must be an integer from ${min} to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

export function resolveConnectionOptions(options: ConnectionOptions = {}): ResolvedConnectionOptions {
  return {
    maxPayload: integerOption('maxPayload', options.maxPayload, DEFAULTS.maxPayload, 0, MAX_PAYLOAD_LIMIT),
    maxFragments: integerOption('maxFragments', options.maxFragments, DEFAULTS.maxFragments, 1, 2 ** 32),
    closeTimeout: integerOption('closeTimeout', options.closeTimeout, DEFAULTS.closeTimeout, 1, MAX_TIMEOUT),
  };
}
