/**
 * The send queue of ReconnectingClient (src/node/reconnect/send-queue.ts): bounded in messages and
 * bytes, with its two policies; every entry it lets go of is returned, to be rejected.
 */

import { describe, expect, it } from 'vitest';
import { SendQueue, type Outgoing } from '../../../src/node/reconnect/send-queue.js';

let seq = 0;
function entry(data: string): Outgoing {
  return { seq: seq++, data, options: undefined, size: Buffer.byteLength(data), resolve: () => undefined, reject: () => undefined };
}
const names = (entries: readonly Outgoing[]): string[] => entries.map((e) => String(e.data));

describe('SendQueue', () => {
  it("'reject': when full (messages), the new send is returned and the queue is unchanged", () => {
    const queue = new SendQueue({ maxQueuedMessages: 2, maxQueuedBytes: 100, queuePolicy: 'reject' });
    expect(queue.add(entry('a'))).toEqual([]);
    expect(queue.add(entry('b'))).toEqual([]);
    expect(names(queue.add(entry('c')))).toEqual(['c']);
    expect([queue.length, queue.bytes]).toEqual([2, 2]);
    expect(names(queue.takeAll())).toEqual(['a', 'b']);
    expect([queue.length, queue.bytes]).toEqual([0, 0]);
  });

  it("'reject': when full (bytes), the new send is returned", () => {
    const queue = new SendQueue({ maxQueuedMessages: 10, maxQueuedBytes: 5, queuePolicy: 'reject' });
    queue.add(entry('abc'));
    expect(names(queue.add(entry('def')))).toEqual(['def']);
    expect(queue.add(entry('gh'))).toEqual([]);
    expect(queue.bytes).toBe(5);
  });

  it("'drop-oldest': the oldest entries are returned until the new one fits", () => {
    const queue = new SendQueue({ maxQueuedMessages: 10, maxQueuedBytes: 6, queuePolicy: 'drop-oldest' });
    queue.add(entry('aa'));
    queue.add(entry('bb'));
    queue.add(entry('cc'));
    expect(names(queue.add(entry('dddd')))).toEqual(['aa', 'bb']);
    expect(names(queue.takeAll())).toEqual(['cc', 'dddd']);
  });

  it('an entry larger than maxQueuedBytes is returned whatever the policy, and drops nothing else', () => {
    for (const queuePolicy of ['reject', 'drop-oldest'] as const) {
      const queue = new SendQueue({ maxQueuedMessages: 10, maxQueuedBytes: 4, queuePolicy });
      queue.add(entry('ab'));
      expect(names(queue.add(entry('12345')))).toEqual(['12345']);
      expect(queue.length).toBe(1);
    }
  });

  it('maxQueuedMessages 0: nothing is ever held', () => {
    const queue = new SendQueue({ maxQueuedMessages: 0, maxQueuedBytes: 100, queuePolicy: 'drop-oldest' });
    expect(names(queue.add(entry('a')))).toEqual(['a']);
  });

  it('restore() puts entries back at their place in send() order', () => {
    const queue = new SendQueue({ maxQueuedMessages: 10, maxQueuedBytes: 100, queuePolicy: 'reject' });
    const first = entry('first');
    const second = entry('second');
    const third = entry('third');
    queue.add(third);
    expect(queue.restore([second, first].sort((a, b) => a.seq - b.seq))).toEqual([]);
    expect(names(queue.takeAll())).toEqual(['first', 'second', 'third']);
  });

  it("restore() over the bounds lets go of the newest with 'reject', of the oldest with 'drop-oldest'", () => {
    const make = (queuePolicy: 'reject' | 'drop-oldest') => {
      const queue = new SendQueue({ maxQueuedMessages: 2, maxQueuedBytes: 100, queuePolicy });
      const old = entry('old');
      queue.add(entry('new1'));
      queue.add(entry('new2'));
      return { queue, old: { ...old, seq: -1 } };
    };
    const rejecting = make('reject');
    expect(names(rejecting.queue.restore([rejecting.old]))).toEqual(['new2']);
    expect(names(rejecting.queue.takeAll())).toEqual(['old', 'new1']);
    const dropping = make('drop-oldest');
    expect(names(dropping.queue.restore([dropping.old]))).toEqual(['old']);
    expect(names(dropping.queue.takeAll())).toEqual(['new1', 'new2']);
  });
});
