import { describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import type { HubDropEvent, HubEvictEvent, OverflowPolicy } from '../../src/hub/types.js';
import { FakeConnection, settle } from './fake-connection.js';

/**
 * A hub where every frame of `text(n)` is 2 + 4 = 6 bytes, the connection's buffer takes one frame
 * before the hub queues (low watermark 1), and the hub holds at most `slots` frames per connection.
 */
function setup(policy: OverflowPolicy, slots = 3) {
  const hub = new Hub<FakeConnection>({ lowWatermark: 1, maxQueuedBytes: slots * 6 });
  hub.configure('t', { policy });
  const drops: HubDropEvent<FakeConnection>[] = [];
  const evictions: HubEvictEvent<FakeConnection>[] = [];
  hub.on('drop', (event) => drops.push(event));
  hub.on('evict', (event) => evictions.push(event));
  const slow = new FakeConnection();
  const fast = new FakeConnection({ fast: true });
  for (const s of [slow, fast]) {
    hub.add(s);
    hub.subscribe(s, 't');
  }
  const dropped = (): string[][] => drops.map((d) => [Buffer.from(d.payload).toString(), d.reason]);
  return { hub, slow, fast, drops, evictions, dropped };
}

const text = (n: number): string => `m${String(n).padStart(3, '0')}`;

async function readAll(hub: Hub<FakeConnection>, conn: FakeConnection): Promise<void> {
  for (let i = 0; i < 1000 && (conn.bufferedAmount > 0 || hub.queued(conn).messages > 0); i++) {
    conn.flush();
    await settle();
  }
}

describe("policy 'close' (the default)", () => {
  it('closes a subscriber whose queue is full with 1008 "too slow", and reports what it lost', async () => {
    const { hub, slow, fast, evictions, dropped } = setup('close');
    const results = [0, 1, 2, 3, 4].map((n) => hub.publish('t', text(n)));
    // m000 is written, m001-m003 fill the 3 slots, m004 overflows.
    expect(results.map((r) => r.closed)).toEqual([0, 0, 0, 0, 1]);
    expect(results[4]).toEqual({ recipients: 2, queued: 1, dropped: 0, closed: 1 });
    expect(slow.closeCalls).toEqual([{ code: 1008, reason: 'too slow' }]);
    expect(dropped()).toEqual([
      ['m001', 'evicted'],
      ['m002', 'evicted'],
      ['m003', 'evicted'],
      ['m004', 'evicted'],
    ]);
    expect(evictions).toHaveLength(1);
    expect(evictions[0]).toEqual({ topic: 't', connection: slow, queuedBytes: 18 });
    expect(hub.stats('t')).toEqual({ subscribers: 1, published: 5, dropped: 4, evicted: 1 });
    // Out of the hub at once: the next publish does not count it.
    expect(hub.has(slow)).toBe(false);
    expect(hub.publish('t', text(5))).toEqual({ recipients: 1, queued: 1, dropped: 0, closed: 0 });
    // One slow subscriber never delays the others.
    expect(fast.receivedTexts()).toEqual([0, 1, 2, 3, 4, 5].map(text));
    // What the connection had accepted still goes out before its close frame.
    slow.flush();
    slow.end(1008, 'too slow');
    await settle();
    expect(slow.receivedTexts()).toEqual([text(0)]);
  });

  it('is the default policy for topics and for send()', () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1, maxQueuedBytes: 0 });
    const [a, b] = [new FakeConnection(), new FakeConnection()];
    hub.add(a);
    hub.add(b);
    hub.subscribe(a, 'anything');
    hub.publish('anything', 'x');
    expect(hub.publish('anything', 'y').closed).toBe(1);
    expect(hub.send(b, 'x')).toBe('queued');
    expect(hub.send(b, 'y')).toBe('closed');
    expect(b.closeCalls).toEqual([{ code: 1008, reason: 'too slow' }]);
    // A send() to a connection the policy closed is counted as dropped, not thrown.
    expect(hub.send(b, 'z')).toBe('dropped');
  });
});

describe("policy 'drop-new'", () => {
  it('drops the new message for the slow subscriber only, keeps the connection, and delivers the rest in order', async () => {
    const { hub, slow, fast, evictions, dropped } = setup('drop-new');
    const results = [0, 1, 2, 3, 4, 5].map((n) => hub.publish('t', text(n)));
    expect(results.map((r) => [r.queued, r.dropped])).toEqual([
      [2, 0],
      [2, 0],
      [2, 0],
      [2, 0],
      [1, 1],
      [1, 1],
    ]);
    expect(dropped()).toEqual([
      ['m004', 'drop-new'],
      ['m005', 'drop-new'],
    ]);
    expect(evictions).toEqual([]);
    expect(slow.closeCalls).toEqual([]);
    expect(hub.stats('t')).toEqual({ subscribers: 2, published: 6, dropped: 2, evicted: 0 });
    await readAll(hub, slow);
    expect(slow.receivedTexts()).toEqual([0, 1, 2, 3].map(text));
    expect(fast.receivedTexts()).toEqual([0, 1, 2, 3, 4, 5].map(text));
    // Once it has caught up, it gets new messages again.
    hub.publish('t', text(6));
    expect(slow.sentTexts().at(-1)).toBe(text(6));
  });
});

describe("policy 'drop-oldest'", () => {
  it("drops the topic's oldest queued messages to make room for the new one", async () => {
    const { hub, slow, dropped } = setup('drop-oldest');
    const results = [0, 1, 2, 3, 4, 5].map((n) => hub.publish('t', text(n)));
    expect(results.every((r) => r.queued === 2 && r.dropped === 0)).toBe(true);
    expect(dropped()).toEqual([
      ['m001', 'drop-oldest'],
      ['m002', 'drop-oldest'],
    ]);
    await readAll(hub, slow);
    expect(slow.receivedTexts()).toEqual([0, 3, 4, 5].map(text));
    expect(hub.stats('t')!.dropped).toBe(2);
  });

  it("never drops another topic's messages or send()s: if they fill the queue, the new message is dropped", async () => {
    const { hub, slow, dropped } = setup('drop-oldest');
    hub.subscribe(slow, 'other'); // policy 'close', but it never overflows here
    hub.publish('t', text(0)); // written
    hub.publish('other', text(1));
    hub.send(slow, text(2));
    hub.publish('t', text(3));
    // The queue holds other:m001, send:m002, t:m003. m004 may only displace m003.
    expect(hub.publish('t', text(4)).queued).toBe(2);
    expect(dropped()).toEqual([['m003', 'drop-oldest']]);
    await readAll(hub, slow);
    expect(slow.receivedTexts()).toEqual([0, 1, 2, 4].map(text));
  });

  it('drops the new message when only other topics\' messages and send()s are queued', async () => {
    const { hub, slow, dropped } = setup('drop-oldest');
    hub.subscribe(slow, 'other');
    hub.publish('t', text(0)); // written
    hub.publish('other', text(1));
    hub.send(slow, text(2));
    hub.publish('other', text(3));
    expect(hub.publish('t', text(4))).toEqual({ recipients: 2, queued: 1, dropped: 1, closed: 0 });
    expect(dropped()).toEqual([['m004', 'drop-new']]);
    await readAll(hub, slow);
    expect(slow.receivedTexts()).toEqual([0, 1, 2, 3].map(text));
  });

  it('drops the new message when it alone is larger than the bound', () => {
    const { hub, slow, dropped } = setup('drop-oldest', 1);
    hub.publish('t', text(0));
    hub.publish('t', text(1));
    expect(hub.publish('t', 'x'.repeat(20))).toEqual({ recipients: 2, queued: 1, dropped: 1, closed: 0 });
    expect(dropped()).toEqual([['x'.repeat(20), 'drop-new']]);
    expect(hub.queued(slow).messages).toBe(1);
  });
});

describe("policy 'conflate'", () => {
  it('keeps only the latest queued message per key, in publish order, while the subscriber is behind', async () => {
    const { hub, slow, fast, dropped } = setup('conflate');
    hub.publish('t', 'A=1', { key: 'A' }); // written
    hub.publish('t', 'A=2', { key: 'A' }); // queued
    hub.publish('t', 'B=1', { key: 'B' });
    hub.publish('t', 'A=3', { key: 'A' }); // replaces A=2, after B=1
    hub.publish('t', 'B=2', { key: 'B' }); // replaces B=1
    hub.publish('t', 'note'); // no key: never replaced
    expect(dropped()).toEqual([
      ['A=2', 'conflate'],
      ['B=1', 'conflate'],
    ]);
    expect(hub.stats('t')!.dropped).toBe(2);
    await readAll(hub, slow);
    expect(slow.receivedTexts()).toEqual(['A=1', 'A=3', 'B=2', 'note']);
    // A subscriber that keeps up gets every message.
    expect(fast.receivedTexts()).toEqual(['A=1', 'A=2', 'B=1', 'A=3', 'B=2', 'note']);
  });

  it('conflates per topic: the same key on another topic is another value', async () => {
    const { hub, slow } = setup('conflate');
    hub.configure('u', { policy: 'conflate' });
    hub.subscribe(slow, 'u');
    hub.publish('t', 'first', { key: 'k' });
    hub.publish('t', 't:k', { key: 'k' });
    hub.publish('u', 'u:k', { key: 'k' });
    await readAll(hub, slow);
    expect(slow.receivedTexts()).toEqual(['first', 't:k', 'u:k']);
  });

  it('closes the subscriber when distinct keys still overflow the queue (dropping one would lose its latest value)', () => {
    const { hub, slow, evictions, dropped } = setup('conflate', 2);
    hub.publish('t', 'A=1', { key: 'A' });
    hub.publish('t', 'B=1', { key: 'B' });
    hub.publish('t', 'C=1', { key: 'C' });
    expect(hub.publish('t', 'D=1', { key: 'D' })).toEqual({ recipients: 2, queued: 1, dropped: 0, closed: 1 });
    expect(slow.closeCalls).toEqual([{ code: 1008, reason: 'too slow' }]);
    expect(evictions.map((e) => e.topic)).toEqual(['t']);
    expect(dropped()).toEqual([
      ['B=1', 'evicted'],
      ['C=1', 'evicted'],
      ['D=1', 'evicted'],
    ]);
  });

  it('send() conflates by key when the hub\'s sendPolicy is conflate', async () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1, sendPolicy: 'conflate' });
    const a = new FakeConnection();
    hub.add(a);
    hub.send(a, 'cursor 1', { key: 'cursor' });
    hub.send(a, 'cursor 2', { key: 'cursor' });
    hub.send(a, 'cursor 3', { key: 'cursor' });
    await readAll(hub, a);
    expect(a.receivedTexts()).toEqual(['cursor 1', 'cursor 3']);
  });
});

describe('bounded, and never blocking', () => {
  it('writes straight while bufferedAmount is under the low watermark, then holds messages and pumps on drain', async () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 12, maxQueuedBytes: 1000 });
    const a = new FakeConnection();
    hub.add(a);
    for (let n = 0; n < 5; n++) hub.send(a, text(n));
    // 6-byte frames: after two, bufferedAmount is 12, not under 12: the other three wait in the hub.
    expect(a.frames).toHaveLength(2);
    expect(a.bufferedAmount).toBe(12);
    expect(hub.queued(a)).toEqual({ messages: 3, bytes: 18 });
    expect(a.drainCalls).toBe(1);
    a.flush();
    await settle();
    expect(a.frames).toHaveLength(4);
    expect(hub.queued(a)).toEqual({ messages: 1, bytes: 6 });
    a.flush();
    await settle();
    expect(a.frames).toHaveLength(5);
    expect(hub.queued(a).messages).toBe(0);
  });

  it('the hub\'s queue for one connection never holds more than maxQueuedBytes', () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1, maxQueuedBytes: 100, topic: { policy: 'drop-new' } });
    const a = new FakeConnection();
    hub.add(a);
    hub.subscribe(a, 't');
    for (let n = 0; n < 200; n++) {
      hub.publish('t', 'x'.repeat(n % 30));
      expect(hub.queued(a).bytes).toBeLessThanOrEqual(100);
    }
    expect(hub.queued(a).bytes).toBeGreaterThan(70);
  });

  it('a subscriber that never reads does not hold up 100 others, and publish never waits', () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 64, maxQueuedBytes: 1024, topic: { policy: 'drop-new' } });
    const stuck = new FakeConnection();
    const others = Array.from({ length: 100 }, () => new FakeConnection({ fast: true }));
    for (const s of [stuck, ...others]) {
      hub.add(s);
      hub.subscribe(s, 't');
    }
    for (let n = 0; n < 500; n++) hub.publish('t', text(n));
    for (const s of others) expect(s.delivered).toHaveLength(500);
    expect(stuck.frames.length + hub.queued(stuck).messages).toBeLessThan(500);
  });
});
