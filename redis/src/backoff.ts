/**
 * Reconnection delays: exponential from `initialDelay`, never above `maxDelay`, each one drawn
 * between half and all of its step ("equal jitter"), so that the nodes of a deployment that lost
 * Redis at the same moment do not all come back at the same moment.
 */

import { WebSocketError } from 'rfc6455';

export interface ReconnectOptions {
  /** Milliseconds before the first attempt after a failure (before jitter). Default 50, 1 to 60,000. */
  readonly initialDelay?: number;
  /** The most milliseconds between two attempts. Default 2,000, initialDelay to 300,000. */
  readonly maxDelay?: number;
}

export interface Backoff {
  readonly initialDelay: number;
  readonly maxDelay: number;
}

export function resolveBackoff(options: ReconnectOptions | undefined): Backoff {
  const initialDelay = bounded('reconnect.initialDelay', options?.initialDelay ?? 50, 1, 60_000);
  const maxDelay = bounded('reconnect.maxDelay', options?.maxDelay ?? 2_000, initialDelay, 300_000);
  return { initialDelay, maxDelay };
}

/** The delay before attempt `attempt` (0: the first after a failure). */
export function reconnectDelay(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const step = Math.min(backoff.maxDelay, backoff.initialDelay * 2 ** Math.min(attempt, 30));
  return Math.round(step / 2 + (random() * step) / 2);
}

export function bounded(name: string, value: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}
