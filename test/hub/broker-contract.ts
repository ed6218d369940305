/**
 * The Broker contract (src/hub/broker.ts), as one suite every implementation runs: the in-process
 * broker here, the chat's SQLite-backed one, and the Redis engine (issue 16). Two nodes, each a
 * broker of the same shared system; everything is observed through what the brokers hand their
 * nodes, never through an implementation's insides.
 *
 * Nothing sleeps: subscribe() resolves once the route is up, deliveries are awaited as they come (a
 * remote broker is asynchronous), and the history's TTL is checked by polling the stream until its
 * epoch changes, bounded.
 */

import { describe, expect, it } from 'vitest';
import type { Broker, BrokerMessage, BrokerNode, BrokerState, HistoryOptions } from '../../src/hub/broker.js';

/** What a suite needs of an implementation: `nodes` brokers of one system (a fresh one per call). */
export interface BrokerSystem {
  readonly brokers: readonly Broker[];
  /** Stops everything the system started (servers, connections). */
  close(): Promise<void>;
}

export interface ContractOptions {
  /** Makes a fresh system of `nodes` brokers (their topics do not collide with an earlier system's). */
  readonly make: (nodes: number) => Promise<BrokerSystem>;
  /** Whether streams survive the broker (persistent history): then a new system keeps the epoch. */
  readonly persistent?: boolean;
}

/** A node that records what its broker hands it. */
export class RecordingNode implements BrokerNode {
  readonly messages: BrokerMessage[] = [];
  readonly states: BrokerState[] = [];
  readonly unpublishedMessages: BrokerMessage[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];

    deliver(message: BrokerMessage): void {
    this.messages.push(message);
    this.wake();
  }

  stateChanged(state: BrokerState): void {
    this.states.push(state);
  }

  unpublished(message: BrokerMessage): void {
    this.unpublishedMessages.push(message);
    this.wake();
  }

  /** Resolves once `count` messages have been delivered (bounded by the test's timeout). */
  received(count: number): Promise<BrokerMessage[]> {
    if (this.messages.length >= count) return Promise.resolve(this.messages.slice(0, count));
    return new Promise((resolve) => this.waiters.push({ count, resolve: () => resolve(this.messages.slice(0, count)) }));
  }

  texts(): string[] {
    return this.messages.map((m) => Buffer.from(m.payload).toString());
  }

  private wake(): void {
    this.waiters = this.waiters.filter((waiter) => {
      if (this.messages.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }
}

let topicCounter = 0;
/** A topic name no earlier test used (shared, persistent backends keep streams across tests). */
export function freshTopic(name: string): string {
  return `${name}-${process.pid}-${Date.now().toString(36)}-${++topicCounter}`;
}

function text(topic: string, value: string, extra: Partial<BrokerMessage> = {}): BrokerMessage {
  return { topic, payload: Buffer.from(value), opcode: 0x1, key: undefined, ...extra };
}

const HISTORY: HistoryOptions = { size: 5, ttl: 0 };

export function describeBrokerContract(name: string, options: ContractOptions): void {
  describe(`Broker contract: ${name}`, () => {
    async function twoNodes(): Promise<{ system: BrokerSystem; a: Broker; b: Broker; nodeA: RecordingNode; nodeB: RecordingNode }> {
      const system = await options.make(2);
      const [a, b] = system.brokers as [Broker, Broker];
      const nodeA = new RecordingNode();
      const nodeB = new RecordingNode();
      a.start(nodeA);
      b.start(nodeB);
      return { system, a, b, nodeA, nodeB };
    }

    it('is up once started', async () => {
      const { system, a } = await twoNodes();
      try {
        expect(a.state).toBe('up');
      } finally {
        await system.close();
      }
    });

    it('publish() reaches the other nodes with members in the topic, not the publisher, not others', async () => {
      const { system, a, b, nodeA, nodeB } = await twoNodes();
      try {
        const topic = freshTopic('publish');
        await b.subscribe(topic);
                a.publish(text(topic, 'one', { key: 'k' }));
        a.publish({ topic, payload: new Uint8Array([0, 255, 7]), opcode: 0x2, key: undefined });
        const [first, second] = await nodeB.received(2);
        expect([first!.topic, Buffer.from(first!.payload).toString(), first!.opcode, first!.key]).toEqual([topic, 'one', 0x1, 'k']);
        expect([Buffer.from(second!.payload).toString('hex'), second!.opcode]).toEqual(['00ff07', 0x2]);
        expect(first!.position).toBeUndefined();
        expect(nodeA.messages).toEqual([]);
        await b.unsubscribe(topic);
      } finally {
        await system.close();
      }
    });

    it('append() gives consecutive offsets in one epoch and delivers to every node with members, the appender too, in order', async () => {
      const { system, a, b, nodeA, nodeB } = await twoNodes();
      try {
        const topic = freshTopic('append');
        await a.subscribe(topic);
        await b.subscribe(topic);
                        const appended = [];
        for (let i = 1; i <= 4; i++) appended.push(await (i % 2 === 0 ? b : a).append(text(topic, `m${i}`), { history: HISTORY }));
        const epoch = appended[0]!.position.epoch;
        expect(epoch).toMatch(/^[a-z0-9]+$/);
        expect(appended.map((r) => [r.position.epoch, r.position.offset, r.duplicate])).toEqual([
          [epoch, 1, false],
          [epoch, 2, false],
          [epoch, 3, false],
          [epoch, 4, false],
        ]);
        for (const node of [nodeA, nodeB]) {
          const messages = await node.received(4);
          expect(messages.map((m) => [Buffer.from(m.payload).toString(), m.position?.epoch, m.position?.offset])).toEqual([
            ['m1', epoch, 1],
            ['m2', epoch, 2],
            ['m3', epoch, 3],
            ['m4', epoch, 4],
          ]);
        }
      } finally {
        await system.close();
      }
    });

    it('append() carries `except` and `key`; a node without members in the topic gets nothing', async () => {
      const { system, a, b, nodeA, nodeB } = await twoNodes();
      try {
        const topic = freshTopic('except');
        await a.subscribe(topic);
        await a.append(text(topic, 'x', { except: 'connection-id-1', key: 'k1' }), { history: HISTORY });
        const [message] = await nodeA.received(1);
        expect([message!.except, message!.key]).toEqual(['connection-id-1', 'k1']);
        // b never subscribed: a later append to b's own topic proves b is live and got nothing before.
        const other = freshTopic('other');
        await b.subscribe(other);
                await a.append(text(other, 'y'), { history: HISTORY });
        await nodeB.received(1);
        expect(nodeB.texts()).toEqual(['y']);
      } finally {
        await system.close();
      }
    });

    it('history(): all kept messages, those after a position, the position, and completeness', async () => {
      const { system, a } = await twoNodes();
      try {
        const topic = freshTopic('history');
        const empty = await a.history(topic, undefined, 10);
        expect(empty.messages).toEqual([]);
        expect(empty.position.offset).toBe(0);
        expect(empty.complete).toBe(true);
        const positions = [];
        for (let i = 1; i <= 7; i++) positions.push((await a.append(text(topic, `m${i}`), { history: HISTORY })).position);
        const epoch = positions[0]!.epoch;
        const texts = (page: { messages: readonly BrokerMessage[] }): string[] => page.messages.map((m) => Buffer.from(m.payload).toString());

        // Size 5: m3 to m7 are kept.
        const all = await a.history(topic, undefined, 100);
        expect(texts(all)).toEqual(['m3', 'm4', 'm5', 'm6', 'm7']);
        expect(all.messages.map((m) => m.position?.offset)).toEqual([3, 4, 5, 6, 7]);
        expect(all.position).toEqual({ epoch, offset: 7 });

        const after4 = await a.history(topic, { epoch, offset: 4 }, 100);
        expect(texts(after4)).toEqual(['m5', 'm6', 'm7']);
        expect(after4.complete).toBe(true);

        const upToDate = await a.history(topic, { epoch, offset: 7 }, 100);
        expect(upToDate.messages).toEqual([]);
        expect(upToDate.complete).toBe(true);

        // m2 is gone: what is kept after it is returned, but it is not complete.
        const tooOld = await a.history(topic, { epoch, offset: 1 }, 100);
        expect(texts(tooOld)).toEqual(['m3', 'm4', 'm5', 'm6', 'm7']);
        expect(tooOld.complete).toBe(false);

        // A limit that cuts the page short.
        const limited = await a.history(topic, { epoch, offset: 4 }, 2);
        expect(texts(limited)).toEqual(['m5', 'm6']);
        expect(limited.complete).toBe(false);

        // Another epoch, or an offset never issued: nothing can be trusted.
        const otherEpoch = await a.history(topic, { epoch: `${epoch}x`, offset: 5 }, 100);
        expect(otherEpoch.messages).toEqual([]);
        expect(otherEpoch.complete).toBe(false);
        expect(otherEpoch.position).toEqual({ epoch, offset: 7 });
        expect((await a.history(topic, { epoch, offset: 99 }, 100)).complete).toBe(false);
      } finally {
        await system.close();
      }
    });

    it('history() is the same seen from every node', async () => {
      const { system, a, b } = await twoNodes();
      try {
        const topic = freshTopic('shared');
        await a.append(text(topic, 'from a'), { history: HISTORY });
        await b.append(text(topic, 'from b'), { history: HISTORY });
        const fromA = await a.history(topic, undefined, 10);
        const fromB = await b.history(topic, undefined, 10);
        expect(fromB.position).toEqual(fromA.position);
        expect(fromB.messages.map((m) => Buffer.from(m.payload).toString())).toEqual(['from a', 'from b']);
      } finally {
        await system.close();
      }
    });

    it('an idempotency key repeated while kept appends nothing and returns the first position', async () => {
      const { system, a, b, nodeA } = await twoNodes();
      try {
        const topic = freshTopic('idempotent');
        await a.subscribe(topic);
        const first = await a.append(text(topic, 'once'), { history: HISTORY, idempotencyKey: 'user-1:c-1' });
        const again = await b.append(text(topic, 'once'), { history: HISTORY, idempotencyKey: 'user-1:c-1' });
        const other = await a.append(text(topic, 'twice'), { history: HISTORY, idempotencyKey: 'user-1:c-2' });
        expect(again).toEqual({ position: first.position, duplicate: true });
        expect(other.position.offset).toBe(first.position.offset + 1);
        await nodeA.received(2);
        expect(nodeA.texts()).toEqual(['once', 'twice']);
        expect((await a.history(topic, undefined, 10)).messages).toHaveLength(2);
      } finally {
        await system.close();
      }
    });

    it('a stream not appended to for its ttl is forgotten: a new epoch starts at offset 1', async () => {
      const { system, a } = await twoNodes();
      try {
        const topic = freshTopic('ttl');
        const first = await a.append(text(topic, 'old'), { history: { size: 5, ttl: 50 } });
        let page = await a.history(topic, undefined, 10);
        for (let i = 0; i < 400 && page.position.epoch === first.position.epoch; i++) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          page = await a.history(topic, undefined, 10);
        }
        expect(page.position.epoch).not.toBe(first.position.epoch);
        expect(page.messages).toEqual([]);
        const next = await a.append(text(topic, 'new'), { history: { size: 5, ttl: 50 } });
        expect(next.position.offset).toBe(1);
        expect((await a.history(topic, first.position, 10)).complete).toBe(false);
      } finally {
        await system.close();
      }
    });

    if (options.persistent === true) {
      it('streams outlive the brokers (persistent history): a new system has the same epoch and messages', async () => {
        const topic = freshTopic('persistent');
        const first = await options.make(1);
        first.brokers[0]!.start(new RecordingNode());
        const appended = await first.brokers[0]!.append(text(topic, 'kept'), { history: HISTORY });
        await first.close();
        const second = await options.make(1);
        try {
          second.brokers[0]!.start(new RecordingNode());
          const page = await second.brokers[0]!.history(topic, { epoch: appended.position.epoch, offset: 0 }, 10);
          expect(page.complete).toBe(true);
          expect(page.messages.map((m) => Buffer.from(m.payload).toString())).toEqual(['kept']);
        } finally {
          await second.close();
        }
      });
    }
  });
}
