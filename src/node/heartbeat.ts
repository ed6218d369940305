/**
 * Keepalive without a timer per connection: a Heartbeat is a registry that connections join —
 * a server's connections, or client connections with the same timings — and one interval sweeps
 * its members a few times per timeout. Connections stamp activity with a coarse clock that only
 * the sweeps advance, so the per-message cost is one assignment.
 */

import { OPTION_BOUNDS } from './options.js';

/**
 * Whole milliseconds (performance.now(), rounded down) as of the latest sweep of any heartbeat.
 * Whole: a connection's stamps copied from it are then small integers, stored in the connection's
 * own fields, where fractional ones would each need a heap number (memory per idle connection).
 */
export const coarseClock = { now: wholeMilliseconds() };

function wholeMilliseconds(): number {
  return Math.floor(performance.now());
}

export interface HeartbeatSubject {
  /**
   * Called on every sweep with the current time and the sweep period. Activity stamped with
   * `coarseClock.now` happened up to one period later than its stamp, so a subject compares its
   * stamps against `timeout + period`: a timeout then never fires early.
   */
  heartbeat(now: number, period: number): void;
}

export interface HeartbeatTimes {
  readonly pingInterval: number;
  readonly pingTimeout: number;
  readonly idleTimeout: number;
}

/**
 * How often to sweep: a quarter of the shortest active period, so a timeout fires at most about a
 * quarter late (never early); 0 when nothing needs sweeping.
 */
export function sweepPeriod(times: HeartbeatTimes): number {
  const periods: number[] = [];
  if (times.pingInterval > 0) periods.push(times.pingInterval, times.pingTimeout);
  if (times.idleTimeout > 0) periods.push(times.idleTimeout);
  if (periods.length === 0) return 0;
  return Math.max(5, Math.floor(Math.min(...periods) / 4));
}

export class Heartbeat {
  readonly period: number;
  /** The timings it was made for. */
  readonly times: HeartbeatTimes;
  private readonly subjects = new Set<HeartbeatSubject>();
  private timer: NodeJS.Timeout | null = null;

  constructor(times: HeartbeatTimes) {
    this.times = { pingInterval: times.pingInterval, pingTimeout: times.pingTimeout, idleTimeout: times.idleTimeout };
    this.period = sweepPeriod(times);
  }

  /** Whether it was made for these timings. */
  serves(times: HeartbeatTimes): boolean {
    const own = this.times;
    return own.pingInterval === times.pingInterval && own.pingTimeout === times.pingTimeout && own.idleTimeout === times.idleTimeout;
  }

  get size(): number {
    return this.subjects.size;
  }

  /** Adds a connection; the sweep runs while there are members, so an idle process does not wake up. */
  join(subject: HeartbeatSubject): void {
    this.subjects.add(subject);
    if (this.timer === null && this.period > 0) {
      coarseClock.now = wholeMilliseconds();
      this.timer = setInterval(sweep, this.period, this);
      this.timer.unref();
    }
  }

  leave(subject: HeartbeatSubject): void {
    this.subjects.delete(subject);
    if (this.subjects.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** @internal */
  sweep(): void {
    const now = (coarseClock.now = wholeMilliseconds());
    for (const subject of this.subjects) subject.heartbeat(now, this.period);
  }
}

function sweep(heartbeat: Heartbeat): void {
  heartbeat.sweep();
}

// Client connections share heartbeats (a process may dial thousands): all those with the default
// timings one, the others one per options object they were made with. Keyed by the object, so an
// entry goes with it: no map of every timing ever used.
const shared = new WeakMap<object, Heartbeat>();
const DEFAULT_TIMINGS = {};

/**
 * The heartbeat for a client connection with these timings, made with the options object `owner`
 * (connect()'s argument): the default timings share one whatever the object.
 */
export function sharedHeartbeat(times: HeartbeatTimes, owner: object): Heartbeat {
  const B = OPTION_BOUNDS;
  const defaults =
    times.pingInterval === B.pingInterval.default && times.pingTimeout === B.pingTimeout.default && times.idleTimeout === B.idleTimeout.default;
  const key = defaults ? DEFAULT_TIMINGS : owner;
  let heartbeat = shared.get(key);
  // Also when the same object now holds other timings (changed since): connections made before keep theirs.
  if (heartbeat === undefined || !heartbeat.serves(times)) shared.set(key, (heartbeat = new Heartbeat(times)));
  return heartbeat;
}

/** What one connection's keepalive stamps are (coarse-clock milliseconds). */
export interface KeepaliveStamps {
  /** Last time anything arrived (data, control frame). */
  lastSeen: number;
  /** Last time a message arrived (pings and pongs do not count). */
  lastMessageAt: number;
  /** When our keepalive ping went out, or 0 when none is outstanding. */
  pingSentAt: number;
}

export type KeepaliveAction = 'none' | 'ping' | 'terminate' | 'idle';

/**
 * The keepalive decision for one connection at a sweep: ping a silent peer after pingInterval,
 * give up on it pingTimeout after the ping, close an idle one after idleTimeout. Updates
 * `pingSentAt` (cleared once the peer showed life since the ping, set when a ping is due).
 */
export function keepaliveAction(stamps: KeepaliveStamps, now: number, period: number, times: HeartbeatTimes): KeepaliveAction {
  // Stamps are coarse (up to one period early): `+ period` keeps every timeout from firing early.
  if (times.idleTimeout > 0 && now - stamps.lastMessageAt >= times.idleTimeout + period) return 'idle';
  if (stamps.pingSentAt !== 0) {
    // Anything received since the ping, its pong or data, shows the peer is alive.
    if (stamps.lastSeen >= stamps.pingSentAt) stamps.pingSentAt = 0;
    else return now - stamps.pingSentAt >= times.pingTimeout ? 'terminate' : 'none';
  }
  if (times.pingInterval > 0 && now - stamps.lastSeen >= times.pingInterval + period) {
    stamps.pingSentAt = now;
    return 'ping';
  }
  return 'none';
}
