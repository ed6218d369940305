/**
 * Topic streams on the hub (issues 15 and 16): append() with positions, delivered in order on every
 * hub of the bus (the appender's included), `except` across hubs, idempotency, history(), and
 * recover(): what a connection missed, then a notice, then live messages, none twice.
 */

import { describe, expect, it } from 'vitest';
import { InProcessBus, type Appended, type Broker, type BrokerMessage, type BrokerNode, type HistoryPage, type StreamPosition } from '../../src/hub/broker.js';
import { Hub } from '../../src/hub/hub.js';
import type { HubLostEvent } from '../../src/hub/types.js';
import { FakeConnection, settle } from './fake-connection.js';

function member(hub: Hub<FakeConnection>, ...topics: string[]): FakeConnection {
  const connection = new FakeConnection({ fast: true });
  hub.add(connection);
  for (const topic of topics) hub.subscribe(connection, topic);
  return connection;
}

describe('Hub.append', () => {
  it('gives consecutive positions and delivers to the members of every hub on the bus, the sender included, in order', async () => {
    const bus = new InProcessBus();
    const hubA = new Hub<FakeConnection>({ broker: bus.broker() });
    const hubB = new Hub<FakeConnection>({ broker: bus.broker() });
    const a = member(hubA, 'room');
    const b = member(hubB, 'room');
    const first = await hubA.append('room', 'one');
    const second = await hubB.append('room', 'two');
    expect(first.duplicate).toBe(false);
    expect(second.position).toEqual({ epoch: first.position.epoch, offset: first.position.offset + 1 });
    expect(a.receivedTexts()).toEqual(['one', 'two']);
    expect(b.receivedTexts()).toEqual(['one', 'two']);
  });

  it('`except` leaves out that connection, on whichever hub it is', async () => {
    const bus = new InProcessBus();
    const hubA = new Hub<FakeConnection>({ broker: bus.broker() });
    const hubB = new Hub<FakeConnection>({ broker: bus.broker() });
    const sender = member(hubA, 'room');
    const other = member(hubB, 'room');
    await hubA.append('room', 'not for the sender', { except: sender });
    expect(sender.receivedTexts()).toEqual([]);
    expect(other.receivedTexts()).toEqual(['not for the sender']);
  });

  it('an idempotency key repeated appends nothing and resolves with the first position', async () => {
    const hub = new Hub<FakeConnection>();
    const a = member(hub, 'room');
    const first = await hub.append('room', 'hello', { idempotencyKey: 'u1:c1' });
    const again = await hub.append('room', 'hello', { idempotencyKey: 'u1:c1' });
    expect(again).toEqual({ position: first.position, duplicate: true });
    expect(a.receivedTexts()).toEqual(['hello']);
  });

  it('keeps history.size messages; history() returns them after a position', async () => {
    const hub = new Hub<FakeConnection>({ history: { size: 3 } });
    const positions: StreamPosition[] = [];
    for (const text of ['a', 'b', 'c', 'd']) positions.push((await hub.append('room', text)).position);
    const page = await hub.history('room', positions[1]);
    expect(page.messages.map((m) => Buffer.from(m.payload).toString())).toEqual(['c', 'd']);
    expect(page.complete).toBe(true);
    expect((await hub.history('room', { epoch: positions[0]!.epoch, offset: 0 })).complete).toBe(false);
    // Per call, over the hub's default.
    for (const text of ['e', 'f', 'g', 'h', 'i']) await hub.append('wide', text, { history: { size: 10 } });
    expect((await hub.history('wide', undefined, 10)).messages).toHaveLength(5);
  });

  it('rejects (never throws) a bad argument with WS_ERR_INVALID_ARGUMENT, and a broker that cannot with its error', async () => {
    const hub = new Hub<FakeConnection>();
    await expect(hub.append(42 as never, 'x')).rejects.toMatchObject({ code: 'WS_ERR_INVALID_ARGUMENT' });
    await expect(hub.append('t', 'x', { history: { size: -1 } })).rejects.toMatchObject({ code: 'WS_ERR_INVALID_ARGUMENT' });
    await expect(hub.history('t', { epoch: 'e', offset: -1 })).rejects.toMatchObject({ code: 'WS_ERR_INVALID_ARGUMENT' });
    const down = new Hub<FakeConnection>({ broker: new DownBroker() });
    await expect(down.append('t', 'x')).rejects.toMatchObject({ code: 'WS_ERR_UNAVAILABLE' });
    expect(down.brokerState).toBe('down');
  });
});

/** A broker that is down: nothing can be appended or read. */
class DownBroker implements Broker {
  readonly state = 'down' as const;
  node: BrokerNode | undefined;
  start(node: BrokerNode): void {
    this.node = node;
  }
  publish(message: BrokerMessage): void {
    this.node!.unpublished(message, Object.assign(new Error('down'), { code: 'WS_ERR_UNAVAILABLE' }));
  }
  append(): Promise<Appended> {
    return Promise.reject(Object.assign(new Error('the broker is down'), { code: 'WS_ERR_UNAVAILABLE' }));
  }
  history(): Promise<HistoryPage> {
    return Promise.reject(Object.assign(new Error('the broker is down'), { code: 'WS_ERR_UNAVAILABLE' }));
  }
  subscribe(): Promise<void> {
    return Promise.resolve();
  }
  unsubscribe(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The in-process broker, every call passed through: the test brokers below change one thing each. */
class PassThroughBroker implements Broker {
  protected readonly inner = new InProcessBus().broker();
  get state() {
    return this.inner.state;
  }
  start(node: BrokerNode): void {
    this.inner.start(node);
  }
  publish(message: BrokerMessage): void {
    this.inner.publish(message);
  }
  append(message: BrokerMessage, options: Parameters<Broker['append']>[1]): Promise<Appended> {
    return this.inner.append(message, options);
  }
  history(topic: string, since: StreamPosition | undefined, limit: number): Promise<HistoryPage> {
    return this.inner.history(topic, since, limit);
  }
  subscribe(topic: string): Promise<void> {
    return this.inner.subscribe(topic);
  }
  unsubscribe(topic: string): Promise<void> {
    return this.inner.unsubscribe(topic);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The in-process broker, with history() held until the test lets it answer. */
class SlowHistoryBroker extends PassThroughBroker {
  readonly waiting: (() => void)[] = [];
  override history(topic: string, since: StreamPosition | undefined, limit: number): Promise<HistoryPage> {
    return new Promise((resolve, reject) => this.waiting.push(() => this.inner.history(topic, since, limit).then(resolve, reject)));
  }
}

/**
 * The in-process broker, with the stream messages it delivers to its hub held until the test lets
 * them through, while history() answers at once: Redis's subscriber connection behind its command
 * connection.
 */
class LateLiveBroker extends PassThroughBroker {
  readonly late: (() => void)[] = [];
  override start(node: BrokerNode): void {
    this.inner.start({
      deliver: (message) => this.late.push(() => node.deliver(message)),
      stateChanged: (state) => node.stateChanged(state),
      unpublished: (message, error) => node.unpublished(message, error),
    });
  }
  release(): void {
    for (const deliver of this.late.splice(0)) deliver();
  }
}

describe('Hub.recover', () => {
  it('a message the history gave that then arrives live (after the recovery ended) is not sent twice', async () => {
    const broker = new LateLiveBroker();
    const hub = new Hub<FakeConnection>({ broker });
    const stayed = member(hub, 'room');
    const { position: start } = await hub.history('room', undefined, 0);
    await hub.append('room', 'm1');
    const back = member(hub);
    const result = await hub.recover(back, 'room', start);
    expect(result).toMatchObject({ recovered: true, missed: 1 });
    expect(back.receivedTexts()).toEqual(['m1']);
    // m1's live copy comes now: the member that stayed gets it, the recovered one not again.
    broker.release();
    expect(stayed.receivedTexts()).toEqual(['m1']);
    expect(back.receivedTexts()).toEqual(['m1']);
    // The next message reaches both, once, and ends the watch.
    await hub.append('room', 'm2');
    broker.release();
    expect(back.receivedTexts()).toEqual(['m1', 'm2']);
    expect(stayed.receivedTexts()).toEqual(['m1', 'm2']);
  });

  it('sends what was missed after `since`, then the notice, then the live messages that came meanwhile, none twice', async () => {
    const broker = new SlowHistoryBroker();
    const hub = new Hub<FakeConnection>({ broker });
    const stayed = member(hub, 'room');
    const m1 = await hub.append('room', 'm1');
    await hub.append('room', 'm2');
    await hub.append('room', 'm3');
    const back = member(hub);
    const recovering = hub.recover(back, 'room', m1.position, {
      notice: (result) => `recovered ${result.recovered} missed ${result.missed} at ${result.position.offset}`,
    });
    await settle();
    // While the history is read, a live message: the one that stayed gets it now, the other later.
    await hub.append('room', 'm4');
    expect(stayed.receivedTexts()).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(back.receivedTexts()).toEqual([]);
    broker.waiting.shift()!();
    const result = await recovering;
    expect(result).toEqual({ recovered: true, missed: 3, position: { epoch: m1.position.epoch, offset: 4 } });
    // m4 was in the history already: not sent twice.
    expect(back.receivedTexts()).toEqual(['m2', 'm3', 'm4', 'recovered true missed 3 at 4']);
    await hub.append('room', 'm5');
    expect(back.receivedTexts()).toEqual(['m2', 'm3', 'm4', 'recovered true missed 3 at 4', 'm5']);
    expect(hub.topicsOf(back).has('room')).toBe(true);
  });

  it('when the history no longer reaches back: recovered false, what is kept sent, then live', async () => {
    const hub = new Hub<FakeConnection>({ history: { size: 2 } });
    const m1 = await hub.append('room', 'm1');
    for (const text of ['m2', 'm3', 'm4']) await hub.append('room', text);
    const back = member(hub);
    const result = await hub.recover(back, 'room', m1.position, { notice: (r) => `recovered ${r.recovered}` });
    expect(result.recovered).toBe(false);
    expect(back.receivedTexts()).toEqual(['m3', 'm4', 'recovered false']);
  });

  it('a position from another epoch (the server restarted without persistence): recovered false, nothing replayed', async () => {
    const hub = new Hub<FakeConnection>();
    await hub.append('room', 'current');
    const back = member(hub);
    const result = await hub.recover(back, 'room', { epoch: 'gone', offset: 12 });
    expect(result.recovered).toBe(false);
    expect(result.missed).toBe(0);
    expect(back.receivedTexts()).toEqual([]);
  });

  it('a broker that fails: recovered false, never a rejection; live messages flow afterwards', async () => {
    const hub = new Hub<FakeConnection>({ broker: new DownBroker() });
    const back = member(hub);
    await expect(hub.recover(back, 'room', { epoch: 'e', offset: 1 })).resolves.toMatchObject({ recovered: false, missed: 0 });
    expect(hub.topicsOf(back).has('room')).toBe(true);
  });
});

describe('hub events of the broker', () => {
  it("'unpublished' reports a publish the broker could not carry; 'broker' its state changes; 'lost' a gap given up", async () => {
    const broker = new DownBroker();
    const hub = new Hub<FakeConnection>({ broker });
    const local = member(hub, 't');
    const unpublished: string[] = [];
    const states: string[] = [];
    const lost: HubLostEvent[] = [];
    hub.on('unpublished', (e) => unpublished.push(`${e.topic} ${Buffer.from(e.payload).toString()} ${e.error.message}`));
    hub.on('broker', (e) => states.push(e.state));
    hub.on('lost', (e) => lost.push(e));
    expect(hub.publish('t', 'still local').queued).toBe(1);
    expect(local.receivedTexts()).toEqual(['still local']);
    expect(unpublished).toEqual(['t still local down']);
    broker.node!.stateChanged('up');
    expect(states).toEqual(['up']);
    broker.node!.deliver({ topic: 't', payload: Buffer.from('a'), opcode: 0x1, key: undefined, position: { epoch: 'e', offset: 1 } });
    // The next one skips offset 2; the history cannot be read (down): given up, reported.
    broker.node!.deliver({ topic: 't', payload: Buffer.from('c'), opcode: 0x1, key: undefined, position: { epoch: 'e', offset: 3 } });
    await settle();
    expect(lost.map((e) => [e.topic, e.from, e.to])).toEqual([['t', 2, 2]]);
    expect(local.receivedTexts()).toEqual(['still local', 'a', 'c']);
  });
});

describe('renderStream', () => {
  it('makes each stream message once per hub from its position, live and recovered; publish() is untouched', async () => {
    const rendered: number[] = [];
    const hub = new Hub<FakeConnection>({
      renderStream: (m) => {
        rendered.push(m.position!.offset);
        return `{"id":"${m.position!.epoch}-${m.position!.offset}"${Buffer.from(m.payload).toString()}`;
      },
    });
    const a = member(hub, 'room');
    const b = member(hub, 'room');
    const first = await hub.append('room', ',"text":"hi"}');
    const epoch = first.position.epoch;
    hub.publish('room', 'plain');
    expect(a.receivedTexts()).toEqual([`{"id":"${epoch}-1","text":"hi"}`, 'plain']);
    expect(b.receivedTexts()).toEqual(a.receivedTexts());
    expect(rendered).toEqual([1]);
    const late = member(hub);
    await hub.recover(late, 'room', { epoch, offset: 0 });
    expect(late.receivedTexts()).toEqual([`{"id":"${epoch}-1","text":"hi"}`]);
  });

  it('a renderStream that throws is reported to onError and that message skipped', async () => {
    const errors: unknown[] = [];
    const hub = new Hub<FakeConnection>({
      onError: (error) => errors.push(error),
      renderStream: (m) => {
        if (m.position!.offset === 1) throw new Error('bad message');
        return Buffer.from(m.payload).toString();
      },
    });
    const a = member(hub, 'room');
    await hub.append('room', 'one');
    await hub.append('room', 'two');
    expect(a.receivedTexts()).toEqual(['two']);
    expect(errors).toEqual([new Error('bad message')]);
  });
});
