/**
 * The chat's SQLite streams (an InProcessBus of the hub on SqliteStreams) against the hub's Broker contract (test/hub/broker-contract.ts), the
 * suite the in-process broker and the Redis engine run too, with persistence: a new system on the
 * same file keeps every stream's epoch and messages.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeBrokerContract } from '../../test/hub/broker-contract.js';
import { SqliteBus } from '../src/sqlite-streams.js';

const dir = mkdtempSync(join(tmpdir(), 'chat-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'contract.db');

describeBrokerContract('the hub\'s InProcessBroker on SqliteStreams', {
  persistent: true,
  async make(nodes) {
    const bus = new SqliteBus(file);
    const brokers = Array.from({ length: nodes }, () => bus.broker());
    return {
      brokers,
      close: async () => {
        await Promise.all(brokers.map((broker) => broker.close()));
        bus.close();
      },
    };
  },
});

describe('SqliteStreams', () => {
  it('is unavailable once its database is closed: append and history reject with WS_ERR_UNAVAILABLE', async () => {
    const bus = new SqliteBus(':memory:');
    const broker = bus.broker();
    bus.close();
    const message = { topic: 't', payload: Buffer.from('x'), opcode: 0x1 as const, key: undefined };
    await expect(broker.append(message, { history: { size: 5, ttl: 0 } })).rejects.toMatchObject({ code: 'WS_ERR_UNAVAILABLE' });
    await expect(broker.history('t', undefined, 5)).rejects.toMatchObject({ code: 'WS_ERR_UNAVAILABLE' });
  });
});
