/**
 * Options, their defaults and their bounds, in one table (OPTION_BOUNDS): resolution, the
 * defaults exported to users, the README and the bounds test all read it.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebSocketError } from '../protocol/errors.js';
import type { OriginsOption } from '../protocol/origin.js';
import type { LimitOptions, RateLimitEvent } from './limits.js';
import type { Ws } from './ws.js';

/** Limits and timeouts of one connection, the same for both roles. */
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
  /**
   * Milliseconds for the opening handshake. Server: from TCP accept to the 101 on servers the
   * library guards (`listen()`, `attach()`, `guard()`), 408 after it. Client: from the start of
   * connect() to the 101, DNS, TCP, TLS and proxy included. Default 10000.
   */
  handshakeTimeout?: number;
  /** Largest handshake head (names and values of all headers), in bytes: 431 on a server. Default 16 KiB. */
  maxHeaderSize?: number;
  /** Most header lines in a handshake head: 431 on a server. Default 100. */
  maxHeaderCount?: number;
  /** permessage-deflate: `true` or settings to offer (client) or accept (server) it; false to decline. */
  perMessageDeflate?: boolean | DeflateOptions;
}

/** permessage-deflate (RFC 7692) settings; `true` takes every default. */
export interface DeflateOptions {
  /** The server resets its compressor after each message (RFC 7692 7.1.1.1). Default false. */
  serverNoContextTakeover?: boolean;
  /** The client resets its compressor after each message (7.1.1.2). Default false. */
  clientNoContextTakeover?: boolean;
  /** The server's LZ77 window, 8-15 (7.1.2.1). Default 15. */
  serverMaxWindowBits?: number;
  /** The client's LZ77 window, 8-15 (7.1.2.2). Default 15. */
  clientMaxWindowBits?: number;
  /** Messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /** zlib compression level, 0-9. Default 6 (zlib's default, as in `ws`). */
  level?: number;
  /** zlib memLevel, 1-9. Default 8. */
  memLevel?: number;
  /** zlib operations running at once, all connections that share these settings together. Default 10. */
  concurrency?: number;
  /**
   * Memory the per-connection contexts may hold together. A connection with context takeover
   * keeps about 300 KiB (window 15, memLevel 8) for its whole life; once this is spent, new server
   * connections negotiate no context takeover and borrow pooled contexts per message.
   * Default 64 MiB.
   */
  maxContextMemory?: number;
}

export type ConnectionHandler = (ws: Ws, request: IncomingMessage) => unknown;

/** A handshake the server refused: what the client was answered, and why. */
export interface RefusedHandshake {
  /** The HTTP status sent (400, 403, 405, 408, 426, 431, 500, 503). */
  readonly status: number;
  /** The stable code of the reason (WS_ERR_HANDSHAKE_*, or WS_ERR_HOOK_FAILED for a hook that threw). */
  readonly code: string;
  readonly message: string;
  /** The request, when one was read (a handshake timeout may come before it). */
  readonly request: IncomingMessage | undefined;
}

export interface ServerOptions extends ConnectionOptions {
  /** Called with each new connection. If it throws or rejects, the connection closes with 1011. */
  handler?: ConnectionHandler;
  /**
   * Chooses a subprotocol among those the client offered (RFC 6455 4.2.2), or undefined for none.
   * It must return one of `offered`. By default none is chosen.
   */
  selectProtocol?: (offered: readonly string[], request: IncomingMessage) => string | undefined;
  /**
   * Which browser origins may connect (cross-site WebSocket hijacking: a page of any site can open
   * a WebSocket to this server, with this site's cookies). A list of `'same-origin'` (the
   * Origin's host and port equal Host's), exact origins (`'https://app.example.com'`) and host
   * patterns (`'*.example.com'`, `'localhost:*'`); others get 403 (WS_ERR_HANDSHAKE_ORIGIN).
   * A request without Origin (not from a browser page) is accepted unless `requireOrigin`.
   * `'*'` accepts every origin. Default `['same-origin']`.
   */
  origins?: OriginsOption;
  /** Refuse (403) requests without an Origin header, i.e. every client but a browser page. Default false. */
  requireOrigin?: boolean;
  /** Abuse limits: message and byte rates per connection, handshakes and connections per client address. Default: none. */
  limits?: LimitOptions;
  /**
   * Told of each message a connection sent over its `limits` (it was not delivered); the
   * connection is closed with 1008 (WS_ERR_RATE_LIMITED) once `limits.maxDropped` are dropped in
   * a row. A good place to tell the client it is rate limited.
   */
  onRateLimit?: (ws: Ws, event: RateLimitEvent) => void;
  /** Decides whether to accept a request (check cookies, tokens...) once its origin is accepted; false answers 403. */
  allowRequest?: (request: IncomingMessage) => boolean | Promise<boolean>;
  /**
   * Receives errors the library cannot hand back to a caller: a handler that threw, a hook that
   * failed. Each error is reported once. Default: console.error.
   */
  onError?: (error: unknown, ws: Ws | undefined) => void;
  /** Called for every handshake the server refuses, with the status sent and the reason's code (metrics, logs). */
  onRefused?: (refused: RefusedHandshake) => void;
  /**
   * Plain HTTP requests (not upgrades) on the server `listen()` starts: return true once the
   * request is answered, false to leave it to the default 426 Upgrade Required. If it throws, the
   * error goes to `onError` and the client gets 500. Servers of your own (`attach`,
   * `handleUpgrade`) keep their own request handlers and never call it.
   */
  onHttpRequest?: (request: IncomingMessage, response: ServerResponse) => boolean;
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

/** Every connection option resolved: numbers within their bounds. */
export interface ResolvedOptions {
  readonly maxPayload: number;
  readonly maxFragments: number;
  readonly closeTimeout: number;
  readonly maxBufferedAmount: number;
  readonly sendOverflow: 'close' | 'reject';
  readonly receiveHighWaterMark: number;
  readonly pingInterval: number;
  readonly pingTimeout: number;
  readonly idleTimeout: number;
  readonly handshakeTimeout: number;
  readonly maxHeaderSize: number;
  readonly maxHeaderCount: number;
  /** null: permessage-deflate is declined (server) or not offered (client). */
  readonly perMessageDeflate: ResolvedDeflateOptions | null;
}

/**
 * `resolved` with more fields, built as one literal. Not `{ ...resolved, ...more }`: V8 makes an
 * object spread followed by more properties slow (measured: 4 to 15 µs, where this takes 0.1),
 * and this runs for every connect().
 */
export function withResolved<T extends object>(resolved: ResolvedOptions, more: T): ResolvedOptions & T {
  return Object.assign(
    {
      maxPayload: resolved.maxPayload,
      maxFragments: resolved.maxFragments,
      closeTimeout: resolved.closeTimeout,
      maxBufferedAmount: resolved.maxBufferedAmount,
      receiveHighWaterMark: resolved.receiveHighWaterMark,
      pingInterval: resolved.pingInterval,
      pingTimeout: resolved.pingTimeout,
      idleTimeout: resolved.idleTimeout,
      handshakeTimeout: resolved.handshakeTimeout,
      maxHeaderSize: resolved.maxHeaderSize,
      maxHeaderCount: resolved.maxHeaderCount,
      sendOverflow: resolved.sendOverflow,
      perMessageDeflate: resolved.perMessageDeflate,
    },
    more,
  );
}

/** Back-compatible names for the resolved options. */
export type ResolvedServerOptions = ResolvedOptions;

export interface Bound {
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

// The largest Buffer Node can allocate on every supported version.
const MAX_BYTES = 2 ** 31 - 1;
// setTimeout's limit.
const MAX_TIMEOUT = 2 ** 31 - 1;

type NumericOption = {
  [K in keyof ResolvedOptions]: ResolvedOptions[K] extends number ? K : never;
}[keyof ResolvedOptions];

/** The one table of numeric connection options: default, smallest and largest allowed. */
export const OPTION_BOUNDS: Readonly<Record<NumericOption, Bound>> = {
  maxPayload: { default: 64 * 1024 * 1024, min: 0, max: MAX_BYTES },
  maxFragments: { default: 128 * 1024, min: 1, max: 2 ** 32 },
  closeTimeout: { default: 5000, min: 1, max: MAX_TIMEOUT },
  maxBufferedAmount: { default: 16 * 1024 * 1024, min: 1, max: Number.MAX_SAFE_INTEGER },
  receiveHighWaterMark: { default: 1024 * 1024, min: 1, max: Number.MAX_SAFE_INTEGER },
  pingInterval: { default: 30_000, min: 0, max: MAX_TIMEOUT },
  pingTimeout: { default: 20_000, min: 1, max: MAX_TIMEOUT },
  idleTimeout: { default: 0, min: 0, max: MAX_TIMEOUT },
  handshakeTimeout: { default: 10_000, min: 1, max: MAX_TIMEOUT },
  maxHeaderSize: { default: 16 * 1024, min: 1024, max: MAX_BYTES },
  maxHeaderCount: { default: 100, min: 8, max: 100_000 },
};

type NumericDeflateOption = {
  [K in keyof ResolvedDeflateOptions]: ResolvedDeflateOptions[K] extends number ? K : never;
}[keyof ResolvedDeflateOptions];

/** The same for permessage-deflate's numeric settings. */
export const DEFLATE_BOUNDS: Readonly<Record<NumericDeflateOption, Bound>> = {
  serverMaxWindowBits: { default: 15, min: 8, max: 15 },
  clientMaxWindowBits: { default: 15, min: 8, max: 15 },
  threshold: { default: 1024, min: 0, max: MAX_BYTES },
  level: { default: 6, min: 0, max: 9 },
  memLevel: { default: 8, min: 1, max: 9 },
  concurrency: { default: 10, min: 1, max: 1024 },
  maxContextMemory: { default: 64 * 1024 * 1024, min: 0, max: Number.MAX_SAFE_INTEGER },
};

function defaultsOf<K extends string>(bounds: Readonly<Record<K, Bound>>): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const key of Object.keys(bounds) as K[]) out[key] = bounds[key].default;
  return out;
}

export const DEFLATE_DEFAULTS: ResolvedDeflateOptions = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  ...defaultsOf(DEFLATE_BOUNDS),
};

export const DEFAULTS: ResolvedOptions = {
  perMessageDeflate: null,
  sendOverflow: 'close',
  ...defaultsOf(OPTION_BOUNDS),
};

function invalid(name: string, expected: string, value: unknown): WebSocketError {
  return new WebSocketError(
    'WS_ERR_INVALID_ARGUMENT',
    `option ${name} must be ${expected}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
  );
}

function integerOption(name: string, value: unknown, bound: Bound): number {
  if (value === undefined) return bound.default;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < bound.min || value > bound.max) {
    throw invalid(name, `an integer from ${bound.min} to ${bound.max}`, value);
  }
  return value;
}

function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid(name, 'true or false', value);
  return value;
}

/**
 * Checks every connection option against its bound; throws WS_ERR_INVALID_ARGUMENT.
 * `deflateDefault`: what an absent perMessageDeflate means (a client offers it by default).
 * Each option is read by name (no loop over the table): this runs for every connect().
 */
export function resolveOptions(
  options: ConnectionOptions = {},
  deflateDefault: boolean | DeflateOptions = false,
): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  const sendOverflow = options.sendOverflow === undefined ? DEFAULTS.sendOverflow : options.sendOverflow;
  if (sendOverflow !== 'close' && sendOverflow !== 'reject') {
    throw invalid('sendOverflow', "'close' or 'reject'", sendOverflow);
  }
  const B = OPTION_BOUNDS;
  return {
    maxPayload: integerOption('maxPayload', options.maxPayload, B.maxPayload),
    maxFragments: integerOption('maxFragments', options.maxFragments, B.maxFragments),
    closeTimeout: integerOption('closeTimeout', options.closeTimeout, B.closeTimeout),
    maxBufferedAmount: integerOption('maxBufferedAmount', options.maxBufferedAmount, B.maxBufferedAmount),
    receiveHighWaterMark: integerOption('receiveHighWaterMark', options.receiveHighWaterMark, B.receiveHighWaterMark),
    pingInterval: integerOption('pingInterval', options.pingInterval, B.pingInterval),
    pingTimeout: integerOption('pingTimeout', options.pingTimeout, B.pingTimeout),
    idleTimeout: integerOption('idleTimeout', options.idleTimeout, B.idleTimeout),
    handshakeTimeout: integerOption('handshakeTimeout', options.handshakeTimeout, B.handshakeTimeout),
    maxHeaderSize: integerOption('maxHeaderSize', options.maxHeaderSize, B.maxHeaderSize),
    maxHeaderCount: integerOption('maxHeaderCount', options.maxHeaderCount, B.maxHeaderCount),
    sendOverflow,
    perMessageDeflate: resolveDeflateOptions(options.perMessageDeflate === undefined ? deflateDefault : options.perMessageDeflate),
  };
}

export function resolveServerOptions(options: ServerOptions = {}): ResolvedOptions {
  const resolved = resolveOptions(options);
  for (const hook of ['handler', 'selectProtocol', 'allowRequest', 'onError', 'onRefused', 'onHttpRequest', 'onRateLimit'] as const) {
    if (options[hook] !== undefined && typeof options[hook] !== 'function') {
      throw invalid(hook, 'a function', options[hook]);
    }
  }
  return resolved;
}

export function resolveDeflateOptions(option: boolean | DeflateOptions | undefined): ResolvedDeflateOptions | null {
  if (option === undefined || option === false) return null;
  if (option === true) return DEFLATE_DEFAULTS;
  if (typeof option !== 'object' || option === null) throw invalid('perMessageDeflate', 'a boolean or an object', option);
  const name = (key: string): string => `perMessageDeflate.${key}`;
  const numbers = {} as Record<NumericDeflateOption, number>;
  for (const key of Object.keys(DEFLATE_BOUNDS) as NumericDeflateOption[]) {
    numbers[key] = integerOption(name(key), option[key], DEFLATE_BOUNDS[key]);
  }
  return {
    serverNoContextTakeover: booleanOption(
      name('serverNoContextTakeover'),
      option.serverNoContextTakeover,
      DEFLATE_DEFAULTS.serverNoContextTakeover,
    ),
    clientNoContextTakeover: booleanOption(
      name('clientNoContextTakeover'),
      option.clientNoContextTakeover,
      DEFLATE_DEFAULTS.clientNoContextTakeover,
    ),
    ...numbers,
  };
}
