/**
 * The hub's options: defaults, bounds, and checks that name the option a bad value was given for.
 */

import { WebSocketError } from '../protocol/errors.js';
import type { BinaryData } from '../node/send-arguments.js';
import type { Broker, BrokerMessage, HistoryOptions } from './broker.js';
import type { OverflowPolicy, TopicOptions } from './types.js';

/** The options of `new Hub(options)`; every one has a default, and a bad value throws WS_ERR_INVALID_ARGUMENT. */
export interface HubOptions {
  /**
   * Most bytes of frames the hub holds for one connection that is behind (issue 11: bounded).
   * @defaultValue 1 MiB
   */
  readonly maxQueuedBytes?: number;
  /**
   * The hub writes straight to a connection while its bufferedAmount is below this; above it, it
   * queues.
   * @defaultValue 64 KiB
   */
  readonly lowWatermark?: number;
  /**
   * Messages smaller than this are sent uncompressed (as the server's perMessageDeflate.threshold).
   * @defaultValue 1024
   */
  readonly deflateThreshold?: number;
  /**
   * zlib level for broadcasts, 0-9.
   * @defaultValue 6
   */
  readonly deflateLevel?: number;
  /**
   * zlib memLevel for broadcasts, 1-9.
   * @defaultValue 8
   */
  readonly deflateMemLevel?: number;
  /**
   * Defaults for every topic.
   * @defaultValue `{ policy: 'close', noContextTakeover: false }`
   */
  readonly topic?: TopicOptions;
  /**
   * The policy of send().
   * @defaultValue 'close'
   */
  readonly sendPolicy?: OverflowPolicy;
  /**
   * How much of each topic's stream append() keeps: the most messages, and milliseconds after the
   * last append after which it is forgotten (0: never). Per call: AppendOptions.history.
   * @defaultValue `{ size: 100, ttl: 0 }`
   */
  readonly history?: Partial<HistoryOptions>;
  /**
   * Makes the bytes each subscriber gets from a stream message (append()), once per message and
   * hub, when they depend on its position: e.g. a JSON envelope whose id is `<epoch>-<offset>`,
   * which only the broker knows once it has appended the message. Stored and carried between hubs
   * is what append() was given; recover() renders the missed messages the same way.
   * @defaultValue the message as appended
   */
  readonly renderStream?: (message: BrokerMessage) => string | BinaryData;
  /**
   * Carries publishes to other hubs.
   * @defaultValue an InProcessBroker of its own
   */
  readonly broker?: Broker;
  /**
   * Receives errors thrown by event listeners.
   * @defaultValue console.error
   */
  readonly onError?: (error: unknown) => void;
}

export interface ResolvedTopicOptions {
  readonly policy: OverflowPolicy;
  readonly noContextTakeover: boolean;
}

export interface ResolvedHubOptions {
  readonly maxQueuedBytes: number;
  readonly lowWatermark: number;
  readonly deflateThreshold: number;
  readonly deflateLevel: number;
  readonly deflateMemLevel: number;
  readonly topic: ResolvedTopicOptions;
  readonly sendPolicy: OverflowPolicy;
  readonly history: HistoryOptions;
  readonly renderStream: ((message: BrokerMessage) => string | BinaryData) | undefined;
  readonly onError: (error: unknown) => void;
}

export const HUB_DEFAULTS: ResolvedHubOptions = {
  maxQueuedBytes: 1024 * 1024,
  lowWatermark: 64 * 1024,
  deflateThreshold: 1024,
  deflateLevel: 6,
  deflateMemLevel: 8,
  topic: { policy: 'close', noContextTakeover: false },
  sendPolicy: 'close',
  history: { size: 100, ttl: 0 },
  renderStream: undefined,
  onError: (error) => console.error(error),
};

const POLICIES: readonly OverflowPolicy[] = ['close', 'drop-new', 'drop-oldest', 'conflate'];

function invalid(name: string, expected: string, value: unknown): WebSocketError {
  return new WebSocketError('WS_ERR_INVALID_ARGUMENT', `${name} must be ${expected}, got ${String(value)}`);
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid(name, 'a boolean', value);
  return value;
}

function policy(name: string, value: unknown, fallback: OverflowPolicy): OverflowPolicy {
  if (value === undefined) return fallback;
  if (!POLICIES.includes(value as OverflowPolicy)) throw invalid(name, `one of ${POLICIES.join(', ')}`, value);
  return value as OverflowPolicy;
}

export function resolveTopicOptions(
  name: string,
  options: TopicOptions | undefined,
  defaults: ResolvedTopicOptions,
): ResolvedTopicOptions {
  if (options === undefined) return defaults;
  if (typeof options !== 'object' || options === null) throw invalid(name, 'an object', options);
  return {
    policy: policy(`${name}.policy`, options.policy, defaults.policy),
    noContextTakeover: boolean(`${name}.noContextTakeover`, options.noContextTakeover, defaults.noContextTakeover),
  };
}

export function resolveHubOptions(options: HubOptions = {}): ResolvedHubOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  const d = HUB_DEFAULTS;
  const onError = options.onError ?? d.onError;
  if (typeof onError !== 'function') throw invalid('onError', 'a function', onError);
  return {
    maxQueuedBytes: integer('maxQueuedBytes', options.maxQueuedBytes, d.maxQueuedBytes, 0, Number.MAX_SAFE_INTEGER),
    lowWatermark: integer('lowWatermark', options.lowWatermark, d.lowWatermark, 1, Number.MAX_SAFE_INTEGER),
    deflateThreshold: integer('deflateThreshold', options.deflateThreshold, d.deflateThreshold, 0, Number.MAX_SAFE_INTEGER),
    deflateLevel: integer('deflateLevel', options.deflateLevel, d.deflateLevel, 0, 9),
    deflateMemLevel: integer('deflateMemLevel', options.deflateMemLevel, d.deflateMemLevel, 1, 9),
    topic: resolveTopicOptions('topic', options.topic, d.topic),
    sendPolicy: policy('sendPolicy', options.sendPolicy, d.sendPolicy),
    history: resolveHistory('history', options.history, d.history),
    renderStream: optionalFunction('renderStream', options.renderStream),
    onError,
  };
}

function optionalFunction<T>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== 'function') throw invalid(name, 'a function', value);
  return value;
}

/** History options over `defaults`, checked. */
export function resolveHistory(name: string, value: Partial<HistoryOptions> | undefined, defaults: HistoryOptions): HistoryOptions {
  if (value === undefined) return defaults;
  if (typeof value !== 'object' || value === null) throw invalid(name, 'an object', value);
  return {
    size: integer(`${name}.size`, value.size, defaults.size, 0, 1_000_000),
    ttl: integer(`${name}.ttl`, value.ttl, defaults.ttl, 0, 2 ** 31 - 1),
  };
}
