import { describe, expect, it } from 'vitest';
import { Hub } from '../../src/hub/hub.js';
import { FakeConnection } from './fake-connection.js';

function slowHub(onError?: (error: unknown) => void) {
  const hub = new Hub<FakeConnection>({
    lowWatermark: 1,
    maxQueuedBytes: 0,
    topic: { policy: 'drop-new' },
    ...(onError ? { onError } : {}),
  });
  const slow = new FakeConnection();
  hub.add(slow);
  hub.subscribe(slow, 't');
  hub.publish('t', 'fills the buffer');
  return { hub, slow };
}

describe('hub events', () => {
  it('a listener that throws reaches onError; the other listeners and the publish go on', () => {
    const errors: unknown[] = [];
    const { hub } = slowHub((error) => errors.push(error));
    const seen: string[] = [];
    hub.on('drop', () => {
      throw new Error('listener bug');
    });
    hub.on('drop', (event) => seen.push(event.reason));
    expect(hub.publish('t', 'x')).toEqual({ recipients: 1, queued: 0, dropped: 1, closed: 0 });
    expect(seen).toEqual(['drop-new']);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('listener bug');
  });

  it('on() returns the function that removes the listener', () => {
    const { hub } = slowHub();
    let count = 0;
    const off = hub.on('drop', () => count++);
    hub.publish('t', 'x');
    off();
    hub.publish('t', 'y');
    expect(count).toBe(1);
  });

  it('events are dispatched after the delivery loop, and a listener may publish (its events follow in order)', () => {
    const { hub, slow } = slowHub();
    const other = new FakeConnection();
    hub.add(other);
    hub.subscribe(other, 'log');
    hub.publish('log', 'fills the other buffer');
    const log: string[] = [];
    hub.on('drop', (event) => {
      log.push(`${event.topic}:${Buffer.from(event.payload).toString()}`);
      if (event.topic === 't') hub.publish('log', `lost ${Buffer.from(event.payload).toString()}`);
    });
    hub.publish('t', 'a');
    hub.publish('t', 'b');
    expect(log).toEqual(['t:a', 'log:lost a', 't:b', 'log:lost b']);
    expect(slow.frames).toHaveLength(1);
  });

  it('evict carries the topic, the connection and the bytes it had queued', () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1, maxQueuedBytes: 20 });
    const slow = new FakeConnection();
    hub.add(slow);
    hub.subscribe(slow, 't');
    const evictions: unknown[] = [];
    hub.on('evict', (event) => evictions.push(event));
    hub.publish('t', 'written');
    hub.publish('t', 'queued, 14 B');
    hub.publish('t', 'overflows');
    expect(evictions).toEqual([{ topic: 't', connection: slow, queuedBytes: 14 }]);
  });
});
