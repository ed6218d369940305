/**
 * RedisBroker against the Broker contract on a local three-node Redis Cluster that the test makes
 * (`redis-server --cluster-enabled yes` x3, `redis-cli --cluster create`), stopped by PID after:
 * sharded pub/sub (SSUBSCRIBE/SPUBLISH on each topic's slot) and hash-tagged keys.
 */

import { afterAll, beforeAll, expect, it } from 'vitest';
import { describePresenceContract } from '../../chat/test/contracts/presence-contract.js';
import { describeBrokerContract, freshTopic, RecordingNode } from '../../test/hub/broker-contract.js';
import { describeWithPeer } from '../../test/interop/peers.js';
import { RedisBroker, RedisPresence } from '../src/index.js';
import { FAST } from './nodes.js';
import { keySlot, topicKeys } from '../src/keys.js';
import { redisCli, redisPeer, startCluster, type RedisClusterProcesses } from './redis-server.js';

describeWithPeer(redisPeer, 'RedisBroker on a three-node Redis Cluster', () => {
  let cluster: RedisClusterProcesses;
  beforeAll(async () => {
    cluster = await startCluster(3);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  async function brokers(count: number): Promise<RedisBroker[]> {
    const made = Array.from({ length: count }, () => new RedisBroker({ cluster: cluster.urls }));
    await Promise.all(made.map((broker) => broker.ready()));
    return made;
  }

  describeBrokerContract('RedisBroker (Redis Cluster)', {
    persistent: true,
    async make(nodes) {
      const made = await brokers(nodes);
      return { brokers: made, close: async () => void (await Promise.all(made.map((broker) => broker.close()))) };
    },
  });

  // The chat's presence on the cluster: each room's keys on its slot, the node registry on {nodes}'s.
  let presenceSystems = 0;
  describePresenceContract('RedisPresence (Redis Cluster)', async (nodes, grace) => {
    const prefix = `cluster-contract${++presenceSystems}`;
    const presences = Array.from({ length: nodes }, () => new RedisPresence({ cluster: cluster.urls, grace, prefix }));
    await Promise.all(presences.map((presence) => presence.ready()));
    return {
      presences,
      settled: async () => void (await Promise.all(presences.map((presence) => presence.idle()))),
      close: async () => void (await Promise.all(presences.map((presence) => presence.close()))),
    };
  });

  /** slot ranges -> the master (host:port) serving them, from CLUSTER SLOTS. */
  async function slotOwners(): Promise<(slot: number) => string> {
    const ranges = JSON.parse(await redisCli(cluster.nodes[0]!.port, '--json', 'cluster', 'slots')) as [number, number, [string, number]][];
    return (slot) => {
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (range === undefined) throw new Error(`no owner for slot ${slot}`);
      return `${range[2][0]}:${range[2][1]}`;
    };
  }

  it('computes the slots Redis computes, hash tags and escaped braces included', async () => {
    for (const topic of ['room', '', '{', '}', 'a}b', '{x}', '%7B', 'ünïcode 🎉']) {
      const keys = topicKeys('rfc6455', topic);
      const slots = [keys.meta, keys.stream, keys.ids, keys.channel].map(keySlot);
      expect(new Set(slots).size).toBe(1);
      expect(Number(await redisCli(cluster.nodes[0]!.port, 'cluster', 'keyslot', keys.meta))).toBe(slots[0]);
    }
  });

  it('serves topics on every shard, each topic on its slot, in order', async () => {
    const owner = await slotOwners();
    // Three topics on each master.
    const perOwner = new Map<string, string[]>();
    for (let i = 0; [...perOwner.values()].filter((topics) => topics.length >= 3).length < 3; i++) {
      if (i > 10_000) throw new Error(`topics land on ${perOwner.size} masters only`);
      const topic = freshTopic(`shard-${i}`);
      const master = owner(keySlot(topicKeys('rfc6455', topic).meta));
      const topics = perOwner.get(master) ?? [];
      if (topics.length < 3) perOwner.set(master, [...topics, topic]);
    }
    const topics = [...perOwner.values()].flat();
    const [a, b] = (await brokers(2)) as [RedisBroker, RedisBroker];
    const nodeA = new RecordingNode();
    const nodeB = new RecordingNode();
    a.start(nodeA);
    b.start(nodeB);
    try {
      await Promise.all(topics.map((topic) => b.subscribe(topic)));
      for (let round = 1; round <= 3; round++) {
        await Promise.all(topics.map((topic) => a.append({ topic, payload: Buffer.from(`${round}`), opcode: 0x1, key: undefined }, { history: { size: 10, ttl: 0 } })));
        for (const topic of topics) a.publish({ topic, payload: Buffer.from(`p${round}`), opcode: 0x1, key: undefined });
      }
      await nodeB.received(topics.length * 6);
      for (const topic of topics) {
        const mine = nodeB.messages.filter((m) => m.topic === topic);
        expect(mine.filter((m) => m.position !== undefined).map((m) => [Buffer.from(m.payload).toString(), m.position?.offset])).toEqual([
          ['1', 1],
          ['2', 2],
          ['3', 3],
        ]);
        expect(mine.filter((m) => m.position === undefined).map((m) => Buffer.from(m.payload).toString())).toEqual(['p1', 'p2', 'p3']);
      }
      expect(nodeA.messages).toEqual([]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describeWithPeer(redisPeer, 'RedisBroker on a Redis Cluster that loses a master', () => {
  let cluster: RedisClusterProcesses;
  beforeAll(async () => {
    cluster = await startCluster(3);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('a master killed: down (the whole session), publishes reported; restarted on its port: up, resubscribed on every shard', async () => {
    const [a, b] = [new RedisBroker({ cluster: cluster.urls, ...FAST }), new RedisBroker({ cluster: cluster.urls, ...FAST })];
    await Promise.all([a.ready(), b.ready()]);
    const nodeA = new RecordingNode();
    const nodeB = new RecordingNode();
    a.start(nodeA);
    b.start(nodeB);
    try {
      // One topic on each master.
      const owner = await slotOwnersOf(cluster);
      const byOwner = new Map<string, string>();
      for (let i = 0; byOwner.size < 3; i++) {
        if (i > 10_000) throw new Error('topics land on fewer than three masters');
        const topic = freshTopic(`failover-${i}`);
        const master = owner(keySlot(topicKeys('rfc6455', topic).meta));
        if (!byOwner.has(master)) byOwner.set(master, topic);
      }
      const victim = cluster.nodes[1]!;
      const victimTopic = byOwner.get(`127.0.0.1:${victim.port}`)!;
      const topics = [...byOwner.values()];
      await Promise.all(topics.map((topic) => b.subscribe(topic)));

      await victim.kill();
      await until(() => nodeA.states.includes('down') && nodeB.states.includes('down'));
      expect(a.state).toBe('down');
      a.publish({ topic: topics[0]!, payload: Buffer.from('during'), opcode: 0x1, key: undefined });
      await until(() => nodeA.unpublishedMessages.length === 1);

      await victim.restart();
      await until(() => nodeA.states.at(-1) === 'up' && nodeB.states.at(-1) === 'up');
      // Every shard's topic crosses again, the restarted one's included (its stream starts a new epoch: no persistence).
      for (const topic of topics) {
        await a.append({ topic, payload: Buffer.from(`after ${topic}`), opcode: 0x1, key: undefined }, { history: { size: 5, ttl: 0 } });
      }
      const received = await nodeB.received(topics.length);
      expect(received.map((m) => m.topic).sort()).toEqual([...topics].sort());
      expect(received.find((m) => m.topic === victimTopic)?.position?.offset).toBe(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

/** slot -> the master (host:port) serving it, from CLUSTER SLOTS. */
async function slotOwnersOf(cluster: RedisClusterProcesses): Promise<(slot: number) => string> {
  const ranges = JSON.parse(await redisCli(cluster.nodes[0]!.port, '--json', 'cluster', 'slots')) as [number, number, [string, number]][];
  return (slot) => {
    const range = ranges.find(([from, to]) => slot >= from && slot <= to);
    if (range === undefined) throw new Error(`no owner for slot ${slot}`);
    return `${range[2][0]}:${range[2][1]}`;
  };
}

/** Polls `check` until true (a RecordingNode has no event for states), bounded. */
async function until(check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
