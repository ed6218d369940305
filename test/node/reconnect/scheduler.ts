/**
 * A scheduler the test drives (the reconnect loop's timers and clock, injected): every wait the
 * loop asks for is recorded, and runs only when the test fires it. Time never passes by itself.
 */

import type { Scheduler } from '../../../src/node/reconnect/options.js';
import { AsyncQueue } from '../helpers.js';

interface Timer {
  readonly id: number;
  readonly callback: () => void;
  readonly ms: number;
}

export class ManualScheduler implements Scheduler {
  /** Every wait asked for, in order. */
  readonly delays: number[] = [];
  /** The waits, as they are asked for. */
  readonly asked = new AsyncQueue<number>();
  time: number;
  private timers: Timer[] = [];
  private ids = 0;

  private readonly auto: boolean;

  /** `auto`: every wait passes on the next turn of the event loop (its length is still recorded). */
  constructor(options: { auto?: boolean; time?: number } = {}) {
    this.auto = options.auto ?? false;
    this.time = options.time ?? Date.parse('2026-01-01T00:00:00Z');
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const timer = { id: ++this.ids, callback, ms };
    this.timers.push(timer);
    this.delays.push(ms);
    this.asked.push(ms);
    if (this.auto) setImmediate(() => this.timers.includes(timer) && this.run(timer));
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((timer) => timer.id !== handle);
  }

  now(): number {
    return this.time;
  }

  get pending(): number {
    return this.timers.length;
  }

  /** Waits for the loop to ask for its next wait, checks nothing, and lets it pass. Returns the wait. */
  async passNext(): Promise<number> {
    const ms = await this.asked.next();
    this.fire();
    return ms;
  }

  /** Runs the oldest pending timer (its time has passed). */
  fire(): void {
    const timer = this.timers[0];
    if (timer === undefined) throw new Error('no timer pending');
    this.run(timer);
  }

  private run(timer: Timer): void {
    this.timers = this.timers.filter((other) => other !== timer);
    this.time += timer.ms;
    timer.callback();
  }
}
