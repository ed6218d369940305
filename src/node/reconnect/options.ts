/** The options of reconnect() and ReconnectingClient, their defaults and bounds. */

import type { ClientOptions } from '../client/options.js';
import { resolveClientOptions } from '../client/options.js';
import { invalidOption } from '../options.js';
import { parseTarget } from '../client/url.js';
import type { Ws } from '../ws.js';
import { shouldReconnectByDefault, type DisconnectInfo, type Policy } from './policy.js';

/** Timers and the clock the reconnect loop uses (injected by tests). */
export interface Scheduler {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Milliseconds since the epoch (for Retry-After dates). */
  now(): number;
}

/**
 * The options of reconnect(): the backoff and when to stop, over connect()'s options, which each
 * attempt gets (aborting `signal` stops for good and closes the open connection). A bad value
 * throws WS_ERR_INVALID_ARGUMENT when reconnect() is called.
 */
export interface ReconnectOptions extends ClientOptions {
  /**
   * The first retry's largest wait, in ms.
   * @defaultValue 1000
   */
  minDelay?: number;
  /**
   * The longest wait between attempts, in ms, whatever the server says.
   * @defaultValue 30000
   */
  maxDelay?: number;
  /**
   * How much the largest wait grows with each failure in a row.
   * @defaultValue 2
   */
  factor?: number;
  /**
   * Attempts in a row that may fail before giving up (WS_ERR_GAVE_UP).
   * @defaultValue Infinity
   */
  maxAttempts?: number;
  /**
   * Whether to come back after this.
   * @defaultValue not after close codes 4000-4999, nor after 401 or 403
   */
  shouldReconnect?: (info: DisconnectInfo) => boolean;
  /** Told of every disconnect and failed attempt, with the wait before the next (undefined: giving up). */
  onDisconnect?: (info: DisconnectInfo, retryIn: number | undefined) => void;
  /**
   * The random source of the jitter: uniform in [0, 1).
   * @defaultValue Math.random
   */
  random?: () => number;
  /** @internal Timers and clock (tests); the global ones by default. */
  scheduler?: Scheduler;
}

/**
 * What a ReconnectingClient's full send queue does with a new send: 'reject' it (WS_ERR_DROPPED),
 * or drop the oldest queued messages (each rejects with WS_ERR_DROPPED) until it fits.
 */
export type QueuePolicy = 'reject' | 'drop-oldest';

/** The options of `new ReconnectingClient(url, options)`: reconnect()'s, and the send queue's. */
export interface ReconnectingClientOptions extends ReconnectOptions {
  /**
   * Called with each new connection before anything queued is sent (resubscribe, authenticate);
   * may be async. What it sends goes first. If it throws, that connection is closed with 1011 and
   * counts as a failed attempt.
   */
  onConnect?: (ws: Ws) => void | Promise<void>;
  /**
   * Most messages held while disconnected.
   * @defaultValue 1000
   */
  maxQueuedMessages?: number;
  /**
   * Most bytes held while disconnected.
   * @defaultValue 1 MiB
   */
  maxQueuedBytes?: number;
  /**
   * When the send queue is full: 'reject' the new send, or 'drop-oldest'.
   * @defaultValue 'reject'
   */
  queuePolicy?: QueuePolicy;
}

export const RECONNECT_DEFAULTS = {
  minDelay: 1000,
  maxDelay: 30_000,
  factor: 2,
  maxAttempts: Infinity,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 1024 * 1024,
  queuePolicy: 'reject',
} as const;

const MAX_TIMER = 2 ** 31 - 1;

export interface ResolvedReconnect extends Policy {
  readonly url: string;
  readonly connectOptions: ClientOptions;
  readonly onDisconnect: ReconnectOptions['onDisconnect'];
  readonly random: () => number;
  readonly scheduler: Scheduler;
  readonly signal: AbortSignal | undefined;
}

export interface ResolvedClient extends ResolvedReconnect {
  readonly onConnect: ReconnectingClientOptions['onConnect'];
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
  readonly queuePolicy: QueuePolicy;
}

const globalScheduler: Scheduler = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: () => Date.now(),
};

function number(name: string, value: number | undefined, fallback: number, min: number, max: number, integer: boolean): number {
  const x = value ?? fallback;
  const ok = typeof x === 'number' && x >= min && x <= max && (integer ? Number.isInteger(x) || x === Infinity : Number.isFinite(x));
  if (!ok) throw invalidOption(name, `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`, x);
  return x;
}

function fn<T>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== 'function') throw invalidOption(name, 'a function', value);
  return value;
}

/** Checks every option (throws WS_ERR_INVALID_ARGUMENT, or the URL's ConnectError) once, up front. */
export function resolveReconnect(url: string | URL, options: ReconnectOptions = {}): ResolvedReconnect {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object', options);
  const { minDelay, maxDelay, factor, maxAttempts, shouldReconnect, onDisconnect, random, scheduler, ...connectOptions } = options;
  // A bad URL or connect() option would fail every attempt the same way: say so now.
  parseTarget(url);
  resolveClientOptions(connectOptions);
  const min = number('minDelay', minDelay, RECONNECT_DEFAULTS.minDelay, 0, MAX_TIMER, false);
  return {
    url: typeof url === 'string' ? url : url.href,
    connectOptions,
    minDelay: min,
    maxDelay: number('maxDelay', maxDelay, Math.max(min, RECONNECT_DEFAULTS.maxDelay), min, MAX_TIMER, false),
    factor: number('factor', factor, RECONNECT_DEFAULTS.factor, 1, 1000, false),
    maxAttempts: number('maxAttempts', maxAttempts, RECONNECT_DEFAULTS.maxAttempts, 1, Infinity, true),
    shouldReconnect: fn('shouldReconnect', shouldReconnect) ?? shouldReconnectByDefault,
    onDisconnect: fn('onDisconnect', onDisconnect),
    random: fn('random', random) ?? Math.random,
    scheduler: scheduler ?? globalScheduler,
    signal: connectOptions.signal,
  };
}

export function resolveClient(url: string | URL, options: ReconnectingClientOptions = {}): ResolvedClient {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object', options);
  const { onConnect, maxQueuedMessages, maxQueuedBytes, queuePolicy, ...rest } = options;
  const policy = queuePolicy ?? RECONNECT_DEFAULTS.queuePolicy;
  if (policy !== 'reject' && policy !== 'drop-oldest') throw invalidOption('queuePolicy', "'reject' or 'drop-oldest'", policy);
  return {
    ...resolveReconnect(url, rest),
    onConnect: fn('onConnect', onConnect),
    maxQueuedMessages: number('maxQueuedMessages', maxQueuedMessages, RECONNECT_DEFAULTS.maxQueuedMessages, 0, 2 ** 32, true),
    maxQueuedBytes: number('maxQueuedBytes', maxQueuedBytes, RECONNECT_DEFAULTS.maxQueuedBytes, 0, Number.MAX_SAFE_INTEGER, true),
    queuePolicy: policy,
  };
}
