/**
 * RedisBroker against the Broker contract (test/hub/broker-contract.ts), the suite the in-process
 * broker runs too: several RedisBroker instances on one real redis-server are several nodes.
 * Streams outlive the brokers (they are in Redis), so the contract's persistence test runs.
 */

import { afterAll, beforeAll } from 'vitest';
import { describeBrokerContract } from '../../test/hub/broker-contract.js';
import { describeWithPeer } from '../../test/interop/peers.js';
import { RedisBroker } from '../src/index.js';
import { redisPeer, startRedis, type RedisServer } from './redis-server.js';

describeWithPeer(redisPeer, 'RedisBroker on one Redis', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeBrokerContract('RedisBroker (one Redis)', {
    persistent: true,
    async make(nodes) {
      const brokers = Array.from({ length: nodes }, () => new RedisBroker({ url: server.url }));
      await Promise.all(brokers.map((broker) => broker.ready()));
      return { brokers, close: async () => void (await Promise.all(brokers.map((broker) => broker.close()))) };
    },
  });
});
