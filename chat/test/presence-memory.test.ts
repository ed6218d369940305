/**
 * MemoryPresence against the Presence contract (contracts/presence-contract.ts), which the Redis
 * presence of issue 16 runs too: two instances on one MemoryPresenceStore are two nodes.
 */

import { describe, expect, it } from 'vitest';
import { MemoryPresence, MemoryPresenceStore } from '../src/presence.js';
import { describePresenceContract } from './contracts/presence-contract.js';

describePresenceContract('MemoryPresence', async (nodes, grace) => {
  const store = new MemoryPresenceStore();
  const presences = Array.from({ length: nodes }, () => new MemoryPresence({ grace, store }));
  return { presences, close: async () => void (await Promise.all(presences.map((presence) => presence.close()))) };
});

describe('MemoryPresence options', () => {
  it.each([[-1], [1.5], [2 ** 31]])('refuses a grace of %s', (grace) => {
    expect(() => new MemoryPresence({ grace })).toThrow(RangeError);
  });
});
