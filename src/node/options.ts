/**
 * The options of every connection, their defaults and their bounds, in one table (OPTION_BOUNDS):
 * resolution, the README test and the bounds test all read it (users read the defaults in each
 * option's doc comment and the README).
 */

import { WebSocketError } from '../protocol/errors.js';
import { DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_PAYLOAD } from '../protocol/parser.js';

/**
 * The options of every connection, either role: limits, timeouts, keepalive, permessage-deflate.
 * ServerOptions and ClientOptions extend it.
 */
export interface WsOptions {
  /**
   * Largest message accepted, all its fragments together, in bytes; a larger one fails the
   * connection with 1009 before it is buffered.
   * @defaultValue 64 MiB
   */
  maxPayload?: number;
  /**
   * Most frames one message may be split into; more fails the connection with 1008.
   * @defaultValue 131072
   */
  maxFragments?: number;
  /**
   * Milliseconds to wait for the peer's side of the closing handshake (its close frame, then the
   * end of TCP), and for the application to read the messages that came before a close or a
   * protocol error, before the socket is destroyed.
   * @defaultValue 5000
   */
  closeTimeout?: number;
  /**
   * Outbound limit: when `bufferedAmount` (bytes accepted by send() that the kernel has not taken)
   * reaches this, the next send() overflows and `sendOverflow` decides.
   * @defaultValue 16 MiB
   */
  maxBufferedAmount?: number;
  /**
   * What an overflowing send() does: 'close' rejects it and closes the connection with 1008 "too
   * slow"; 'reject' rejects it with WS_ERR_BUFFER_FULL and keeps the connection.
   * @defaultValue 'close'
   */
  sendOverflow?: 'close' | 'reject';
  /**
   * Inbound limit: once this many bytes of messages wait for the application (nobody calls recv()),
   * reading from the socket pauses, so TCP pushes back on the peer; it resumes below half.
   * @defaultValue 1 MiB
   */
  receiveHighWaterMark?: number;
  /**
   * Keepalive: a connection that has received nothing for this many milliseconds is pinged. 0
   * disables pings.
   * @defaultValue 30000
   */
  pingInterval?: number;
  /**
   * A pinged connection that has received nothing (no pong, no data) for this many milliseconds is
   * terminated: its close code is 1006, its reason says it timed out.
   * @defaultValue 20000
   */
  pingTimeout?: number;
  /**
   * Closes (1001 "idle timeout") a connection that has received no message for this many
   * milliseconds; 0 never.
   * @defaultValue 0
   */
  idleTimeout?: number;
  /**
   * Milliseconds for the opening handshake. Server: from TCP accept to the 101 on servers the
   * library guards (`listen()`, `attach()`, `guard()`), 408 after it. Client: from the start of
   * connect() to the 101, DNS, TCP, TLS and proxy included.
   * @defaultValue 10000
   */
  handshakeTimeout?: number;
  /**
   * Largest handshake head (names and values of all headers), in bytes: 431 on a server. On
   * `listen()`'s server, the whole request head (request line and line ends included), refused
   * as soon as the byte past it arrives.
   * @defaultValue 16 KiB
   */
  maxHeaderSize?: number;
  /**
   * Most header lines in a handshake head: 431 on a server.
   * @defaultValue 100
   */
  maxHeaderCount?: number;
  /**
   * permessage-deflate: `true` or settings to offer (client) or accept (server) it; false to
   * decline. What was agreed is `ws.deflateAgreement`.
   * @defaultValue false for a server, true for a client
   */
  perMessageDeflate?: boolean | DeflateOptions;
}

/** permessage-deflate (RFC 7692) settings; `true` takes every default. */
export interface DeflateOptions {
  /**
   * The server resets its compressor after each message (RFC 7692 7.1.1.1).
   * @defaultValue false
   */
  serverNoContextTakeover?: boolean;
  /**
   * The client resets its compressor after each message (7.1.1.2).
   * @defaultValue false
   */
  clientNoContextTakeover?: boolean;
  /**
   * The server's LZ77 window, 8-15 (7.1.2.1).
   * @defaultValue 15
   */
  serverMaxWindowBits?: number;
  /**
   * The client's LZ77 window, 8-15 (7.1.2.2).
   * @defaultValue 15
   */
  clientMaxWindowBits?: number;
  /**
   * Messages smaller than this many bytes are sent uncompressed.
   * @defaultValue 1024
   */
  threshold?: number;
  /**
   * zlib compression level, 0-9.
   * @defaultValue 6 (zlib's default, as in `ws`)
   */
  level?: number;
  /**
   * zlib memLevel, 1-9.
   * @defaultValue 8
   */
  memLevel?: number;
  /**
   * zlib operations running at once, all connections that share these settings together.
   * @defaultValue 10
   */
  concurrency?: number;
  /**
   * Memory the per-connection contexts may hold together. A connection with context takeover keeps
   * about 300 KiB (window 15, memLevel 8) for its whole life; once this is spent, new server
   * connections negotiate no context takeover and borrow pooled contexts per message.
   * @defaultValue 64 MiB
   */
  maxContextMemory?: number;
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
  maxPayload: { default: DEFAULT_MAX_PAYLOAD, min: 0, max: MAX_BYTES },
  maxFragments: { default: DEFAULT_MAX_FRAGMENTS, min: 1, max: 2 ** 32 },
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

/** WS_ERR_INVALID_ARGUMENT for an option out of its bounds: `option <name> must be <expected>, got <value>`. */
export function invalidOption(name: string, expected: string, value: unknown): WebSocketError {
  return new WebSocketError(
    'WS_ERR_INVALID_ARGUMENT',
    `option ${name} must be ${expected}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
  );
}

function integerOption(name: string, value: unknown, bound: Bound): number {
  if (value === undefined) return bound.default;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < bound.min || value > bound.max) {
    throw invalidOption(name, `an integer from ${bound.min} to ${bound.max}`, value);
  }
  return value;
}

function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(name, 'true or false', value);
  return value;
}

/**
 * Checks every connection option against its bound; throws WS_ERR_INVALID_ARGUMENT.
 * `deflateDefault`: what an absent perMessageDeflate means (a client offers it by default).
 * Each option is read by name (no loop over the table): this runs for every connect().
 */
export function resolveOptions(
  options: WsOptions = {},
  deflateDefault: boolean | DeflateOptions = false,
): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object', options);
  const sendOverflow = options.sendOverflow === undefined ? DEFAULTS.sendOverflow : options.sendOverflow;
  if (sendOverflow !== 'close' && sendOverflow !== 'reject') {
    throw invalidOption('sendOverflow', "'close' or 'reject'", sendOverflow);
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

export function resolveDeflateOptions(option: boolean | DeflateOptions | undefined): ResolvedDeflateOptions | null {
  if (option === undefined || option === false) return null;
  if (option === true) return DEFLATE_DEFAULTS;
  if (typeof option !== 'object' || option === null) throw invalidOption('perMessageDeflate', 'a boolean or an object', option);
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
