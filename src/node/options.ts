/** Options, their defaults and their bounds, in one place. */

import type { IncomingMessage, ServerResponse } from 'node:http';
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

/** permessage-deflate (RFC 7692) settings; `true` takes every default. */
export interface DeflateOptions {
  /** Reset our compressor after each message: less memory, worse ratio. Default false. */
  serverNoContextTakeover?: boolean;
  /** Ask clients to reset theirs (then our inflater is pooled too). Default false. */
  clientNoContextTakeover?: boolean;
  /** Our LZ77 window, 8-15 (at most what the client allows). Default 15. */
  serverMaxWindowBits?: number;
  /** The window we ask clients to stay within, 8-15, when they let us. Default 15. */
  clientMaxWindowBits?: number;
  /** Messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /** zlib compression level, 0-9. Default 6 (zlib's default, as in `ws`). */
  level?: number;
  /** zlib memLevel, 1-9. Default 8. */
  memLevel?: number;
  /** zlib operations running at once, all connections of the server together. Default 10. */
  concurrency?: number;
  /**
   * Memory the per-connection contexts of the server may hold together. A connection with
   * context takeover keeps about 300 KiB (window 15, memLevel 8) for its whole life; once this is
   * spent, new connections negotiate no context takeover and borrow pooled contexts per message.
   * Default 64 MiB.
   */
  maxContextMemory?: number;
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
   * Plain (non-upgrade) HTTP requests on the server `listen()` starts: return true once you have
   * answered (or will answer) `response`; false leaves the request to the default 426 Upgrade
   * Required. If it throws, the error goes to `onError` and the client gets 500. Servers of your
   * own (`attach`, `handleUpgrade`) keep their own request handlers and never call it.
   */
  onHttpRequest?: (request: IncomingMessage, response: ServerResponse) => boolean;
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
  /** permessage-deflate: `true` or settings to offer it, false (default) to decline it. */
  perMessageDeflate?: boolean | DeflateOptions;
}

export interface ResolvedConnectionOptions {
  readonly maxPayload: number;
  readonly maxFragments: number;
  readonly closeTimeout: number;
  readonly maxBufferedAmount: number;
  readonly sendOverflow: 'close' | 'reject';
  readonly receiveHighWaterMark: number;
}

export interface ResolvedDeflateOptions {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  readonly serverMaxWindowBits: number;
  readonly clientMaxWindowBits: number;
  readonly threshold: number;
  readonly level: number;
  readonly memLevel: number;
  readonly concurrency: number;
  readonly maxContextMemory: number;
}

export const DEFLATE_DEFAULTS: ResolvedDeflateOptions = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
  threshold: 1024,
  level: 6,
  memLevel: 8,
  concurrency: 10,
  maxContextMemory: 64 * 1024 * 1024,
};

export interface ResolvedServerOptions extends ResolvedConnectionOptions {
  /** null: permessage-deflate is declined. */
  readonly deflate: ResolvedDeflateOptions | null;
  readonly handshakeTimeout: number;
  readonly maxHeaderSize: number;
  readonly maxHeaderCount: number;
  readonly pingInterval: number;
  readonly pingTimeout: number;
  readonly idleTimeout: number;
}

export const DEFAULTS: ResolvedServerOptions = {
  deflate: null,
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
    deflate: resolveDeflateOptions(options.perMessageDeflate),
  };
  for (const hook of ['handler', 'selectProtocol', 'allowRequest', 'onHttpRequest', 'onError'] as const) {
    if (options[hook] !== undefined && typeof options[hook] !== 'function') {
      throw invalid(hook, 'a function', options[hook]);
    }
  }
  return resolved;
}

function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid(name, 'true or false', value);
  return value;
}

export function resolveDeflateOptions(option: boolean | DeflateOptions | undefined): ResolvedDeflateOptions | null {
  if (option === undefined || option === false) return null;
  if (option === true) return DEFLATE_DEFAULTS;
  if (typeof option !== 'object' || option === null) throw invalid('perMessageDeflate', 'a boolean or an object', option);
  const d = DEFLATE_DEFAULTS;
  const name = (key: string): string => `perMessageDeflate.${key}`;
  return {
    serverNoContextTakeover: booleanOption(name('serverNoContextTakeover'), option.serverNoContextTakeover, d.serverNoContextTakeover),
    clientNoContextTakeover: booleanOption(name('clientNoContextTakeover'), option.clientNoContextTakeover, d.clientNoContextTakeover),
    serverMaxWindowBits: integerOption(name('serverMaxWindowBits'), option.serverMaxWindowBits, d.serverMaxWindowBits, 8, 15),
    clientMaxWindowBits: integerOption(name('clientMaxWindowBits'), option.clientMaxWindowBits, d.clientMaxWindowBits, 8, 15),
    threshold: integerOption(name('threshold'), option.threshold, d.threshold, 0, MAX_BYTES),
    level: integerOption(name('level'), option.level, d.level, 0, 9),
    memLevel: integerOption(name('memLevel'), option.memLevel, d.memLevel, 1, 9),
    concurrency: integerOption(name('concurrency'), option.concurrency, d.concurrency, 1, 1024),
    maxContextMemory: integerOption(name('maxContextMemory'), option.maxContextMemory, d.maxContextMemory, 0, Number.MAX_SAFE_INTEGER),
  };
}
