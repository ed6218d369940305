/**
 * What all the compressed connections of a server share, so that 10,000 of them cannot exhaust or
 * fragment memory (the failure `ws` and others met with permessage-deflate):
 *
 * - a limit on concurrent zlib operations (they run on libuv's thread pool and each holds buffers),
 *   the rest waiting in a FIFO;
 * - a budget for the memory held by per-connection contexts: a connection that keeps its LZ77
 *   window between messages (context takeover) holds a deflate and an inflate stream for its whole
 *   life; once the budget is spent, new connections negotiate no context takeover instead;
 * - a pool of reset streams that those connections borrow for one message at a time.
 */

import { createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';

export interface ZlibSettings {
  readonly level: number;
  readonly memLevel: number;
  /** zlib operations at once, all connections together. */
  readonly concurrency: number;
  /** Bytes that kept (context takeover) streams may hold, all connections together. */
  readonly maxContextMemory: number;
}

/**
 * zlib's own figures (zconf.h, "Memory needed"), plus the Node stream and its 16 KiB output
 * chunk: deflate needs (1 << (windowBits + 2)) + (1 << (memLevel + 9)) bytes, inflate
 * 1 << windowBits plus about 7 KiB of state.
 */
export function deflateContextBytes(windowBits: number, memLevel: number): number {
  return (1 << (windowBits + 2)) + (1 << (memLevel + 9)) + 24 * 1024;
}

export function inflateContextBytes(windowBits: number): number {
  return (1 << windowBits) + 7 * 1024 + 24 * 1024;
}

/** Runs at most `max` jobs at once; the others wait, first come first served. */
export class Limiter {
  private readonly max: number;
  private running = 0;
  // A queue read from `head` on: Array.prototype.shift() moves every element left, so draining a
  // queue of n jobs cost O(n²) (100,000 queued jobs took 5 s; zlib-resources.test.ts).
  private waiting: (((release: () => void) => void) | undefined)[] = [];
  private head = 0;
  private draining = false;

  constructor(max: number) {
    this.max = max;
  }

  /** Runs `job` when a slot is free; `job` must call `release` exactly once when done. */
  run(job: (release: () => void) => void): void {
    this.waiting.push(job);
    this.drain();
  }

  /**
   * Starts waiting jobs while slots are free. A loop, not recursion: a job may release its slot
   * before it returns (its connection is gone), and thousands of those in a row must not grow
   * the stack; a release from inside the loop only frees the slot for the loop to fill.
   */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.running < this.max && this.head < this.waiting.length) {
        const job = this.waiting[this.head]!;
        this.waiting[this.head++] = undefined; // not kept alive by the queue
        if (this.head === this.waiting.length) {
          this.waiting = [];
          this.head = 0;
        } else if (this.head >= 1024 && this.head * 2 >= this.waiting.length) {
          // Drop the consumed half now and then, so a queue that never empties does not grow.
          this.waiting = this.waiting.slice(this.head);
          this.head = 0;
        }
        this.running++;
        let released = false;
        job(() => {
          if (released) return;
          released = true;
          this.running--;
          this.drain();
        });
      }
    } finally {
      this.draining = false;
    }
  }

  /** For tests and stats. */
  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length - this.head;
  }
}

/** Bytes that per-connection contexts may hold, all connections together. */
export class ContextBudget {
  private readonly limit: number;
  private used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  tryReserve(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used -= bytes;
  }

  get reserved(): number {
    return this.used;
  }
}

/** Reset zlib streams of one configuration, lent for one message at a time. */
class StreamPool<T extends DeflateRaw | InflateRaw> {
  private readonly idle: T[] = [];
  private readonly create: () => T;
  private readonly maxIdle: number;

  constructor(create: () => T, maxIdle: number) {
    this.create = create;
    this.maxIdle = maxIdle;
  }

  take(): T {
    return this.idle.pop() ?? this.create();
  }

  /** Gives back a stream whose last operation succeeded. */
  give(stream: T): void {
    stream.reset();
    if (this.idle.length < this.maxIdle) this.idle.push(stream);
    else stream.close();
  }

  clear(): void {
    for (const stream of this.idle.splice(0)) stream.close();
  }
}

export class ZlibResources {
  readonly limiter: Limiter;
  readonly budget: ContextBudget;
  private readonly settings: ZlibSettings;
  private readonly pools = new Map<string, StreamPool<DeflateRaw | InflateRaw>>();

  constructor(settings: ZlibSettings) {
    this.settings = settings;
    this.limiter = new Limiter(settings.concurrency);
    this.budget = new ContextBudget(settings.maxContextMemory);
  }

  /** Whether it was made for these settings. */
  serves(settings: ZlibSettings): boolean {
    const own = this.settings;
    return (
      own.level === settings.level &&
      own.memLevel === settings.memLevel &&
      own.concurrency === settings.concurrency &&
      own.maxContextMemory === settings.maxContextMemory
    );
  }

  createDeflater(windowBits: number): DeflateRaw {
    return createDeflateRaw({ level: this.settings.level, memLevel: this.settings.memLevel, windowBits });
  }

  createInflater(windowBits: number): InflateRaw {
    return createInflateRaw({ windowBits });
  }

  deflaterPool(windowBits: number): StreamPool<DeflateRaw> {
    return this.pool(`deflate:${windowBits}`, () => this.createDeflater(windowBits));
  }

  inflaterPool(windowBits: number): StreamPool<InflateRaw> {
    return this.pool(`inflate:${windowBits}`, () => this.createInflater(windowBits));
  }

  /**
   * The pool of one stream configuration, made on first use. At most `concurrency` streams are
   * busy at once, so no pool needs to keep more idle.
   */
  private pool<T extends DeflateRaw | InflateRaw>(key: string, create: () => T): StreamPool<T> {
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new StreamPool<T>(create, this.settings.concurrency);
      this.pools.set(key, pool);
    }
    return pool as StreamPool<T>;
  }

  /** Closes idle pooled streams (server shutdown). */
  clear(): void {
    for (const pool of this.pools.values()) pool.clear();
  }
}

export type { StreamPool };
