/**
 * RedisBroker's own behaviour beyond the Broker contract, on a real redis-server: options and their
 * bounds, a broker that cannot reach Redis from the start, subscriptions in batches (counted by
 * Redis' own command statistics), the keys and their TTLs, idempotency keys forgotten as their
 * entries are trimmed, and the epoch of a topic never appended to.
 */

import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocketError } from 'rfc6455';
import type { BrokerMessage } from 'rfc6455/hub';
import { freshTopic, RecordingNode } from '../../test/hub/broker-contract.js';
import { describeWithPeer } from '../../test/interop/peers.js';
import { refusedPort } from '../../test/node/helpers.js';
import { RedisBroker } from '../src/index.js';
import { topicKeys } from '../src/keys.js';
import { FAST } from './nodes.js';
import { redisCli, redisPeer, startRedis, type RedisServer } from './redis-server.js';

function text(topic: string, value: string): BrokerMessage {
  return { topic, payload: Buffer.from(value), opcode: 0x1, key: undefined };
}

async function code(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => (error instanceof WebSocketError ? error.code : String(error)),
  );
}

it('checks its options', () => {
  const bad: unknown[] = [
    { url: 'redis://x', cluster: ['redis://y'] },
    { cluster: [] },
    { url: 'localhost:6379' },
    { url: 'http://127.0.0.1:6379' },
    { cluster: ['redis://a:1', 42] },
    { prefix: 'a{b}' },
    { commandTimeout: 5 },
    { connectTimeout: 600_001 },
    { heartbeatInterval: 1.5 },
    { emptyStreamTtl: -1 },
    { reconnect: { maxDelay: 1 } },
  ];
  for (const options of bad) {
    expect(() => new RedisBroker(options as never), JSON.stringify(options)).toThrow(WebSocketError);
  }
});

it('cannot reach Redis: down, publishes reported, appends and reads rejected, subscribe waits, close ends it all', async () => {
  const broker = new RedisBroker({ url: `redis://127.0.0.1:${await refusedPort()}`, ...FAST });
  const node = new RecordingNode();
  broker.start(node);
  expect(broker.state).toBe('down');
  const message = text('t', 'nowhere');
  broker.publish(message);
  await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));
  expect(node.unpublishedMessages).toEqual([message]);
  expect(await code(broker.append(message, { history: { size: 5, ttl: 0 } }))).toBe('WS_ERR_UNAVAILABLE');
  expect(await code(broker.history('t', undefined, 10))).toBe('WS_ERR_UNAVAILABLE');
  let subscribed = false;
  const subscribing = broker.subscribe('t').then(() => (subscribed = true));
  const ready = code(broker.ready());
  await broker.close();
  await subscribing;
  expect(subscribed).toBe(true);
  expect(await ready).toBe('WS_ERR_UNAVAILABLE');
  expect(node.states).toEqual([]);
  expect(() => broker.start(new RecordingNode())).toThrow(WebSocketError);
});

describeWithPeer(redisPeer, 'RedisBroker on one Redis, beyond the contract', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function started(): Promise<{ broker: RedisBroker; node: RecordingNode }> {
    const broker = new RedisBroker({ url: server.url });
    await broker.ready();
    const node = new RecordingNode();
    broker.start(node);
    return { broker, node };
  }

  async function calls(command: string): Promise<number> {
    const stats = await redisCli(server.port, 'info', 'commandstats');
    return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  }

  it('subscribes the topics of one event-loop turn in one SUBSCRIBE, and unsubscribes them in one UNSUBSCRIBE', async () => {
    const { broker } = await started();
    try {
      const topics = Array.from({ length: 50 }, (_, i) => freshTopic(`batch-${i}`));
      const [subscribes, unsubscribes] = [await calls('subscribe'), await calls('unsubscribe')];
      await Promise.all(topics.map((topic) => broker.subscribe(topic)));
      expect(await calls('subscribe')).toBe(subscribes + 1);
      const channels = topics.map((topic) => topicKeys('rfc6455', topic).channel);
      const counts = (await redisCli(server.port, 'pubsub', 'numsub', ...channels)).split('\n').filter((_, i) => i % 2 === 1);
      expect(counts).toEqual(topics.map(() => '1'));
      await Promise.all(topics.map((topic) => broker.unsubscribe(topic)));
      for (let i = 0; i < 200 && (await calls('unsubscribe')) === unsubscribes; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await calls('unsubscribe')).toBe(unsubscribes + 1);
    } finally {
      await broker.close();
    }
  });

  it('keeps a stream in three keys of one hash tag, refreshes their TTL on each append, forgets trimmed idempotency keys', async () => {
    const { broker } = await started();
    try {
      const topic = freshTopic('keys');
      const keys = topicKeys('rfc6455', topic);
      const history = { size: 2, ttl: 60_000 };
      const first = await broker.append(text(topic, 'one'), { history, idempotencyKey: 'u1' });
      await broker.append(text(topic, 'two'), { history, idempotencyKey: 'u2' });
      expect(await redisCli(server.port, 'hgetall', keys.meta)).toBe(`epoch\n${first.position.epoch}\noffset\n2`);
      expect(await redisCli(server.port, 'xlen', keys.stream)).toBe('2');
      expect(await redisCli(server.port, 'hlen', keys.ids)).toBe('2');
      for (const key of [keys.meta, keys.stream, keys.ids]) expect(Number(await redisCli(server.port, 'pttl', key))).toBeGreaterThan(50_000);
      // u1 is still kept: a duplicate. Then a third append trims 'one': u1 is forgotten with it.
      expect(await broker.append(text(topic, 'one again'), { history, idempotencyKey: 'u1' })).toEqual({ position: first.position, duplicate: true });
      await broker.append(text(topic, 'three'), { history, idempotencyKey: 'u3' });
      expect(await redisCli(server.port, 'hkeys', keys.ids)).toBe('u2\nu3');
      expect(await broker.append(text(topic, 'one, later'), { history, idempotencyKey: 'u1' })).toEqual({
        position: { epoch: first.position.epoch, offset: 4 },
        duplicate: false,
      });
      expect(await redisCli(server.port, 'xrange', keys.stream, '-', '+')).toContain('4-0');
      // ttl 0: the keys live until trimmed, no expiry.
      await broker.append(text(topic, 'forever'), { history: { size: 2, ttl: 0 } });
      for (const key of [keys.meta, keys.stream, keys.ids]) expect(await redisCli(server.port, 'pttl', key)).toBe('-1');
    } finally {
      await broker.close();
    }
  });

  it('a history of size 0 keeps nothing but still counts offsets and delivers', async () => {
    const { broker, node } = await started();
    try {
      const topic = freshTopic('size0');
      await broker.subscribe(topic);
      const history = { size: 0, ttl: 0 };
      const one = await broker.append(text(topic, 'a'), { history, idempotencyKey: 'k' });
      const two = await broker.append(text(topic, 'b'), { history, idempotencyKey: 'k' });
      expect([one.position.offset, two.position.offset, two.duplicate]).toEqual([1, 2, false]);
      expect(await node.received(2)).toHaveLength(2);
      const page = await broker.history(topic, one.position, 10);
      expect(page).toEqual({ messages: [], position: two.position, complete: false });
      expect((await broker.history(topic, two.position, 10)).complete).toBe(true);
    } finally {
      await broker.close();
    }
  });

  it('the epoch that history() gives a topic never appended to lasts emptyStreamTtl', async () => {
    const broker = new RedisBroker({ url: server.url, emptyStreamTtl: 50 });
    await broker.ready();
    broker.start(new RecordingNode());
    try {
      const topic = freshTopic('empty');
      const first = await broker.history(topic, undefined, 10);
      expect(first).toMatchObject({ messages: [], complete: true, position: { offset: 0 } });
      expect((await broker.history(topic, first.position, 10)).position).toEqual(first.position);
      let page = first;
      for (let i = 0; i < 400 && page.position.epoch === first.position.epoch; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        page = await broker.history(topic, undefined, 10);
      }
      expect(page.position.epoch).not.toBe(first.position.epoch);
    } finally {
      await broker.close();
    }
  });

  it('binary payloads with newlines and every byte value cross unchanged, in history too', async () => {
    const { broker: a } = await started();
    const { broker: b, node } = await started();
    try {
      const topic = freshTopic('bytes');
      await b.subscribe(topic);
      const payload = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      a.publish({ topic, payload, opcode: 0x2, key: undefined });
      await a.append({ topic, payload, opcode: 0x2, key: undefined }, { history: { size: 5, ttl: 0 } });
      const [published, appended] = await node.received(2);
      expect(Buffer.from(published!.payload).equals(payload)).toBe(true);
      expect(Buffer.from(appended!.payload).equals(payload)).toBe(true);
      const [kept] = (await a.history(topic, undefined, 5)).messages;
      expect([Buffer.from(kept!.payload).equals(payload), kept!.opcode]).toEqual([true, 0x2]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('reports a message on its channel that it did not write, and goes on', async () => {
    const errors: unknown[] = [];
    const broker = new RedisBroker({ url: server.url, onError: (error) => errors.push(error) });
    await broker.ready();
    const node = new RecordingNode();
    broker.start(node);
    try {
      const topic = freshTopic('foreign');
      await broker.subscribe(topic);
      await redisCli(server.port, 'publish', topicKeys('rfc6455', topic).channel, 'not ours');
      const { broker: other } = await started();
      other.publish(text(topic, 'ours'));
      expect((await node.received(1)).map((m) => Buffer.from(m.payload).toString())).toEqual(['ours']);
      expect(errors).toHaveLength(1);
      await other.close();
    } finally {
      await broker.close();
    }
  });
});
