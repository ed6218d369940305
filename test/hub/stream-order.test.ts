/**
 * Stream messages in offset order per topic (src/hub/stream-order.ts): gaps held and filled from
 * the history, duplicates delivered once, new epochs, and gaps given up when the history no longer
 * has them or the broker fails.
 */

import { describe, expect, it } from 'vitest';
import type { BrokerMessage, HistoryPage, StreamPosition } from '../../src/hub/broker.js';
import { StreamOrder } from '../../src/hub/stream-order.js';

function message(offset: number, epoch = 'e1', topic = 't'): BrokerMessage {
  return { topic, payload: Buffer.from(`m${offset}`), opcode: 0x1, key: undefined, position: { epoch, offset } };
}

interface Request {
  readonly topic: string;
  readonly since: StreamPosition;
  readonly limit: number;
  resolve(page: HistoryPage): void;
  reject(error: Error): void;
}

function harness() {
  const delivered: string[] = [];
  const lost: string[] = [];
  const requests: Request[] = [];
  const order = new StreamOrder(
    {
      deliver: (m) => delivered.push(`${m.position!.epoch}:${m.position!.offset}`),
      history: (topic, since, limit) => new Promise((resolve, reject) => requests.push({ topic, since, limit, resolve, reject })),
      lost: (topic, from, to, error) => lost.push(`${topic} ${from}-${to}${error ? ` ${error.message}` : ''}`),
    },
    3,
  );
  return { order, delivered, lost, requests };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('StreamOrder', () => {
  it('delivers in order; the first message sets where the topic starts; repeats are dropped', () => {
    const { order, delivered, requests } = harness();
    for (const offset of [7, 8, 8, 9, 7]) order.receive(message(offset));
    expect(delivered).toEqual(['e1:7', 'e1:8', 'e1:9']);
    expect(requests).toEqual([]);
  });

  it('holds what comes after a gap, asks the history for the gap, and delivers everything in order', async () => {
    const { order, delivered, requests, lost } = harness();
    order.receive(message(1));
    order.receive(message(4));
    order.receive(message(5));
    expect(delivered).toEqual(['e1:1']);
    expect(requests.map((r) => [r.topic, r.since, r.limit])).toEqual([['t', { epoch: 'e1', offset: 1 }, 2]]);
    requests[0]!.resolve({ messages: [message(2), message(3)], position: { epoch: 'e1', offset: 5 }, complete: true });
    await tick();
    expect(delivered).toEqual(['e1:1', 'e1:2', 'e1:3', 'e1:4', 'e1:5']);
    expect(lost).toEqual([]);
  });

  it('a missing message that arrives live while the history is asked fills the gap itself', async () => {
    const { order, delivered, requests } = harness();
    order.receive(message(1));
    order.receive(message(3));
    order.receive(message(2));
    expect(delivered).toEqual(['e1:1', 'e1:2', 'e1:3']);
    requests[0]!.resolve({ messages: [message(2)], position: { epoch: 'e1', offset: 3 }, complete: true });
    await tick();
    expect(delivered).toEqual(['e1:1', 'e1:2', 'e1:3']);
  });

  it('gives a gap up when the history no longer has it: reported as lost, what is held delivered', async () => {
    const { order, delivered, requests, lost } = harness();
    order.receive(message(1));
    order.receive(message(5));
    requests[0]!.resolve({ messages: [message(4)], position: { epoch: 'e1', offset: 5 }, complete: false });
    await tick();
    expect(delivered).toEqual(['e1:1', 'e1:5']);
    expect(lost).toEqual(['t 2-4']);
  });

  it('gives a gap up when the broker fails, with its error', async () => {
    const { order, delivered, requests, lost } = harness();
    order.receive(message(1));
    order.receive(message(3));
    requests[0]!.reject(new Error('redis is down'));
    await tick();
    expect(delivered).toEqual(['e1:1', 'e1:3']);
    expect(lost).toEqual(['t 2-2 redis is down']);
  });

  it('gives a gap up when more than maxHeld messages wait behind it', () => {
    const { order, delivered, lost } = harness();
    order.receive(message(1));
    for (const offset of [3, 4, 5, 6]) order.receive(message(offset));
    expect(delivered).toEqual(['e1:1', 'e1:3', 'e1:4', 'e1:5', 'e1:6']);
    expect(lost).toEqual(['t 2-2']);
  });

  it('a new epoch starts the topic again (its history was lost); forget() forgets where it was', () => {
    const { order, delivered, requests } = harness();
    order.receive(message(10));
    order.receive(message(1, 'e2'));
    order.receive(message(2, 'e2'));
    order.forget('t');
    order.receive(message(9, 'e2'));
    expect(delivered).toEqual(['e1:10', 'e2:1', 'e2:2', 'e2:9']);
    expect(requests).toEqual([]);
    expect(order.position('t')).toEqual({ epoch: 'e2', offset: 9 });
  });

  it('keeps topics apart', () => {
    const { order, delivered, requests } = harness();
    order.receive(message(1, 'e1', 'a'));
    order.receive(message(1, 'e1', 'b'));
    order.receive(message(2, 'e1', 'b'));
    expect(delivered).toEqual(['e1:1', 'e1:1', 'e1:2']);
    expect(requests).toEqual([]);
  });
});
