/**
 * Keepalive without a timer per connection: one interval per server sweeps its connections a few
 * times per timeout, and connections stamp activity with a coarse clock that only the sweep
 * advances, so the per-message cost is one assignment.
 */

/** Milliseconds (performance.now()) as of the latest sweep of any server. */
export const coarseClock = { now: performance.now() };

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
  private readonly subjects: ReadonlySet<HeartbeatSubject>;
  private readonly period: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(subjects: ReadonlySet<HeartbeatSubject>, times: HeartbeatTimes) {
    this.subjects = subjects;
    this.period = sweepPeriod(times);
  }

  /** Runs while there are connections, so an idle server does not wake up. */
  update(): void {
    if (this.subjects.size > 0 && this.timer === null && this.period > 0) {
      coarseClock.now = performance.now();
      this.timer = setInterval(sweep, this.period, this);
      this.timer.unref();
    } else if (this.subjects.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** @internal */
  sweep(): void {
    const now = (coarseClock.now = performance.now());
    for (const subject of this.subjects) subject.heartbeat(now, this.period);
  }
}

function sweep(heartbeat: Heartbeat): void {
  heartbeat.sweep();
}
