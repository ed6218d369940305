/**
 * The reconnect policy as pure functions (src/node/reconnect/policy.ts): the full-jitter backoff
 * tested as a distribution of draws from a seeded random source, Retry-After, the told delays of
 * 1012/1013, the do-not-come-back set, maxAttempts, and the options' bounds.
 */

import { describe, expect, it } from 'vitest';
import { ConnectError, ReconnectingClient, reconnect, shouldReconnectByDefault } from '../../../src/index.js';
import { RECONNECT_DEFAULTS, resolveClient, resolveReconnect } from '../../../src/node/reconnect/options.js';
import {
  backoffCap,
  backoffDelay,
  decide,
  parseRetryAfter,
  retryDelay,
  type DisconnectInfo,
  type Policy,
} from '../../../src/node/reconnect/policy.js';
import { seeded } from '../helpers.js';

const POLICY: Policy = { minDelay: 1000, maxDelay: 30_000, factor: 2, maxAttempts: Infinity, shouldReconnect: shouldReconnectByDefault };
const closed = (code: number): DisconnectInfo => ({ kind: 'closed', code, reason: '', wasClean: true });
const refused = (status: number, headers: Record<string, string> = {}): DisconnectInfo => ({
  kind: 'refused',
  status,
  headers,
  error: new ConnectError('WS_ERR_UNEXPECTED_RESPONSE', `answered ${status}`, { status, headers }),
});
const failed: DisconnectInfo = { kind: 'failed', error: new Error('ECONNREFUSED') };

describe('backoff: exponential with full jitter', () => {
  it('the cap of the n-th retry is min(maxDelay, minDelay * factor^n), and stays at maxDelay', () => {
    const caps = [0, 1, 2, 3, 4, 5, 6, 100, 5000].map((n) => backoffCap(n, POLICY));
    expect(caps).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000]);
    expect(backoffCap(3, { minDelay: 100, maxDelay: 10_000, factor: 1.5 })).toBeCloseTo(337.5, 9);
  });

  it('full jitter on every attempt: 20000 draws per step fill [0, cap] uniformly (mean, deciles, chi-square, KS)', () => {
    const random = seeded(0x5eed);
    const draws = 20_000;
    for (const n of [0, 1, 4, 9]) {
      const cap = backoffCap(n, POLICY);
      const deciles = new Array<number>(10).fill(0);
      const values: number[] = [];
      let sum = 0;
      let lowest = Infinity;
      let highest = -Infinity;
      for (let i = 0; i < draws; i++) {
        const delay = backoffDelay(n, POLICY, random);
        lowest = Math.min(lowest, delay);
        highest = Math.max(highest, delay);
        sum += delay;
        values.push(delay / cap);
        deciles[Math.min(9, Math.floor((delay / cap) * 10))]!++;
      }
      expect(lowest).toBeGreaterThanOrEqual(0);
      expect(highest).toBeLessThanOrEqual(cap);
      // The draws reach both ends of the range.
      expect(lowest).toBeLessThan(cap * 0.001);
      expect(highest).toBeGreaterThan(cap * 0.999);
      // Mean of U(0, cap) is cap/2 with standard error cap/sqrt(12 * draws) (about 0.2% of cap).
      expect(Math.abs(sum / draws - cap / 2)).toBeLessThan(cap * 0.01);
      // Every decile holds about a tenth of the draws: chi-square with 9 degrees of freedom stays
      // under 27.88 (p = 0.001) for a uniform source.
      const expected = draws / 10;
      const chi2 = deciles.reduce((total, count) => total + (count - expected) ** 2 / expected, 0);
      expect(chi2).toBeLessThan(27.88);
      // Kolmogorov-Smirnov against U(0, 1): D < 1.95 / sqrt(draws) (p = 0.001).
      values.sort((a, b) => a - b);
      let d = 0;
      values.forEach((value, i) => {
        d = Math.max(d, (i + 1) / draws - value, value - i / draws);
      });
      expect(d).toBeLessThan(1.95 / Math.sqrt(draws));
    }
  });

  it('a source that always returns the same value would fail the distribution test (the test can fail)', () => {
    const deciles = new Array<number>(10).fill(0);
    for (let i = 0; i < 1000; i++) deciles[Math.floor((backoffDelay(2, POLICY, () => 0.5) / 4000) * 10)]!++;
    const chi2 = deciles.reduce((total, count) => total + (count - 100) ** 2 / 100, 0);
    expect(chi2).toBeGreaterThan(27.88);
  });

  it('the retry index is the number of failures in a row minus one: a first failure waits up to minDelay', () => {
    expect(retryDelay(failed, 1, POLICY, () => 1, 0)).toBe(1000);
    expect(retryDelay(failed, 2, POLICY, () => 1, 0)).toBe(2000);
    expect(retryDelay(failed, 4, POLICY, () => 1, 0)).toBe(8000);
    // An open connection that closed: failures 0, the same first step.
    expect(retryDelay(closed(1006), 0, POLICY, () => 1, 0)).toBe(1000);
  });
});

describe('told delays', () => {
  it('parseRetryAfter: delay-seconds, an HTTP-date, a date in the past, garbage (RFC 9110 10.2.3)', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter(['7', '9'], now)).toBe(7000);
  });

  it('503 and 429 with Retry-After wait the time told plus up to minDelay of jitter', () => {
    for (const status of [503, 429]) {
      const info = refused(status, { 'retry-after': '7' });
      expect(retryDelay(info, 1, POLICY, () => 0, 0)).toBe(7000);
      expect(retryDelay(info, 1, POLICY, () => 0.5, 0)).toBe(7500);
    }
  });

  it('Retry-After is bounded by maxDelay (maxDelay is the longest any wait can be)', () => {
    expect(retryDelay(refused(503, { 'retry-after': '3600' }), 1, POLICY, () => 0.3, 0)).toBe(30_000);
  });

  it('a 503 without Retry-After, or another status with one, backs off as usual', () => {
    expect(retryDelay(refused(503), 3, POLICY, () => 1, 0)).toBe(4000);
    expect(retryDelay(refused(500, { 'retry-after': '7' }), 1, POLICY, () => 1, 0)).toBe(1000);
  });

  it('a close with 1012 or 1013 waits a uniform draw from 5-30 s (IANA registry note on 1012)', () => {
    for (const code of [1012, 1013]) {
      expect(retryDelay(closed(code), 0, POLICY, () => 0, 0)).toBe(5000);
      expect(retryDelay(closed(code), 0, POLICY, () => 0.999999, 0)).toBeCloseTo(30_000, -1);
      // ...bounded by maxDelay too, the window scaled down rather than cut: still jittered.
      const small = { ...POLICY, maxDelay: 6000 };
      expect(retryDelay(closed(code), 0, small, () => 0, 0)).toBe(1000);
      expect(retryDelay(closed(code), 0, small, () => 0.5, 0)).toBe(3500);
      expect(retryDelay(closed(code), 0, small, () => 0.999999, 0)).toBeCloseTo(6000, -1);
    }
  });

  it('a 1012 under a small maxDelay spreads the clients: no draw collapses onto maxDelay', () => {
    const small = { ...POLICY, maxDelay: 8000 };
    const delays = Array.from({ length: 1000 }, (_, i) => retryDelay(closed(1012), 0, small, () => i / 1000, 0));
    expect(delays.filter((delay) => delay === 8000)).toHaveLength(0);
    expect(Math.min(...delays)).toBeCloseTo(8000 / 6, 5);
    expect(new Set(delays.map((delay) => Math.floor(delay / 1000))).size).toBe(7);
  });
});

describe('when to stop', () => {
  it('by default, close codes 4000-4999 and statuses 401 and 403 mean do not come back', () => {
    expect([3999, 4000, 4999, 5000, 1000, 1006, 1011].map((code) => shouldReconnectByDefault(closed(code)))).toEqual([
      true,
      false,
      false,
      true,
      true,
      true,
      true,
    ]);
    expect([400, 401, 403, 404, 429, 500, 503].map((status) => shouldReconnectByDefault(refused(status)))).toEqual([
      true,
      false,
      false,
      true,
      true,
      true,
      true,
    ]);
    expect(shouldReconnectByDefault(failed)).toBe(true);
  });

  it('decide() stops when shouldReconnect says no, and says why', () => {
    const decision = decide(closed(4001), 0, POLICY, () => 0, 0);
    expect(decision).toEqual({ stop: 'shouldReconnect() refused: the connection closed with 4001' });
    const keepGoing = decide(closed(4001), 0, { ...POLICY, shouldReconnect: () => true }, () => 1, 0);
    expect(keepGoing).toEqual({ retryIn: 1000 });
  });

  it('decide() stops after maxAttempts failures in a row', () => {
    const policy = { ...POLICY, maxAttempts: 3 };
    expect(decide(failed, 2, policy, () => 1, 0)).toEqual({ retryIn: 2000 });
    expect(decide(failed, 3, policy, () => 1, 0)).toEqual({ stop: '3 attempts in a row failed (maxAttempts), the last: ECONNREFUSED' });
  });
});

describe('options', () => {
  it('defaults: minDelay 1000, maxDelay 30000, factor 2, maxAttempts Infinity, 1000 messages, 1 MiB, reject', () => {
    const resolved = resolveClient('ws://example.com/');
    expect({
      minDelay: resolved.minDelay,
      maxDelay: resolved.maxDelay,
      factor: resolved.factor,
      maxAttempts: resolved.maxAttempts,
      maxQueuedMessages: resolved.maxQueuedMessages,
      maxQueuedBytes: resolved.maxQueuedBytes,
      queuePolicy: resolved.queuePolicy,
    }).toEqual({ ...RECONNECT_DEFAULTS });
    expect(resolved.shouldReconnect).toBe(shouldReconnectByDefault);
    expect(resolved.random).toBe(Math.random);
  });

  it.each([
    ['minDelay', { minDelay: -1 }],
    ['minDelay', { minDelay: 2 ** 31 }],
    ['maxDelay', { minDelay: 5000, maxDelay: 4000 }],
    ['factor', { factor: 0.5 }],
    ['factor', { factor: Number.NaN }],
    ['maxAttempts', { maxAttempts: 0 }],
    ['maxAttempts', { maxAttempts: 1.5 }],
    ['shouldReconnect', { shouldReconnect: true }],
    ['random', { random: 0.5 }],
    ['maxQueuedMessages', { maxQueuedMessages: -1 }],
    ['maxQueuedBytes', { maxQueuedBytes: 1.5 }],
    ['queuePolicy', { queuePolicy: 'drop-newest' }],
    ['handshakeTimeout', { handshakeTimeout: 0 }],
  ])('%s out of bounds throws WS_ERR_INVALID_ARGUMENT at once (%j)', (name, options) => {
    let thrown: unknown;
    try {
      new ReconnectingClient('ws://example.com/', options as never);
    } catch (error) {
      thrown = error;
    }
    expect((thrown as { code?: string }).code).toBe('WS_ERR_INVALID_ARGUMENT');
    expect((thrown as Error).message).toContain(name);
  });

  it('a URL that is not a WebSocket URL throws its ConnectError at once', () => {
    expect(() => reconnect('ftp://example.com/')).toThrow(expect.objectContaining({ code: 'WS_ERR_INVALID_URL' }));
    expect(() => resolveReconnect('not a url')).toThrow(expect.objectContaining({ code: 'WS_ERR_INVALID_URL' }));
  });
});
