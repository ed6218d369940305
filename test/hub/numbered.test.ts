/**
 * The hub's unit tests once more, with connections that report their writes by batch number, as
 * Ws does (HubConnection.sendNumbered, writtenBatches), instead of a promise per write: the hub
 * keeps every guarantee (each lost message reported once, in order, policies) on both paths. Then
 * what only the numbered path has: frames kept until their batch is written, whatever the lag.
 */

import { describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import type { HubDropEvent } from '../../src/hub/types.js';
import { FakeConnection, settle } from './fake-connection.js';

FakeConnection.numberedByDefault = true;
await import('./hub.test.js');
await import('./ordering.test.js');
await import('./policies.test.js');
await import('./publish.test.js');
await import('./compression.test.js');
await import('./events.test.js');
await import('./streams.test.js');

/** A hub that never queues (every publish goes straight to the connection), and one numbered subscriber. */
function setup() {
  const hub = new Hub<FakeConnection>({ lowWatermark: 1 << 30, maxQueuedBytes: 1 << 30 });
  const conn = new FakeConnection({ numbered: true });
  hub.add(conn);
  hub.subscribe(conn, 't');
  const drops: HubDropEvent<FakeConnection>[] = [];
  hub.on('drop', (event) => drops.push(event));
  const lost = (): number[] => drops.map((d) => Number(Buffer.from(d.payload).toString()));
  return { hub, conn, drops, lost };
}

describe('numbered connections: frames the kernel did not take when the connection went', () => {
  it('a connection always one batch behind: only the last batch is reported lost', async () => {
    const { hub, conn, drops, lost } = setup();
    for (let i = 0; i < 100; i++) {
      hub.publish('t', String(i));
      conn.nextBatch();
      // Message i is batch i + 1; the kernel has taken every batch before it.
      conn.writeBatches(i);
    }
    conn.end();
    await settle();
    expect(lost()).toEqual([99]);
    expect(drops.every((d) => d.reason === 'closed' && d.topic === 't' && d.connection === conn)).toBe(true);
    expect(conn.delivered.length).toBe(99);
  });

  it('batches of 1 to 7 frames, the kernel taking them now and then, up to 8 batches behind: exactly the frames above writtenBatches are reported, in order, once', async () => {
    for (let seed = 1; seed <= 50; seed++) {
      const { hub, conn, lost } = setup();
      let state = seed;
      const random = (n: number): number => {
        state = (state * 1103515245 + 12345) % 2147483648;
        return state % n;
      };
      const batchOf: number[] = [];
      let batch = 1;
      let inBatch = 0;
      let size = 1 + random(7);
      const count = 100 + random(300);
      for (let i = 0; i < count; i++) {
        hub.publish('t', String(i));
        batchOf.push(batch);
        if (++inBatch === size) {
          conn.nextBatch();
          batch++;
          inBatch = 0;
          size = 1 + random(7);
          // Now and then the kernel catches up to a batch a few behind the latest.
          const target = batch - 1 - random(8);
          if (random(3) === 0 && target > conn.writtenBatches) conn.writeBatches(target);
        }
      }
      const written = conn.writtenBatches;
      conn.end();
      await settle();
      const expected = batchOf.flatMap((b, i) => (b > written ? [i] : []));
      expect(lost(), `seed ${seed}`).toEqual(expected);
      expect(conn.delivered.length + expected.length).toBe(count);
    }
  });

  it('a connection that closes after the kernel took everything: nothing is reported', async () => {
    const { hub, conn, drops } = setup();
    for (let i = 0; i < 10; i++) hub.publish('t', String(i));
    conn.flush();
    conn.end();
    await settle();
    expect(drops).toEqual([]);
  });

  it('a write refused (0) is reported at once, as closed', () => {
    const { hub, conn, lost } = setup();
    // Not open any more, although the hub saw it open: the write is refused.
    Object.defineProperty(conn, 'sendNumbered', { value: () => 0 });
    const result = hub.publish('t', '7');
    expect(result).toEqual({ recipients: 1, queued: 1, dropped: 0, closed: 0 });
    expect(lost()).toEqual([7]);
  });
});
