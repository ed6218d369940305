import { describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import type { HubDropEvent } from '../../src/hub/types.js';
import { FakeConnection, settle } from './fake-connection.js';

/** Flushes the connection and lets the hub pump, until nothing is left in the hub for it. */
async function readAll(hub: Hub<FakeConnection>, conn: FakeConnection): Promise<void> {
  for (let i = 0; i < 1000 && (conn.bufferedAmount > 0 || hub.queued(conn).messages > 0); i++) {
    conn.flush();
    await settle();
  }
  expect(hub.queued(conn).messages).toBe(0);
}

describe('ordering', () => {
  it('one connection gets send() and publish() messages in call order, across the switch between writing and queueing', async () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 20 });
    const a = new FakeConnection();
    hub.add(a);
    hub.subscribe(a, 'x');
    hub.subscribe(a, 'y');
    const expected: string[] = [];
    for (let i = 0; i < 30; i++) {
      const text = `m${i}`;
      expected.push(text);
      if (i % 3 === 0) hub.send(a, text);
      else hub.publish(i % 3 === 1 ? 'x' : 'y', text);
      // Read at uneven moments: some messages are written straight, some wait in the hub.
      if (i % 7 === 3) a.flush();
      if (i % 11 === 5) await settle();
    }
    await readAll(hub, a);
    expect(a.receivedTexts()).toEqual(expected);
  });

  it('subscribers of a topic see its messages in publish order, however fast each reads', async () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 10 });
    const subscribers = [new FakeConnection({ fast: true }), new FakeConnection(), new FakeConnection()];
    for (const s of subscribers) {
      hub.add(s);
      hub.subscribe(s, 't');
    }
    const expected = Array.from({ length: 40 }, (_, i) => `#${i}`);
    for (const [i, text] of expected.entries()) {
      hub.publish('t', text);
      if (i % 5 === 0) subscribers[1]!.flush();
      if (i % 9 === 0) await settle();
    }
    for (const s of subscribers) await readAll(hub, s);
    for (const s of subscribers) expect(s.receivedTexts()).toEqual(expected);
  });

  it('a message published before an unsubscribe in the same tick is delivered (uWebSockets #1673)', async () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1 });
    const fast = new FakeConnection({ fast: true });
    const slow = new FakeConnection();
    for (const s of [fast, slow]) {
      hub.add(s);
      hub.subscribe(s, 't');
    }
    hub.publish('t', 'before'); // slow: written straight
    hub.publish('t', 'also before'); // slow: queued in the hub
    hub.unsubscribe(fast, 't');
    hub.unsubscribe(slow, 't');
    hub.publish('t', 'after');
    expect(fast.receivedTexts()).toEqual(['before', 'also before']);
    await readAll(hub, slow);
    expect(slow.receivedTexts()).toEqual(['before', 'also before']);
  });

  it('a message published before a close in the same tick is delivered if written, otherwise counted as dropped', async () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1 });
    const drops: HubDropEvent<FakeConnection>[] = [];
    hub.on('drop', (event) => drops.push(event));
    const a = new FakeConnection();
    hub.add(a);
    hub.subscribe(a, 't');
    hub.publish('t', 'written');
    hub.publish('t', 'queued');
    void a.close(1000);
    // The connection delivers what it accepted before its close frame; the peer answers.
    a.flush();
    a.end(1000);
    await settle();
    expect(a.receivedTexts()).toEqual(['written']);
    expect(drops.map((d) => [Buffer.from(d.payload).toString(), d.reason])).toEqual([['queued', 'closed']]);
    expect(hub.stats('t')).toBeUndefined(); // the topic went with its last member
  });

  it('remove() keeps writing what was queued, in order, but nothing new', async () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1 });
    const a = new FakeConnection();
    hub.add(a);
    hub.subscribe(a, 't');
    hub.publish('t', 'one');
    hub.publish('t', 'two');
    hub.send(a, 'three');
    hub.remove(a);
    hub.publish('t', 'four');
    await readAll(hub, a);
    expect(a.receivedTexts()).toEqual(['one', 'two', 'three']);
  });

  it('a listener that changes subscriptions during a publish does not change who gets that message', async () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1, maxQueuedBytes: 0, topic: { policy: 'drop-new' } });
    const [slow, b, c] = [new FakeConnection(), new FakeConnection({ fast: true }), new FakeConnection({ fast: true })];
    const late = new FakeConnection({ fast: true });
    for (const s of [slow, b, c, late]) hub.add(s);
    for (const s of [slow, b, c]) hub.subscribe(s, 't');
    hub.publish('t', 'fills slow');
    hub.on('drop', () => {
      hub.unsubscribe(c, 't');
      hub.subscribe(late, 't');
    });
    expect(hub.publish('t', 'news')).toEqual({ recipients: 3, queued: 2, dropped: 1, closed: 0 });
    expect(b.receivedTexts()).toEqual(['fills slow', 'news']);
    expect(c.receivedTexts()).toEqual(['fills slow', 'news']);
    expect(late.receivedTexts()).toEqual([]);
    expect([...hub.members('t')]).toEqual([slow, b, late]);
  });
});
