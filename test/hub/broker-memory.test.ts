/**
 * The in-process broker against the Broker contract (broker-contract.ts), which the chat's SQLite
 * broker and the Redis engine run too.
 */

import { InProcessBus } from '../../src/hub/broker.js';
import { describeBrokerContract } from './broker-contract.js';

describeBrokerContract('InProcessBroker', {
  async make(nodes) {
    const bus = new InProcessBus();
    const brokers = Array.from({ length: nodes }, () => bus.broker());
    return { brokers, close: async () => void (await Promise.all(brokers.map((b) => b.close()))) };
  },
});
