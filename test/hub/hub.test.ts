import { describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import { InProcessBus } from '../../src/hub/broker.js';
import type { HubConnection, HubDropEvent } from '../../src/hub/types.js';
import { WebSocketError } from '../../src/protocol/errors.js';
import { FakeConnection, settle } from './fake-connection.js';

function expectInvalid(action: () => unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(WebSocketError);
  expect((thrown as WebSocketError).code).toBe('WS_ERR_INVALID_ARGUMENT');
  expect((thrown as WebSocketError).message).toMatch(message);
}

describe('Hub: connections', () => {
  it('gives each connection a UUID id, finds it by id, and counts it', () => {
    const hub = new Hub<FakeConnection>();
    const a = new FakeConnection();
    const b = new FakeConnection();
    const idA = hub.add(a);
    const idB = hub.add(b);
    expect(idA).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(idB).not.toBe(idA);
    expect(hub.add(a)).toBe(idA);
    expect(hub.id(a)).toBe(idA);
    expect(hub.get(idB)).toBe(b);
    expect(hub.size).toBe(2);
    expect([...hub.connections()]).toEqual([a, b]);
    expect(hub.has(a)).toBe(true);
  });

  it('remove() takes a connection out of every topic; re-adding it keeps its id', () => {
    const hub = new Hub<FakeConnection>();
    const a = new FakeConnection();
    const id = hub.add(a);
    hub.subscribe(a, 'x');
    hub.subscribe(a, 'y');
    expect(hub.remove(a)).toBe(true);
    expect(hub.remove(a)).toBe(false);
    expect(hub.has(a)).toBe(false);
    expect(hub.get(id)).toBeUndefined();
    expect(hub.count('x')).toBe(0);
    expect(hub.count('y')).toBe(0);
    expect(hub.topics()).toEqual([]);
    expect(hub.add(a)).toBe(id);
    expect(hub.topicsOf(a).size).toBe(0);
  });

  it('a connection that closes leaves every topic and the hub by itself', async () => {
    const bus = new InProcessBus();
    const hub = new Hub<FakeConnection>({ broker: bus.broker() });
    const a = new FakeConnection();
    const b = new FakeConnection();
    hub.add(a);
    hub.add(b);
    hub.subscribe(a, 'x');
    hub.subscribe(a, 'y');
    hub.subscribe(b, 'y');
    expect(bus.subscriberCount('x')).toBe(1);
    a.end(1001, 'going away');
    await settle();
    expect(hub.has(a)).toBe(false);
    expect(hub.size).toBe(1);
    expect(hub.count('x')).toBe(0);
    expect([...hub.members('y')]).toEqual([b]);
    expect(hub.topics()).toEqual(['y']);
    // Its hub no longer has members in x, so the broker no longer routes x to it.
    expect(bus.subscriberCount('x')).toBe(0);
    expect(bus.subscriberCount('y')).toBe(1);
  });

  it('messages still queued in the hub when a connection closes are reported as dropped, with the message', async () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1 });
    const drops: HubDropEvent<FakeConnection>[] = [];
    hub.on('drop', (event) => drops.push(event));
    const a = new FakeConnection();
    hub.add(a);
    hub.subscribe(a, 't');
    hub.publish('t', 'first'); // written: bufferedAmount was 0
    hub.publish('t', 'second'); // queued in the hub: bufferedAmount is above the watermark
    hub.send(a, 'third');
    expect(hub.queued(a)).toEqual({ messages: 2, bytes: 8 + 7 });
    a.end();
    await settle();
    // 'first' was accepted by the connection but lost with it; the other two never left the hub.
    expect(drops.map((d) => [d.topic, Buffer.from(d.payload).toString(), d.reason, d.bytes, d.isText])).toEqual([
      ['t', 'first', 'closed', 7, true],
      ['t', 'second', 'closed', 8, true],
      [null, 'third', 'closed', 7, true],
    ]);
    expect(drops.every((d) => d.connection === a && d.key === undefined)).toBe(true);
    expect(hub.queued(a)).toEqual({ messages: 0, bytes: 0 });
  });

  it('a connection added after it closed leaves again at once', async () => {
    const hub = new Hub<FakeConnection>();
    const a = new FakeConnection();
    a.end();
    hub.add(a);
    hub.subscribe(a, 't');
    expect(hub.publish('t', 'x')).toEqual({ recipients: 1, queued: 0, dropped: 1, closed: 0 });
    await settle();
    expect(hub.has(a)).toBe(false);
    expect(hub.count('t')).toBe(0);
  });
});

describe('Hub: topics', () => {
  it('subscribes a connection to any number of topics and counts members per topic', () => {
    const hub = new Hub<FakeConnection>();
    const [a, b, c] = [new FakeConnection(), new FakeConnection(), new FakeConnection()];
    for (const conn of [a, b, c]) hub.add(conn);
    expect(hub.subscribe(a, 'news')).toBe(true);
    expect(hub.subscribe(a, 'news')).toBe(false);
    hub.subscribe(a, 'sports');
    hub.subscribe(b, 'news');
    hub.subscribe(c, 'weather');
    expect(hub.count('news')).toBe(2);
    expect([...hub.members('news')]).toEqual([a, b]);
    expect([...hub.topicsOf(a)]).toEqual(['news', 'sports']);
    expect(hub.topics().sort()).toEqual(['news', 'sports', 'weather']);
    expect(hub.unsubscribe(a, 'news')).toBe(true);
    expect(hub.unsubscribe(a, 'news')).toBe(false);
    expect(hub.count('news')).toBe(1);
    expect(hub.count('nothing')).toBe(0);
    expect(hub.members('nothing').size).toBe(0);
  });

  it('keeps per-topic counters while the topic exists, and for a configured topic without members', () => {
    const hub = new Hub<FakeConnection>();
    const a = new FakeConnection({ fast: true });
    hub.add(a);
    hub.subscribe(a, 't');
    hub.publish('t', 'x');
    expect(hub.stats('t')).toEqual({ subscribers: 1, published: 1, dropped: 0, evicted: 0 });
    hub.unsubscribe(a, 't');
    expect(hub.stats('t')).toBeUndefined();
    hub.configure('kept', { policy: 'drop-new' });
    expect(hub.stats('kept')).toEqual({ subscribers: 0, published: 0, dropped: 0, evicted: 0 });
    hub.publish('kept', 'nobody hears this');
    expect(hub.stats('kept')).toEqual({ subscribers: 0, published: 1, dropped: 0, evicted: 0 });
    hub.configure('kept');
    expect(hub.stats('kept')).toBeUndefined();
  });

  it('publish to a topic nobody subscribed to reaches nobody and says so', () => {
    const hub = new Hub<FakeConnection>();
    expect(hub.publish('empty', 'x')).toEqual({ recipients: 0, queued: 0, dropped: 0, closed: 0 });
  });
});

describe('Hub: bad input gets a clear error', () => {
  it('rejects bad options, naming the option', () => {
    expectInvalid(() => new Hub({ maxQueuedBytes: -1 }), /maxQueuedBytes must be an integer from 0/);
    expectInvalid(() => new Hub({ lowWatermark: 0 }), /lowWatermark must be an integer from 1/);
    expectInvalid(() => new Hub({ deflateThreshold: 1.5 }), /deflateThreshold/);
    expectInvalid(() => new Hub({ deflateLevel: 10 }), /deflateLevel must be an integer from 0 to 9/);
    expectInvalid(() => new Hub({ deflateMemLevel: 0 }), /deflateMemLevel must be an integer from 1 to 9/);
    expectInvalid(() => new Hub({ sendPolicy: 'ignore' as never }), /sendPolicy must be one of close, drop-new, drop-oldest, conflate/);
    expectInvalid(() => new Hub({ topic: { policy: 'x' as never } }), /topic.policy/);
    expectInvalid(() => new Hub({ topic: { noContextTakeover: 1 as never } }), /topic.noContextTakeover must be a boolean/);
    expectInvalid(() => new Hub({ onError: 'log' as never }), /onError must be a function/);
    const hub = new Hub();
    expectInvalid(() => hub.configure('t', { policy: 'slow' as never }), /options of topic "t".policy/);
  });

  it('rejects what is not a connection, a topic, a key or a message', () => {
    const hub = new Hub<HubConnection>();
    const a = new FakeConnection();
    expectInvalid(() => hub.add({} as HubConnection), /not a connection/);
    expectInvalid(() => hub.subscribe(a, 't'), /not in this hub/);
    expectInvalid(() => hub.send(a, 'x'), /not in this hub/);
    hub.add(a);
    expectInvalid(() => hub.subscribe(a, 42 as never), /topic must be a string/);
    expectInvalid(() => hub.publish('t', 'x', { key: 7 as never }), /key must be a string/);
    expectInvalid(() => hub.publish('t', 12 as never), /must be a string, a Uint8Array/);
    expectInvalid(() => hub.on('message' as never, () => {}), /unknown hub event/);
    hub.remove(a);
    expectInvalid(() => hub.send(a, 'x'), /not in this hub/);
  });

  it('after close(), the hub refuses work and has let go of its connections', async () => {
    const hub = new Hub<FakeConnection>();
    const a = new FakeConnection();
    hub.add(a);
    hub.subscribe(a, 't');
    await hub.close();
    await hub.close();
    expect(hub.size).toBe(0);
    expect(hub.count('t')).toBe(0);
    expect(a.readyState).toBe('open');
    expectInvalid(() => hub.publish('t', 'x'), /the hub is closed/);
    expectInvalid(() => hub.add(a), /the hub is closed/);
  });
});
