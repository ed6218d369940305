import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import type { HubDropEvent } from '../../src/hub/types.js';
import { FakeConnection, decodeFrame, settle } from './fake-connection.js';

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

describe('publish: encode once', () => {
  it('frames a message once and hands the same bytes to every subscriber (RFC 6455 5.7 "Hello")', () => {
    const hub = new Hub<FakeConnection>();
    const subscribers = Array.from({ length: 5 }, () => new FakeConnection({ fast: true }));
    for (const s of subscribers) {
      hub.add(s);
      hub.subscribe(s, 'greetings');
    }
    hub.publish('greetings', 'Hello');
    const first = subscribers[0]!.frames[0]!;
    expect(hexOf(first.frame)).toBe('810548656c6c6f');
    for (const s of subscribers) {
      expect(s.frames).toHaveLength(1);
      expect(s.frames[0]).toBe(first);
    }
  });

  it('sends bytes as binary (opcode 2) and strings as UTF-8 text', () => {
    const hub = new Hub<FakeConnection>();
    const a = new FakeConnection({ fast: true });
    hub.add(a);
    hub.subscribe(a, 't');
    hub.publish('t', new Uint8Array([1, 2, 3]));
    hub.publish('t', new Uint8Array([9, 8, 7, 6]).buffer);
    hub.publish('t', new DataView(new Uint8Array([0, 5, 5, 0]).buffer, 1, 2));
    hub.publish('t', 'héllo €');
    expect(a.frames.map((f) => hexOf(f.frame))).toEqual([
      '8203010203',
      '820409080706',
      '82020505',
      '810a68c3a96c6c6f20e282ac',
    ]);
  });

  it('copies the message: changing the buffer after publish changes nothing sent', () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1 });
    const a = new FakeConnection();
    hub.add(a);
    hub.subscribe(a, 't');
    const data = new Uint8Array([1, 1]);
    hub.publish('t', data);
    hub.publish('t', data); // queued in the hub
    data[0] = 7;
    a.flush();
    return settle().then(() => {
      a.flush();
      expect(a.delivered.map((f) => hexOf(f.frame))).toEqual(['82020101', '82020101']);
    });
  });

  it('except: every subscriber but one gets the message, and it is not counted as a recipient', () => {
    const hub = new Hub<FakeConnection>();
    const [sender, b, c] = [0, 1, 2].map(() => new FakeConnection({ fast: true })) as [FakeConnection, FakeConnection, FakeConnection];
    for (const s of [sender, b, c]) {
      hub.add(s);
      hub.subscribe(s, 'room');
    }
    expect(hub.publish('room', 'hi', { except: sender })).toEqual({ recipients: 2, queued: 2, dropped: 0, closed: 0 });
    expect(sender.frames).toHaveLength(0);
    expect(b.sentTexts()).toEqual(['hi']);
    expect(c.sentTexts()).toEqual(['hi']);
  });

  it('send() reaches one connection only', () => {
    const hub = new Hub<FakeConnection>();
    const [a, b] = [new FakeConnection({ fast: true }), new FakeConnection({ fast: true })];
    hub.add(a);
    hub.add(b);
    hub.subscribe(a, 't');
    hub.subscribe(b, 't');
    expect(hub.send(a, 'just you')).toBe('queued');
    expect(a.sentTexts()).toEqual(['just you']);
    expect(b.frames).toHaveLength(0);
  });
});

describe('publish: honest results', () => {
  it('counts queued, dropped and closed subscribers, synchronously, and they add up to recipients', () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1, maxQueuedBytes: 10 });
    hub.configure('t', { policy: 'drop-new' });
    const fast = new FakeConnection({ fast: true });
    const slow = new FakeConnection();
    const closing = new FakeConnection();
    for (const s of [fast, slow, closing]) {
      hub.add(s);
      hub.subscribe(s, 't');
    }
    void closing.close(1000);
    // slow: the first is written, the second (7 bytes) queued, the third would pass 10 bytes.
    expect(hub.publish('t', 'aaaaa')).toEqual({ recipients: 3, queued: 2, dropped: 1, closed: 0 });
    expect(hub.publish('t', 'bbbbb')).toEqual({ recipients: 3, queued: 2, dropped: 1, closed: 0 });
    expect(hub.publish('t', 'ccccc')).toEqual({ recipients: 3, queued: 1, dropped: 2, closed: 0 });
    expect(hub.stats('t')).toEqual({ subscribers: 3, published: 3, dropped: 4, evicted: 0 });
  });

  it('counts a subscriber the policy closed under closed (Bun #32889: never report success when nobody got it)', () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1, maxQueuedBytes: 0 });
    const slow = new FakeConnection();
    hub.add(slow);
    hub.subscribe(slow, 't');
    expect(hub.publish('t', 'one')).toEqual({ recipients: 1, queued: 1, dropped: 0, closed: 0 });
    expect(hub.publish('t', 'two')).toEqual({ recipients: 1, queued: 0, dropped: 0, closed: 1 });
    expect(hub.publish('t', 'three')).toEqual({ recipients: 0, queued: 0, dropped: 0, closed: 0 });
  });

  it('accounts for every message and subscriber exactly once: delivered, or one drop event', async () => {
    // Any mix of publishes, sends, reads, closes and unsubscribes: each (message, connection) pair
    // the hub accepted ends up in the connection's delivered frames or in exactly one drop event.
    const op = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('publish' as const), topic: fc.constantFrom('a', 'b'), size: fc.nat(40) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('send' as const), to: fc.nat(3), size: fc.nat(40) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('flush' as const), who: fc.nat(3) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('settle' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), who: fc.nat(3) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('end' as const), who: fc.nat(3) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('unsubscribe' as const), who: fc.nat(3), topic: fc.constantFrom('a', 'b') }) },
    );
    const policy = fc.constantFrom('close' as const, 'drop-new' as const, 'drop-oldest' as const, 'conflate' as const);
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 80 }), policy, policy, async (ops, policyA, policyB) => {
        const hub = new Hub<FakeConnection>({ lowWatermark: 40, maxQueuedBytes: 120, sendPolicy: 'drop-oldest' });
        hub.configure('a', { policy: policyA });
        hub.configure('b', { policy: policyB });
        // Two settle each frame on its own, two settle a flush's frames with one promise (as Ws does).
        const conns = [0, 1, 2, 3].map((i) => new FakeConnection({ batched: i >= 2 }));
        for (const c of conns) {
          hub.add(c);
          hub.subscribe(c, 'a');
          hub.subscribe(c, 'b');
        }
        const drops: HubDropEvent<FakeConnection>[] = [];
        hub.on('drop', (event) => drops.push(event));
        const expected = new Map<FakeConnection, Set<string>>(conns.map((c) => [c, new Set()]));
        let n = 0;
        for (const o of ops) {
          if (o.kind === 'publish') {
            const text = `${n++}:`.padEnd(o.size + 4, 'x');
            const members = [...hub.members(o.topic)];
            const result = hub.publish(o.topic, text, { key: String(n % 3) });
            expect(result.queued + result.dropped + result.closed).toBe(result.recipients);
            expect(result.recipients).toBe(members.length);
            for (const m of members) expected.get(m)!.add(text);
          } else if (o.kind === 'send') {
            const c = conns[o.to]!;
            if (!hub.has(c) && c.readyState === 'open') continue;
            const text = `${n++}:`.padEnd(o.size + 4, 'y');
            hub.send(c, text);
            expected.get(c)!.add(text);
          } else if (o.kind === 'flush') conns[o.who]!.flush();
          else if (o.kind === 'settle') await settle();
          else if (o.kind === 'close') void conns[o.who]!.close(1000);
          else if (o.kind === 'end') conns[o.who]!.end();
          else hub.unsubscribe(conns[o.who]!, o.topic);
        }
        for (const c of conns) c.end();
        await settle();
        for (const c of conns) {
          const received = c.receivedTexts();
          const lost = drops.filter((d) => d.connection === c).map((d) => Buffer.from(d.payload).toString());
          expect(new Set(received).size).toBe(received.length);
          expect(new Set(lost).size).toBe(lost.length);
          expect([...received, ...lost].sort()).toEqual([...expected.get(c)!].sort());
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('publish: the frames peers read', () => {
  it('are whole, unmasked, final frames whose header matches their length', () => {
    const hub = new Hub<FakeConnection>();
    const a = new FakeConnection({ fast: true });
    hub.add(a);
    hub.subscribe(a, 't');
    for (const size of [0, 125, 126, 65535, 65536]) hub.publish('t', 'z'.repeat(size));
    expect(a.frames.map((f) => decodeFrame(f, null).data.length)).toEqual([0, 125, 126, 65535, 65536]);
  });
});
