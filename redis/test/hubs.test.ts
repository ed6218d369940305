/**
 * Two hubs, each with its own WebSocketServer and RedisBroker on one real Redis, and real client
 * connections on each: publishes, appends and recovery cross between them, `except` holds across
 * nodes, and concurrent appends from both nodes reach every client in one order, the offsets'.
 */

import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { BrokerMessage } from 'rfc6455/hub';
import { freshTopic } from '../../test/hub/broker-contract.js';
import { describeWithPeer } from '../../test/interop/peers.js';
import { startNode, type TestNode } from './nodes.js';
import { redisCli, redisPeer, startRedis, type RedisServer } from './redis-server.js';

/** Stream messages as clients see them: `<offset>:<text>`. */
const renderStream = (message: BrokerMessage): string => `${message.position!.offset}:${Buffer.from(message.payload).toString()}`;

describeWithPeer(redisPeer, 'two hubs through Redis', () => {
  let server: RedisServer;
  let nodes: TestNode[] = [];
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    nodes = [];
  });

  async function twoNodes(): Promise<[TestNode, TestNode]> {
    nodes = await Promise.all([
      startNode('A', { url: server.url, hub: { renderStream } }),
      startNode('B', { url: server.url, hub: { renderStream } }),
    ]);
    return nodes as [TestNode, TestNode];
  }

  it('publish, append and recover cross between the hubs; except skips the sender on its node only', async () => {
    const [a, b] = await twoNodes();
    const topic = freshTopic('room');
    const { client: a1, ws: a1ws } = await a.client(topic);
    const { client: a2 } = await a.client(topic);
    const { client: b1 } = await b.client(topic);

    // A publish: A's own subscribers at once (the result counts them), B's through Redis.
    expect(a.hub.publish(topic, 'hello')).toEqual({ recipients: 2, queued: 2, dropped: 0, closed: 0 });
    // An append by A for everybody but a1 (its sender), on both nodes; then one by B.
    const first = await a.hub.append(topic, 'from a1', { except: a1ws });
    const second = await b.hub.append(topic, 'from b');
    expect([first.position.offset, second.position.offset, second.position.epoch]).toEqual([1, 2, first.position.epoch]);

    expect(await a1.received(2)).toEqual(['hello', '2:from b']);
    expect(await a2.received(3)).toEqual(['hello', '1:from a1', '2:from b']);
    expect(await b1.received(3)).toEqual(['hello', '1:from a1', '2:from b']);

    // A client that saw offset 1 comes back on the other node: it gets what it missed, then live messages.
    const { client: back, ws: backWs } = await b.client();
    const result = await b.hub.recover(backWs, topic, first.position, { notice: (r) => `recovered ${r.recovered} ${r.missed}` });
    expect(result).toEqual({ recovered: true, missed: 1, position: second.position });
    await a.hub.append(topic, 'live');
    expect(await back.received(3)).toEqual(['2:from b', 'recovered true 1', '3:live']);
    // From a position of another epoch, nothing can be trusted: recovered false.
    const { ws: lostWs } = await a.client();
    expect(await a.hub.recover(lostWs, topic, { epoch: 'gone', offset: 2 })).toMatchObject({ recovered: false, missed: 0 });
    expect(a.events('unpublished')).toEqual([]);
    expect(a.events('lost')).toEqual([]);
  });

  it('only nodes with members in a topic subscribe to it, and stop when the last member leaves', async () => {
    const [a, b] = await twoNodes();
    const topic = freshTopic('members');
    const { client: a1 } = await a.client(topic);
    const { client: b1, ws: b1ws } = await b.client(topic);
    const channel = `rfc6455:{${topic}}:messages`;
    const subscribers = async (): Promise<number> => Number((await redisCli(server.port, 'pubsub', 'numsub', channel)).split('\n')[1]);
    expect(await subscribers()).toBe(2);
    b.hub.unsubscribe(b1ws, topic);
    // The unsubscribe goes out in the next batch: poll Redis' count, bounded.
    for (let i = 0; i < 200 && (await subscribers()) !== 1; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await subscribers()).toBe(1);
    await b.hub.append(topic, 'only a');
    expect(await a1.received(1)).toEqual(['1:only a']);
    await a.hub.append(topic, 'again');
    expect(await a1.received(2)).toEqual(['1:only a', '2:again']);
    expect(b1.texts).toEqual([]);
  });

  it('concurrent appends from both nodes reach every client in offset order, the same on both nodes', async () => {
    const [a, b] = await twoNodes();
    const topic = freshTopic('race');
    const clients = [(await a.client(topic)).client, (await a.client(topic)).client, (await b.client(topic)).client, (await b.client(topic)).client];
    const PER_NODE = 100;
    const appended = await Promise.all(
      Array.from({ length: PER_NODE * 2 }, (_, i) => (i % 2 === 0 ? a : b).hub.append(topic, `${i % 2 === 0 ? 'a' : 'b'}${i >> 1}`, { history: { size: 1000, ttl: 0 } })),
    );
    const offsets = appended.map((r) => r.position.offset).sort((x, y) => x - y);
    expect(offsets).toEqual(Array.from({ length: PER_NODE * 2 }, (_, i) => i + 1));
    const seen = await Promise.all(clients.map((client) => client.received(PER_NODE * 2)));
    for (const texts of seen) {
      expect(texts).toEqual(seen[0]);
      expect(texts.map((text) => Number(text.split(':')[0]))).toEqual(offsets);
    }
    // Each node's own appends stay in the order it made them.
    for (const prefix of ['a', 'b']) {
      const mine = seen[0]!.map((text) => text.split(':')[1]!).filter((text) => text.startsWith(prefix));
      expect(mine).toEqual(Array.from({ length: PER_NODE }, (_, i) => `${prefix}${i}`));
    }
  });
});
