/**
 * RedisPresence against the chat's Presence contract (chat/test/contracts/presence-contract.ts),
 * the suite MemoryPresence runs too: two RedisPresence instances on one real redis-server are two
 * nodes. Each system gets a key prefix of its own, so what an earlier test left (closed nodes and
 * their grace periods, reaped a lease later) never counts in a later one. The contract types the
 * instances as the chat's `Presence`: the type checker proves RedisPresence implements it.
 */

import { afterAll, beforeAll } from 'vitest';
import { describePresenceContract } from '../../chat/test/contracts/presence-contract.js';
import { describeWithPeer } from '../../test/interop/peers.js';
import { RedisPresence } from '../src/index.js';
import { redisPeer, startRedis, type RedisServer } from './redis-server.js';

describeWithPeer(redisPeer, 'RedisPresence on one Redis', () => {
  let server: RedisServer;
  let systems = 0;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describePresenceContract('RedisPresence (one Redis)', async (nodes, grace) => {
    const prefix = `contract${++systems}`;
    const presences = Array.from({ length: nodes }, () => new RedisPresence({ url: server.url, grace, prefix }));
    await Promise.all(presences.map((presence) => presence.ready()));
    return {
      presences,
      settled: async () => void (await Promise.all(presences.map((presence) => presence.idle()))),
      close: async () => void (await Promise.all(presences.map((presence) => presence.close()))),
    };
  });
});
