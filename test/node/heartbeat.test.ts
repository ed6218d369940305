/**
 * The keepalive machinery (src/node/heartbeat.ts) on its own, on vitest's fake clock: no real
 * timer runs, time moves only when the test advances it.
 *
 * - sweepPeriod: a quarter of the shortest active period, at least 5 ms, 0 when nothing is on;
 * - Heartbeat: the interval runs while it has members, and each sweep calls every member with the
 *   time and the period (and advances the coarse clock the connections stamp activity with);
 * - sharedHeartbeat: one for the default timings, one per options object for the others;
 * - keepaliveAction: every branch, at the exact millisecond it changes, and "never early" for
 *   activity stamped with the coarse clock.
 */

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  Heartbeat,
  coarseClock,
  keepaliveAction,
  sharedHeartbeat,
  sweepPeriod,
  type HeartbeatSubject,
  type HeartbeatTimes,
  type KeepaliveStamps,
} from '../../src/node/heartbeat.js';

beforeEach(() => {
  // performance too: the heartbeat reads performance.now().
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'Date', 'performance'],
  });
});

afterEach(() => {
  vi.useRealTimers();
});

const times = (pingInterval: number, pingTimeout: number, idleTimeout: number): HeartbeatTimes => ({ pingInterval, pingTimeout, idleTimeout });

/** A member that records its sweeps. */
class Recorder implements HeartbeatSubject {
  readonly sweeps: [now: number, period: number][] = [];

  heartbeat(now: number, period: number): void {
    this.sweeps.push([now, period]);
  }
}

// ================================================================================================

describe('sweepPeriod', () => {
  it('is 0 when neither pings nor the idle timeout are on (pingTimeout alone does not count)', () => {
    expect(sweepPeriod(times(0, 20_000, 0))).toBe(0);
  });

  it('is a quarter of the shortest of pingInterval, pingTimeout and idleTimeout, rounded down', () => {
    expect(sweepPeriod(times(30_000, 20_000, 0))).toBe(5000);
    expect(sweepPeriod(times(30_000, 40_000, 0))).toBe(7500);
    expect(sweepPeriod(times(30_000, 20_000, 1000))).toBe(250);
    expect(sweepPeriod(times(1001, 2000, 0))).toBe(250);
    expect(sweepPeriod(times(1003, 2000, 0))).toBe(250);
    expect(sweepPeriod(times(1004, 2000, 0))).toBe(251);
  });

  it('counts the idle timeout alone; pingTimeout only with pings on', () => {
    expect(sweepPeriod(times(0, 4, 1000))).toBe(250);
    expect(sweepPeriod(times(0, 0, 400))).toBe(100);
  });

  it('is at least 5 ms', () => {
    expect(sweepPeriod(times(1, 1, 0))).toBe(5);
    expect(sweepPeriod(times(0, 1, 19))).toBe(5);
    expect(sweepPeriod(times(20, 20, 0))).toBe(5);
    expect(sweepPeriod(times(24, 24, 0))).toBe(6);
  });
});

describe('Heartbeat', () => {
  it('runs one interval while it has members, none before the first or after the last', () => {
    const heartbeat = new Heartbeat(times(1000, 1000, 0));
    expect(heartbeat.period).toBe(250);
    expect(vi.getTimerCount()).toBe(0);
    const a = new Recorder();
    const b = new Recorder();
    heartbeat.join(a);
    expect([heartbeat.size, vi.getTimerCount()]).toEqual([1, 1]);
    heartbeat.join(b);
    heartbeat.join(b); // joining twice is joining once
    expect([heartbeat.size, vi.getTimerCount()]).toEqual([2, 1]);
    heartbeat.leave(a);
    expect([heartbeat.size, vi.getTimerCount()]).toEqual([1, 1]);
    heartbeat.leave(b);
    expect([heartbeat.size, vi.getTimerCount()]).toEqual([0, 0]);
    heartbeat.leave(b); // leaving again changes nothing
    expect(vi.getTimerCount()).toBe(0);
    heartbeat.join(a);
    expect(vi.getTimerCount()).toBe(1);
    heartbeat.leave(a);
  });

  it('with nothing to sweep (period 0), never starts a timer and never sweeps', () => {
    const heartbeat = new Heartbeat(times(0, 20_000, 0));
    const a = new Recorder();
    heartbeat.join(a);
    expect([heartbeat.period, heartbeat.size, vi.getTimerCount()]).toEqual([0, 1, 0]);
    vi.advanceTimersByTime(100_000);
    expect(a.sweeps).toEqual([]);
    heartbeat.leave(a);
  });

  it('sweeps every member once per period with the time and the period, and advances the coarse clock', () => {
    const heartbeat = new Heartbeat(times(1000, 1000, 0));
    const a = new Recorder();
    const b = new Recorder();
    const start = performance.now();
    heartbeat.join(a);
    // Joining sets the coarse clock: a new connection's stamps are not one period stale.
    expect(coarseClock.now).toBe(start);
    heartbeat.join(b);
    vi.advanceTimersByTime(249);
    expect(a.sweeps).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(a.sweeps).toEqual([[start + 250, 250]]);
    expect(b.sweeps).toEqual([[start + 250, 250]]);
    expect(coarseClock.now).toBe(start + 250);
    vi.advanceTimersByTime(500);
    expect(a.sweeps.map(([now]) => now - start)).toEqual([250, 500, 750]);
    heartbeat.leave(a);
    vi.advanceTimersByTime(250);
    expect(a.sweeps.length).toBe(3);
    expect(b.sweeps.map(([now]) => now - start)).toEqual([250, 500, 750, 1000]);
    heartbeat.leave(b);
    vi.advanceTimersByTime(1000);
    expect(b.sweeps.length).toBe(4);
  });

  it('a member leaving during a sweep (a connection that closes) does not stop the others', () => {
    const heartbeat = new Heartbeat(times(1000, 1000, 0));
    const b = new Recorder();
    const a: HeartbeatSubject = { heartbeat: () => heartbeat.leave(a) };
    heartbeat.join(a);
    heartbeat.join(b);
    vi.advanceTimersByTime(500);
    expect([heartbeat.size, b.sweeps.length]).toEqual([1, 2]);
    heartbeat.leave(b);
  });
});

describe('sharedHeartbeat', () => {
  it('the default timings: one heartbeat for every client, whatever options object it was made with', () => {
    const defaults = times(30_000, 20_000, 0);
    const a = sharedHeartbeat(defaults, {});
    expect(sharedHeartbeat(defaults, {})).toBe(a);
    expect(sharedHeartbeat(times(30_000, 20_000, 0), { perMessageDeflate: false })).toBe(a);
    expect(a.period).toBe(5000);
  });

  it('other timings: one heartbeat per options object (kept no longer than the object), renewed when its timings change', () => {
    const options = times(11_000, 7000, 0);
    const a = sharedHeartbeat(options, options);
    expect(sharedHeartbeat(options, options)).toBe(a);
    expect(a.period).toBe(1750);
    // Another object, even with the same timings, gets its own: no map of every timing ever used.
    expect(sharedHeartbeat(times(11_000, 7000, 0), {})).not.toBe(a);
    // The same object with other timings: a heartbeat for them, which the next connections share.
    const changed = { ...options, pingInterval: 12_000 };
    const b = sharedHeartbeat(changed, options);
    expect(b).not.toBe(a);
    expect(b.period).toBe(1750);
    expect(b.times).toEqual(changed);
    expect(sharedHeartbeat(changed, options)).toBe(b);
  });
});

describe('keepaliveAction', () => {
  const PERIOD = 250;
  const T = times(1000, 500, 0);
  const stamps = (lastSeen: number, lastMessageAt = lastSeen, pingSentAt = 0): KeepaliveStamps => ({ lastSeen, lastMessageAt, pingSentAt });

  it('a ping is due pingInterval + period after the last activity, not a millisecond before', () => {
    const early = stamps(10_000);
    expect(keepaliveAction(early, 10_000 + 1000 + PERIOD - 1, PERIOD, T)).toBe('none');
    expect(early.pingSentAt).toBe(0);
    const due = stamps(10_000);
    expect(keepaliveAction(due, 10_000 + 1000 + PERIOD, PERIOD, T)).toBe('ping');
    expect(due.pingSentAt).toBe(11_250);
  });

  it('with a ping out and nothing received: none until pingTimeout after it, then terminate', () => {
    const s = stamps(10_000, 10_000, 11_250);
    expect(keepaliveAction(s, 11_250 + 500 - 1, PERIOD, T)).toBe('none');
    expect(s.pingSentAt).toBe(11_250);
    expect(keepaliveAction(s, 11_250 + 500, PERIOD, T)).toBe('terminate');
  });

  it('no second ping while one is outstanding', () => {
    const s = stamps(0, 0, 5000);
    // Far past pingInterval since lastSeen, but a ping is out and not yet timed out.
    expect(keepaliveAction(s, 5100, PERIOD, T)).toBe('none');
    expect(s.pingSentAt).toBe(5000);
  });

  it('a pong (or data) since the ping clears it; the next ping waits for the interval again', () => {
    // Stamped at the ping's sweep: the coarse clock had not moved, and it counts.
    const s = stamps(11_250, 10_000, 11_250);
    expect(keepaliveAction(s, 11_500, PERIOD, T)).toBe('none');
    expect(s.pingSentAt).toBe(0);
    expect(keepaliveAction(s, 11_250 + 1000 + PERIOD - 1, PERIOD, T)).toBe('none');
    expect(keepaliveAction(s, 11_250 + 1000 + PERIOD, PERIOD, T)).toBe('ping');
  });

  it('a peer silent since long before the ping was answered: cleared, and pinged again at once', () => {
    // The answer arrived (lastSeen >= pingSentAt) but is itself older than the interval.
    const s = stamps(2000, 0, 1000);
    expect(keepaliveAction(s, 3250, PERIOD, T)).toBe('ping');
    expect(s.pingSentAt).toBe(3250);
  });

  it('pingInterval 0: never a ping, whatever the silence', () => {
    expect(keepaliveAction(stamps(0), 1e9, PERIOD, times(0, 500, 0))).toBe('none');
  });

  it('idle: idleTimeout + period after the last message, not a millisecond before', () => {
    const I = times(0, 500, 2000);
    expect(keepaliveAction(stamps(0), 2000 + PERIOD - 1, PERIOD, I)).toBe('none');
    expect(keepaliveAction(stamps(0), 2000 + PERIOD, PERIOD, I)).toBe('idle');
  });

  it('pings and pongs do not count as messages: a connection that only answers pings goes idle', () => {
    const I = times(1000, 500, 2000);
    // Its pong arrived a moment ago (lastSeen), its last message long ago.
    const s = stamps(2200, 0, 2000);
    expect(keepaliveAction(s, 2000 + PERIOD, PERIOD, I)).toBe('idle');
  });

  it('idle comes before terminate', () => {
    const I = times(1000, 500, 2000);
    expect(keepaliveAction(stamps(0, 0, 1000), 5000, PERIOD, I)).toBe('idle');
  });

  it('idleTimeout 0: never idle', () => {
    expect(keepaliveAction(stamps(1e9, 0), 1e9, PERIOD, T)).toBe('none');
  });

  it('on a heartbeat: activity stamped with the coarse clock never gets a ping early', () => {
    // A connection as Ws is: stamps from coarseClock.now, actions from keepaliveAction at sweeps.
    const heartbeat = new Heartbeat(T);
    const period = heartbeat.period;
    class Connection implements HeartbeatSubject, KeepaliveStamps {
      lastSeen = coarseClock.now;
      lastMessageAt = coarseClock.now;
      pingSentAt = 0;
      readonly pings: number[] = [];
      heartbeat(now: number, sweepPeriodMs: number): void {
        if (keepaliveAction(this, now, sweepPeriodMs, T) === 'ping') this.pings.push(now);
      }
    }
    const connection = new Connection();
    heartbeat.join(connection);
    connection.lastSeen = coarseClock.now;
    // Activity at every offset within a sweep period: the stamp is up to a period early.
    for (let offset = 0; offset < period; offset += 10) {
      vi.advanceTimersByTime(period - (performance.now() - coarseClock.now)); // to the next sweep
      vi.advanceTimersByTime(offset);
      const activityAt = performance.now();
      connection.lastSeen = coarseClock.now;
      connection.pingSentAt = 0;
      connection.pings.length = 0;
      while (connection.pings.length === 0) vi.advanceTimersByTime(period);
      const late = connection.pings[0]! - activityAt;
      expect(late).toBeGreaterThanOrEqual(T.pingInterval);
      // And at most about two periods late.
      expect(late).toBeLessThanOrEqual(T.pingInterval + 2 * period);
    }
    heartbeat.leave(connection);
  });
});
