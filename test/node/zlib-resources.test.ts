/**
 * What the compressed connections of a server share (src/node/zlib-resources.ts): the Limiter on
 * concurrent zlib jobs (at most N at once, FIFO), the ContextBudget for per-connection contexts,
 * and the pools of reset streams (a stream given back is handed out next, reset; never more idle
 * streams than the concurrency).
 */

import { constants, deflateRawSync, inflateRawSync, type DeflateRaw, type InflateRaw } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ContextBudget,
  Limiter,
  ZlibResources,
  deflateContextBytes,
  inflateContextBytes,
} from '../../src/node/zlib-resources.js';
import { syncFlush } from '../../testkit/index.js';
import { cleanup, defer } from './helpers.js';

afterEach(cleanup);

/** Compresses `data` with a sync flush on `stream` (keeping its context; testkit's). */
function deflateOn(stream: DeflateRaw, data: Buffer): Promise<Buffer> {
  return syncFlush(stream, [data]);
}

/** Inflates `data` (a sync-flushed message) on `stream`; rejects on invalid data. */
function inflateOn(stream: InflateRaw, data: Buffer): Promise<Buffer> {
  return syncFlush(stream, [data]);
}

/** `length` incompressible-looking bytes (a seeded LCG), the same for the same seed. */
function noise(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function resources(concurrency: number, budget = 1 << 30, level = 6): ZlibResources {
  const zlib = new ZlibResources({ level, memLevel: 8, concurrency, maxContextMemory: budget });
  defer(() => zlib.clear());
  return zlib;
}

// ---- Limiter ------------------------------------------------------------------------------------

describe('Limiter', () => {
  it('runs at most N jobs at once; the others wait and start first come, first served', () => {
    const limiter = new Limiter(2);
    const started: number[] = [];
    const releases = new Map<number, () => void>();
    for (let i = 0; i < 6; i++) {
      limiter.run((release) => {
        started.push(i);
        releases.set(i, release);
      });
    }
    expect(started).toEqual([0, 1]);
    expect([limiter.active, limiter.queued]).toEqual([2, 4]);

    releases.get(1)!();
    expect(started).toEqual([0, 1, 2]);
    expect([limiter.active, limiter.queued]).toEqual([2, 3]);
    releases.get(0)!();
    expect(started).toEqual([0, 1, 2, 3]);
    releases.get(3)!();
    releases.get(2)!();
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect([limiter.active, limiter.queued]).toEqual([2, 0]);
    releases.get(4)!();
    releases.get(5)!();
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });

  it('a second call of the same release frees nothing more', () => {
    const limiter = new Limiter(1);
    const started: string[] = [];
    let releaseA!: () => void;
    limiter.run((release) => {
      started.push('a');
      releaseA = release;
    });
    limiter.run(() => started.push('b')); // never releases
    limiter.run(() => started.push('c'));
    releaseA();
    releaseA();
    expect(started).toEqual(['a', 'b']);
    expect([limiter.active, limiter.queued]).toEqual([1, 1]);
  });

  it('a job that releases at once lets the next one start (no slot leaks)', () => {
    const limiter = new Limiter(1);
    const started: number[] = [];
    for (let i = 0; i < 5; i++) {
      limiter.run((release) => {
        started.push(i);
        release();
      });
    }
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });

  it('property: never more than N at once, starts in submission order, every job eventually runs', () => {
    // A script of steps: submit a job, or release the k-th running one.
    const script = fc.record({
      max: fc.integer({ min: 1, max: 5 }),
      steps: fc.array(fc.oneof(fc.constant(-1), fc.nat({ max: 7 })), { maxLength: 80 }),
    });
    fc.assert(
      fc.property(script, ({ max, steps }) => {
        const limiter = new Limiter(max);
        const started: number[] = [];
        const running: Array<() => void> = [];
        let submitted = 0;
        const submit = (): void => {
          const id = submitted++;
          limiter.run((release) => {
            started.push(id);
            running.push(release);
          });
        };
        for (const step of steps) {
          if (step === -1) submit();
          else if (running.length > 0) running.splice(step % running.length, 1)[0]!();
          expect(limiter.active).toBe(running.length);
          expect(limiter.active).toBeLessThanOrEqual(max);
          // A job waits only while every slot is taken.
          if (limiter.queued > 0) expect(limiter.active).toBe(max);
          expect(started).toEqual([...started.keys()]);
          expect(limiter.active + limiter.queued).toBe(submitted - (started.length - running.length));
        }
        while (running.length > 0) running.shift()!();
        expect(started).toEqual([...Array(submitted).keys()]);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('many queued jobs that release synchronously do not overflow the stack', () => {
    // This is what happens when many compressed connections close while their zlib jobs wait
    // (compress()/decompress() of a closed codec release at once): each release starts the next
    // job inside the previous one's release, so the recursion is as deep as the queue.
    const limiter = new Limiter(1);
    let releaseFirst!: () => void;
    limiter.run((release) => {
      releaseFirst = release;
    });
    let ran = 0;
    const QUEUED = 100_000;
    for (let i = 0; i < QUEUED; i++) {
      limiter.run((release) => {
        ran++;
        release();
      });
    }
    expect(() => releaseFirst()).not.toThrow();
    expect(ran).toBe(QUEUED);
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });
});

// ---- ContextBudget ------------------------------------------------------------------------------

describe('ContextBudget', () => {
  it('reserves up to its limit exactly, refuses past it without reserving anything', () => {
    const budget = new ContextBudget(1000);
    expect(budget.reserved).toBe(0);
    expect(budget.tryReserve(600)).toBe(true);
    expect(budget.reserved).toBe(600);
    expect(budget.tryReserve(401)).toBe(false);
    expect(budget.reserved).toBe(600);
    expect(budget.tryReserve(400)).toBe(true);
    expect(budget.reserved).toBe(1000);
    expect(budget.tryReserve(1)).toBe(false);
    expect(budget.tryReserve(0)).toBe(true);
    expect(budget.reserved).toBe(1000);
  });

  it('release gives the bytes back for the next reservation', () => {
    const budget = new ContextBudget(1000);
    expect(budget.tryReserve(700)).toBe(true);
    expect(budget.tryReserve(700)).toBe(false);
    budget.release(700);
    expect(budget.reserved).toBe(0);
    expect(budget.tryReserve(700)).toBe(true);
    expect(budget.reserved).toBe(700);
  });

  it('a zero budget refuses any context', () => {
    const budget = new ContextBudget(0);
    expect(budget.tryReserve(1)).toBe(false);
    expect(budget.reserved).toBe(0);
  });

  it('context sizes follow zlib\'s "memory needed" figures plus the Node stream', () => {
    // deflate: (1 << (windowBits + 2)) + (1 << (memLevel + 9)); inflate: 1 << windowBits + ~7 KiB.
    expect(deflateContextBytes(15, 8)).toBe(131072 + 131072 + 24 * 1024);
    expect(deflateContextBytes(9, 1)).toBe(2048 + 1024 + 24 * 1024);
    expect(inflateContextBytes(15)).toBe(32768 + 7 * 1024 + 24 * 1024);
    expect(inflateContextBytes(8)).toBe(256 + 7 * 1024 + 24 * 1024);
  });
});

// ---- stream pools -------------------------------------------------------------------------------

describe('ZlibResources stream pools', () => {
  it('one pool per kind and window size', () => {
    const zlib = resources(2);
    expect(zlib.deflaterPool(15)).toBe(zlib.deflaterPool(15));
    expect(zlib.deflaterPool(10)).not.toBe(zlib.deflaterPool(15));
    expect(zlib.inflaterPool(15)).toBe(zlib.inflaterPool(15));
    expect(zlib.inflaterPool(15)).not.toBe(zlib.deflaterPool(15));
  });

  it('a stream given back is the next one handed out (the last given back first)', async () => {
    const pool = resources(4).deflaterPool(15);
    const a = pool.take();
    const b = pool.take();
    const c = pool.take();
    expect(new Set([a, b, c]).size).toBe(3);
    await deflateOn(a, Buffer.from('x'));
    await deflateOn(b, Buffer.from('y'));
    pool.give(a);
    pool.give(b);
    expect(pool.take()).toBe(b);
    pool.give(c);
    expect(pool.take()).toBe(c);
    expect(pool.take()).toBe(a);
    const fresh = pool.take();
    expect([a, b, c]).not.toContain(fresh);
  });

  it('a deflater given back is reset: it compresses like a fresh one (no back-reference)', async () => {
    const pool = resources(1).deflaterPool(15);
    const hello = Buffer.from('Hello');
    const stream = pool.take();
    // RFC 7692 7.2.3.1 / 7.2.3.2: "Hello" alone, then "Hello" again with the window kept.
    expect((await deflateOn(stream, hello)).toString('hex')).toBe('f248cdc9c90700' + '0000ffff');
    expect((await deflateOn(stream, hello)).toString('hex')).toBe('f200110000' + '0000ffff');
    pool.give(stream);
    const again = pool.take();
    expect(again).toBe(stream);
    expect((await deflateOn(again, hello)).toString('hex')).toBe('f248cdc9c90700' + '0000ffff');
  });

  it('an inflater given back is reset: it no longer has the previous window', async () => {
    const pool = resources(1).inflaterPool(15);
    const stream = pool.take();
    expect((await inflateOn(stream, Buffer.from('f248cdc9c907000000ffff', 'hex'))).toString()).toBe('Hello');
    pool.give(stream);
    const again = pool.take();
    expect(again).toBe(stream);
    // "Hello" as a back-reference into a window the reset stream no longer has.
    await expect(inflateOn(again, Buffer.from('f2001100000000ffff', 'hex'))).rejects.toThrow(/distance too far back/);
  });

  it('never keeps more idle streams than the concurrency: the extra ones are closed', async () => {
    const CONCURRENCY = 3;
    const pool = resources(CONCURRENCY).inflaterPool(15);
    const taken = Array.from({ length: 5 }, () => pool.take());
    expect(new Set(taken).size).toBe(5);
    for (const stream of taken) pool.give(stream);
    // The first 3 given back are kept, the last 2 closed.
    expect(taken.map((stream) => stream.destroyed)).toEqual([false, false, false, true, true]);
    const again = Array.from({ length: CONCURRENCY }, () => pool.take());
    expect(new Set(again)).toEqual(new Set(taken.slice(0, CONCURRENCY)));
    // The pool is now empty: the next one is a new stream.
    const fresh = pool.take();
    expect(taken).not.toContain(fresh);
    expect(fresh.destroyed).toBe(false);
  });

  it('clear() closes idle pooled streams of every pool', () => {
    const zlib = resources(2);
    const deflater = zlib.deflaterPool(15).take();
    const inflater = zlib.inflaterPool(12).take();
    zlib.deflaterPool(15).give(deflater);
    zlib.inflaterPool(12).give(inflater);
    zlib.clear();
    expect([deflater.destroyed, inflater.destroyed]).toEqual([true, true]);
    expect(zlib.deflaterPool(15).take()).not.toBe(deflater);
  });

  it('deflaters use the configured level and window', async () => {
    const stored = resources(1, 1 << 30, 0).createDeflater(15);
    defer(() => stored.close());
    // Level 0: a stored block, RFC 7692 7.2.3.3 ("Hello" with no compression).
    expect((await deflateOn(stored, Buffer.from('Hello'))).toString('hex')).toBe('000500faff48656c6c6f' + '000000ffff');

    const small = resources(1).createDeflater(9);
    defer(() => small.close());
    // 2 KiB of random bytes, then the same 2 KiB again: a 32 KiB window (15) would find the
    // repeat 2 KiB back, a 512-byte window (9) cannot.
    const block = noise(2048, 2);
    const data = Buffer.concat([block, block]);
    const out = await deflateOn(small, data);
    expect(out.length).toBeGreaterThan(3000);
    expect(inflateRawSync(out, { windowBits: 9, finishFlush: constants.Z_SYNC_FLUSH })).toEqual(data);
    const wide = deflateRawSync(data, { windowBits: 15, finishFlush: constants.Z_SYNC_FLUSH });
    expect(wide.length).toBeLessThan(2500);
  });

  it('inflaters are created with the given window', async () => {
    const zlib = resources(1);
    // Two messages on one deflater: the second is a back-reference 1000 bytes into the first,
    // beyond a 512-byte window (9), within a 32 KiB one (15).
    const block = noise(1000, 1);
    const sender = zlib.createDeflater(15);
    defer(() => sender.close());
    const first = await deflateOn(sender, block);
    const second = await deflateOn(sender, block);
    expect(second.length).toBeLessThan(20);

    const wide = zlib.createInflater(15);
    defer(() => wide.close());
    expect(await inflateOn(wide, first)).toEqual(block);
    expect(await inflateOn(wide, second)).toEqual(block);

    const narrow = zlib.createInflater(9);
    defer(() => narrow.close());
    expect(await inflateOn(narrow, first)).toEqual(block);
    await expect(inflateOn(narrow, second)).rejects.toThrow(/distance too far back/);
  });
});
