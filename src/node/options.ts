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
  /**
   * Outbound limit: when `bufferedAmount` (bytes accepted by send() that the kernel has not taken)
   * reaches this, the next send() overflows and `sendOverflow` decides. Default 16 MiB.
   */
  maxBufferedAmount?: number;
  /**
   * What an overflowing send() does: 'close' (default) rejects it and closes the connection with
   * 1008 "too slow"; 'reject' rejects it with WS_ERR_BUFFER_FULL and keeps the connection.
   */
  sendOverflow?: 'close' | 'reject';
  /**
   * Inbound limit: once this many bytes of messages wait for the application (nobody calls recv()),
   * reading from the socket pauses, so TCP pushes back on the peer; it resumes below half.
   * Default 1 MiB.
   */
  receiveHighWaterMark?: number;
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
  /**
   * Milliseconds from TCP accept to the 101 response, on servers the library guards (`listen()`,
   * `attach()`, `guard()`): a client that sends its request slowly (slowloris) or never finishes it
   * is answered 408 and disconnected. Default 10000.
   */
  handshakeTimeout?: number;
  /** Largest upgrade request head (names and values of all headers), in bytes: 431. Default 16 KiB. */
  maxHeaderSize?: number;
  /** Most header lines in an upgrade request: 431. Default 100. */
  maxHeaderCount?: number;
  /**
   * Keepalive: a connection that has received nothing for this many milliseconds is pinged.
   * 0 disables pings. Default 30000.
   */
  pingInterval?: number;
  /**
   * A pinged connection that has received nothing (no pong, no data) for this many milliseconds
   * is terminated: its close code is 1006, its reason says it timed out. Default 20000.
   */
  pingTimeout?: number;
  /** Closes (1001 "idle timeout") a connection that has received no message for this long. 0 (default) never. */
  idleTimeout?: number;
}

export interface ResolvedConnectionOptions {
  readonly maxPayload: number;
  readonly maxFragments: number;
  readonly closeTimeout: number;
  readonly maxBufferedAmount: number;
  readonly sendOverflow: 'close' | 'reject';
  readonly receiveHighWaterMark: number;
}

export interface ResolvedServerOptions extends ResolvedConnectionOptions {
  readonly handshakeTimeout: number;
  readonly maxHeaderSize: number;
  readonly maxHeaderCount: number;
  readonly pingInterval: number;
  readonly pingTimeout: number;
  readonly idleTimeout: number;
}

export const DEFAULTS: ResolvedServerOptions = {
  maxPayload: 64 * 1024 * 1024,
  maxFragments: 128 * 1024,
  closeTimeout: 5000,
  maxBufferedAmount: 16 * 1024 * 1024,
  sendOverflow: 'close',
  receiveHighWaterMark: 1024 * 1024,
  handshakeTimeout: 10_000,
  maxHeaderSize: 16 * 1024,
  maxHeaderCount: 100,
  pingInterval: 30_000,
  pingTimeout: 20_000,
  idleTimeout: 0,
};

// The largest Buffer Node can allocate on every supported version.
const MAX_BYTES = 2 ** 31 - 1;
// setTimeout's limit.
const MAX_TIMEOUT = 2 ** 31 - 1;

function invalid(name: string, expected: string, value: unknown): WebSocketError {
  return new WebSocketError(
    'WS_ERR_INVALID_ARGUMENT',
    `option ${name} must be ${expected}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
  );
}

function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

export function resolveConnectionOptions(options: ConnectionOptions = {}): ResolvedConnectionOptions {
  const sendOverflow = options.sendOverflow ?? DEFAULTS.sendOverflow;
  if (sendOverflow !== 'close' && sendOverflow !== 'reject') {
    throw invalid('sendOverflow', "'close' or 'reject'", sendOverflow);
  }
  return {
    maxPayload: integerOption('maxPayload', options.maxPayload, DEFAULTS.maxPayload, 0, MAX_BYTES),
    maxFragments: integerOption('maxFragments', options.maxFragments, DEFAULTS.maxFragments, 1, 2 ** 32),
    closeTimeout: integerOption('closeTimeout', options.closeTimeout, DEFAULTS.closeTimeout, 1, MAX_TIMEOUT),
    maxBufferedAmount: integerOption(
      'maxBufferedAmount',
      options.maxBufferedAmount,
      DEFAULTS.maxBufferedAmount,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    sendOverflow,
    receiveHighWaterMark: integerOption(
      'receiveHighWaterMark',
      options.receiveHighWaterMark,
      DEFAULTS.receiveHighWaterMark,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
  };
}

export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  const resolved: ResolvedServerOptions = {
    ...resolveConnectionOptions(options),
    handshakeTimeout: integerOption(
      'handshakeTimeout',
      options.handshakeTimeout,
      DEFAULTS.handshakeTimeout,
      1,
      MAX_TIMEOUT,
    ),
    maxHeaderSize: integerOption('maxHeaderSize', options.maxHeaderSize, DEFAULTS.maxHeaderSize, 1024, MAX_BYTES),
    maxHeaderCount: integerOption('maxHeaderCount', options.maxHeaderCount, DEFAULTS.maxHeaderCount, 8, 100_000),
    pingInterval: integerOption('pingInterval', options.pingInterval, DEFAULTS.pingInterval, 0, MAX_TIMEOUT),
    pingTimeout: integerOption('pingTimeout', options.pingTimeout, DEFAULTS.pingTimeout, 1, MAX_TIMEOUT),
    idleTimeout: integerOption('idleTimeout', options.idleTimeout, DEFAULTS.idleTimeout, 0, MAX_TIMEOUT),
  };
  for (const hook of ['handler', 'selectProtocol', 'allowRequest', 'onError'] as const) {
    if (options[hook] !== undefined && typeof options[hook] !== 'function') {
      throw invalid(hook, 'a function', options[hook]);
    }
  }
  return resolved;
}
