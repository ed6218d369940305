/**
 * Token buckets for the abuse limits (issue 15: they belong to the library, so every server has
 * them): `rate` tokens a second, up to `burst` saved. Times are milliseconds from one monotonic
 * clock (performance.now()), passed in, so a bucket is two numbers and no timer.
 */

import { WebSocketError } from '../protocol/errors.js';

/** A rate: so many per second, with up to `burst` at once (default: one second's worth). */
export interface Rate {
  readonly perSecond: number;
  readonly burst?: number;
}

export interface ResolvedRate {
  /** Tokens per millisecond. */
  readonly perMs: number;
  readonly burst: number;
}

/** `n` or `{ perSecond, burst }`, checked; undefined (the default) is off. */
export function resolveRate(name: string, value: number | Rate | undefined): ResolvedRate | null {
  if (value === undefined) return null;
  const rate = typeof value === 'number' ? { perSecond: value } : value;
  const perSecond = typeof rate === 'object' && rate !== null ? rate.perSecond : undefined;
  if (typeof perSecond !== 'number' || !(perSecond > 0) || !Number.isFinite(perSecond)) {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `option ${name} must be a positive number or { perSecond, burst }, got ${JSON.stringify(value)}`);
  }
  const burst = rate.burst ?? Math.max(1, perSecond);
  if (typeof burst !== 'number' || !(burst >= 1) || !Number.isFinite(burst)) {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `option ${name}.burst must be a number of at least 1, got ${JSON.stringify(burst)}`);
  }
  return { perMs: perSecond / 1000, burst };
}

/** One bucket: full at first. */
export class TokenBucket {
  tokens: number;
  stamp: number;

  constructor(rate: ResolvedRate, now: number) {
    this.tokens = rate.burst;
    this.stamp = now;
  }

  /**
   * Takes `cost` tokens if there are that many (after refilling to `now`). A cost larger than the
   * burst (a message bigger than a second's worth of bytes) passes when the bucket is full and
   * leaves it in debt, which later requests wait out: it is never refused for good.
   */
  take(rate: ResolvedRate, cost: number, now: number): boolean {
    this.refill(rate, now);
    if (this.tokens < Math.min(cost, rate.burst)) return false;
    this.tokens -= cost;
    return true;
  }

  /** Milliseconds until a request of `cost` would pass. */
  waitFor(rate: ResolvedRate, cost: number, now: number): number {
    this.refill(rate, now);
    const needed = Math.min(cost, rate.burst);
    return this.tokens >= needed ? 0 : (needed - this.tokens) / rate.perMs;
  }

  /** Full again (an entry that is full can be forgotten). */
  isFull(rate: ResolvedRate, now: number): boolean {
    this.refill(rate, now);
    return this.tokens >= rate.burst;
  }

  private refill(rate: ResolvedRate, now: number): void {
    const elapsed = now - this.stamp;
    if (elapsed <= 0) return;
    this.stamp = now;
    this.tokens = Math.min(rate.burst, this.tokens + elapsed * rate.perMs);
  }
}
