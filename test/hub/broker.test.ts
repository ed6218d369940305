import { describe, expect, it } from 'vitest';
import { InProcessBroker, InProcessBus, type Appended, type Broker, type BrokerMessage, type BrokerNode, type HistoryPage } from '../../src/hub/broker.js';
import { Hub } from '../../src/hub/hub.js';
import type { HubDropEvent } from '../../src/hub/types.js';
import { FakeConnection, settle } from './fake-connection.js';

/** A broker that records what the hub asks of it and lets the test deliver "remote" messages. */
class RecordingBroker implements Broker {
  readonly calls: string[] = [];
  readonly published: BrokerMessage[] = [];
  readonly state = 'up' as const;
  node: BrokerNode | undefined;
  deliver(message: BrokerMessage): void {
    this.node!.deliver(message);
  }
  start(node: BrokerNode): void {
    this.calls.push('start');
    this.node = node;
  }
  publish(message: BrokerMessage): void {
    this.published.push(message);
  }
  append(): Promise<Appended> {
    return Promise.reject(new Error('not used here'));
  }
  history(): Promise<HistoryPage> {
    return Promise.reject(new Error('not used here'));
  }
  subscribe(topic: string): Promise<void> {
    this.calls.push(`subscribe ${topic}`);
    return Promise.resolve();
  }
  unsubscribe(topic: string): Promise<void> {
    this.calls.push(`unsubscribe ${topic}`);
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.calls.push('close');
    return Promise.resolve();
  }
}

function member(hub: Hub<FakeConnection>, ...topics: string[]): FakeConnection {
  const conn = new FakeConnection({ fast: true });
  hub.add(conn);
  for (const topic of topics) hub.subscribe(conn, topic);
  return conn;
}

describe('the broker seam', () => {
  it('the hub subscribes its broker to a topic on its first member and unsubscribes after its last', async () => {
    const broker = new RecordingBroker();
    const hub = new Hub<FakeConnection>({ broker });
    const a = member(hub, 'x');
    const b = member(hub, 'x', 'y');
    hub.unsubscribe(a, 'x');
    hub.unsubscribe(b, 'x');
    hub.subscribe(a, 'x');
    b.end();
    await settle();
    await hub.close();
    expect(broker.calls).toEqual([
      'start',
      'subscribe x',
      'subscribe y',
      'unsubscribe x',
      'subscribe x',
      'unsubscribe y',
      'unsubscribe x',
      'close',
    ]);
  });

  it('hands every publish to the broker, unframed and uncompressed, with its opcode and key', () => {
    const broker = new RecordingBroker();
    const hub = new Hub<FakeConnection>({ broker });
    hub.publish('t', 'Hello', { key: 'k' });
    hub.publish('t', new Uint8Array([1, 2]));
    expect(
      broker.published.map((m) => [m.topic, Buffer.from(m.payload).toString('hex'), m.opcode, m.key]),
    ).toEqual([
      ['t', '48656c6c6f', 1, 'k'],
      ['t', '0102', 2, undefined],
    ]);
  });

  it('delivers what the broker brings from other hubs to local subscribers, with the topic\'s policy', () => {
    const broker = new RecordingBroker();
    const hub = new Hub<FakeConnection>({ broker, lowWatermark: 1, maxQueuedBytes: 0, topic: { policy: 'drop-new' } });
    const fast = member(hub, 't');
    const slow = new FakeConnection();
    hub.add(slow);
    hub.subscribe(slow, 't');
    const drops: HubDropEvent<FakeConnection>[] = [];
    hub.on('drop', (event) => drops.push(event));
    broker.deliver!({ topic: 't', payload: Buffer.from('remote 1'), opcode: 0x1, key: undefined });
    broker.deliver!({ topic: 't', payload: Buffer.from([7]), opcode: 0x2, key: 'k' });
    expect(fast.frames.map((f) => Buffer.from(f.frame).toString('hex'))).toEqual(['810872656d6f74652031', '820107']);
    expect(drops.map((d) => [d.reason, d.key, d.isText])).toEqual([['drop-new', 'k', false]]);
    expect(hub.stats('t')).toMatchObject({ published: 2, dropped: 1 });
    // Nothing from another hub goes back out through the broker.
    expect(broker.published).toEqual([]);
  });
});

describe('InProcessBroker', () => {
  it('carries publishes between hubs on one bus: each subscriber gets a message exactly once', () => {
    const bus = new InProcessBus();
    const hubA = new Hub<FakeConnection>({ broker: bus.broker() });
    const hubB = new Hub<FakeConnection>({ broker: bus.broker() });
    const a1 = member(hubA, 'room');
    const a2 = member(hubA, 'room');
    const b1 = member(hubB, 'room');
    // The result counts this hub's subscribers; the other hub's are its own to report.
    expect(hubA.publish('room', 'from A', { except: a1 })).toEqual({ recipients: 1, queued: 1, dropped: 0, closed: 0 });
    hubB.publish('room', 'from B');
    expect(a1.sentTexts()).toEqual(['from B']);
    expect(a2.sentTexts()).toEqual(['from A', 'from B']);
    expect(b1.sentTexts()).toEqual(['from A', 'from B']);
  });

  it('routes a topic only to hubs that have members in it', () => {
    const bus = new InProcessBus();
    const hubA = new Hub<FakeConnection>({ broker: bus.broker() });
    const hubB = new Hub<FakeConnection>({ broker: bus.broker() });
    hubB.configure('quiet', {}); // counters exist, so a delivery would show
    const b = member(hubB, 'busy');
    member(hubA, 'busy');
    expect(bus.subscriberCount('busy')).toBe(2);
    expect(bus.subscriberCount('quiet')).toBe(0);
    hubA.publish('quiet', 'nobody on B listens');
    expect(hubB.stats('quiet')!.published).toBe(0);
    hubB.unsubscribe(b, 'busy');
    expect(bus.subscriberCount('busy')).toBe(1);
  });

  it('a closed hub leaves the bus', async () => {
    const bus = new InProcessBus();
    const hubA = new Hub<FakeConnection>({ broker: bus.broker() });
    const hubB = new Hub<FakeConnection>({ broker: bus.broker() });
    member(hubA, 't');
    const b = member(hubB, 't');
    await hubA.close();
    expect(bus.subscriberCount('t')).toBe(1);
    hubB.publish('t', 'still works');
    expect(b.sentTexts()).toEqual(['still works']);
  });

  it('serves one hub only', () => {
    const broker = new InProcessBroker();
    new Hub({ broker });
    expect(() => new Hub({ broker })).toThrow(/already serves a hub/);
  });
});
