/**
 * The seam between a hub and other hubs (issues 11, 15, 16): publishes go through a Broker, so that
 * an engine for several processes (Redis, in its own package) can carry them without the hub's
 * users changing their code. Only the in-process broker is built here.
 *
 * Two kinds of messages, as in Centrifuge:
 *
 * - **publish()**: fire and forget. A hub delivers its own publishes to its own subscribers itself,
 *   synchronously (that is what makes Hub.publish()'s counts synchronous and honest), and hands
 *   the message to its broker for the other hubs. What the broker cannot carry it reports to
 *   the node (`unpublished`), never silently.
 * - **append()**: a topic's stream. The broker gives the message the topic's next offset, in the
 *   topic's current epoch, and keeps it in the topic's bounded history, in one atomic step; then
 *   every hub with members in the topic (the publisher's own included) gets it, in offset order.
 *   A hub that sees a gap in the offsets asks `history()` for what it missed; a client that comes
 *   back asks it too (Hub.recover). The epoch changes when a stream's history is lost (expired,
 *   or kept in memory by a process that restarted), so a position from before is never misread.
 *
 * A hub tells its broker which topics it has members in (subscribe/unsubscribe on the first member
 * and after the last), so a broker routes a topic's messages only to the hubs that have members in
 * it, as Centrifuge nodes subscribe only to the channels they have clients in.
 */

import { WebSocketError } from '../protocol/errors.js';
import { StreamRing } from './stream-ring.js';

/**
 * A place in a topic's stream. `offset` grows by exactly one with each message appended to the
 * topic; `epoch` (letters and digits) names the stream's history: it changes when that history is
 * lost, so an offset is only compared within its epoch. Offset 0 is before the first message.
 */
export interface StreamPosition {
  /** The name of the stream's history: 8 letters and digits, new when the history is lost. */
  readonly epoch: string;
  /** The offset of a message in the stream, from 1; 0 is before the first message. */
  readonly offset: number;
}

/** A published message as it travels between hubs: serializable, unframed, uncompressed. */
export interface BrokerMessage {
  /** The topic it was published or appended to. */
  readonly topic: string;
  /** The message bytes (UTF-8 for text), before framing and compression: each hub frames and compresses for its own subscribers. */
  readonly payload: Uint8Array;
  /** RFC 6455 5.2: 0x1 text, 0x2 binary. */
  readonly opcode: 0x1 | 0x2;
  /** The conflation key given to publish(), if any. */
  readonly key: string | undefined;
  /** On messages of a stream (append()): their place in it. */
  readonly position?: StreamPosition | undefined;
  /** The id (Hub.id) of a connection that does not get the message (its sender), on any node. */
  readonly except?: string | undefined;
}

/** How long a topic's stream keeps its messages. */
export interface HistoryOptions {
  /** The most messages kept: older ones are trimmed. */
  readonly size: number;
  /** Milliseconds after the last append after which the stream (and its epoch) is forgotten; 0: never. */
  readonly ttl: number;
}

/** What Broker.append() is told besides the message: resolved by the hub, never partial. */
export interface BrokerAppendOptions {
  /** How much of the topic's stream to keep, this message included (AppendOptions.history over the hub's `history`). */
  readonly history: HistoryOptions;
  /**
   * Makes the append idempotent: a second append to the same topic with the same key, while the
   * first is still in the history, appends nothing and returns the first one's position (a client
   * that resends after a reconnect never posts twice).
   */
  readonly idempotencyKey?: string | undefined;
}

/** What an append() resolves with. */
export interface Appended {
  /** The message's place in the topic's stream (the first append's, for a duplicate). */
  readonly position: StreamPosition;
  /** True when `idempotencyKey` matched an earlier append: nothing was appended or delivered. */
  readonly duplicate: boolean;
}

/** What a stream holds after a position. */
export interface HistoryPage {
  /** Messages after `since`, oldest first, at most `limit`; each with its `position`. */
  readonly messages: readonly BrokerMessage[];
  /** The stream's latest position: its epoch, and the offset of its last message (0: none yet). */
  readonly position: StreamPosition;
  /**
   * True when `messages` are every message after `since` up to `position` (`since` is in this
   * epoch and not older than what is kept, and `limit` did not cut the page short). False: some
   * are gone, so a client must reload rather than trust what it has.
   */
  readonly complete: boolean;
}

/**
 * Whether a broker can carry messages now. 'up': yes. 'down': it cannot reach other nodes;
 * publish() reports what it could not carry, append() and history() reject with
 * WS_ERR_UNAVAILABLE, local delivery goes on. (A Redis engine reconnects by itself and says 'up'
 * again.)
 */
export type BrokerState = 'up' | 'down';

/** The hub, as its broker sees it. */
export interface BrokerNode {
  /** A message for this hub's subscribers: another hub's publish, or any hub's append, stream messages in offset order per topic. */
  deliver(message: BrokerMessage): void;
  /** The broker's state changed. */
  stateChanged(state: BrokerState): void;
  /** A publish() the broker could not carry to the other hubs (they will never get it). */
  unpublished(message: BrokerMessage, error: Error): void;
}

/**
 * The contract of an engine that carries a hub's messages to the hubs of other processes (one per
 * hub; test/hub/broker-contract.ts is the shared test suite of every implementation). Two kinds of
 * messages: publish() is fire and forget, and a hub delivers its own publishes to its own
 * subscribers itself; append() adds to a topic's stream, which the broker numbers (`epoch`,
 * `offset`), keeps in a bounded history and delivers to every hub with members in the topic, the
 * appender's included, in offset order. The hub tells the broker which topics it has members in
 * (subscribe(), unsubscribe()), so that the broker routes a topic's messages only to those hubs.
 */
export interface Broker {
  /** Called once, by the hub that owns this broker, before anything else. */
  start(node: BrokerNode): void;
  /** Whether it can carry messages now. */
  readonly state: BrokerState;
  /**
   * A message this hub published (and delivered to its own subscribers already), for the other hubs
   * with members in its topic. Must not block: a remote broker queues or batches. It must not
   * deliver the message back to this hub. What it cannot carry goes to `node.unpublished`.
   */
  publish(message: BrokerMessage): void;
  /**
   * Appends a message to its topic's stream: resolves with its position
   * once it is in the history, and delivers it to every hub with members in the topic, this one
   * included. Rejects with WS_ERR_UNAVAILABLE when the broker cannot.
   */
  append(message: BrokerMessage, options: BrokerAppendOptions): Promise<Appended>;
  /**
   * The stream of `topic` after `since` (its whole history when undefined), at most `limit`
   * messages. Rejects with WS_ERR_UNAVAILABLE when the broker cannot.
   */
  history(topic: string, since: StreamPosition | undefined, limit: number): Promise<HistoryPage>;
  /**
   * This hub has its first member in `topic`: route the topic's messages here. Resolves once they
   * do (a remote broker subscribes asynchronously, in batches); never rejects: a broker that cannot
   * subscribe now does it when it can (and says 'down' meanwhile).
   */
  subscribe(topic: string): Promise<void>;
  /** This hub's last member left `topic`. */
  unsubscribe(topic: string): Promise<void>;
  /** The hub closed: stop delivering, release resources. */
  close(): Promise<void>;
}

/** A new epoch: 8 letters and digits from a strong source. */
export function newEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let epoch = '';
  for (const byte of bytes) epoch += alphabet[byte % alphabet.length];
  return epoch;
}

interface Stream {
  readonly epoch: string;
  /** The offset of the last message appended (0: none yet). */
  offset: number;
  /** The messages kept, oldest first: offsets `offset - kept.length + 1` to `offset`. */
  readonly kept: StreamRing;
  /** idempotencyKey -> position, for the messages still kept. */
  readonly keys: Map<string, StreamPosition>;
  /** When it is forgotten (performance.now() ms), or Infinity. */
  expiresAt: number;
}

function newStream(): Stream {
  return { epoch: newEpoch(), offset: 0, kept: new StreamRing(), keys: new Map(), expiresAt: Infinity };
}

/**
 * Where an InProcessBus keeps its topics' streams: in memory by default; the chat server keeps them
 * in SQLite, so that positions survive a restart. Synchronous, so that an append and its delivery
 * to the bus's hubs are one step (nothing can come between them to reorder offsets). A store that
 * fails throws: the broker rejects with WS_ERR_UNAVAILABLE, the error as its `cause`.
 */
export interface StreamStore {
  /** Appends to the message's topic (see Broker.append). */
  append(message: BrokerMessage, options: BrokerAppendOptions): StoredAppend;
  /** See Broker.history. */
  history(topic: string, since: StreamPosition | undefined, limit: number): HistoryPage;
}

/** What a StreamStore's append did. */
export interface StoredAppend extends Appended {
  /** The message as kept, with its `position`: what the bus delivers (a duplicate's is the message given). */
  readonly message: BrokerMessage;
}

/**
 * Topics' streams kept in memory: what the in-process bus appends to by default. Epochs are new
 * per process, so a client that comes back after a restart is told its position is from a history
 * now gone.
 */
export class MemoryStreams implements StreamStore {
  private readonly streams = new Map<string, Stream>();

  /** Appends `message` to its topic's stream; returns its position, or the earlier one for a repeated idempotency key. */
  append(message: BrokerMessage, options: BrokerAppendOptions, now = performance.now()): StoredAppend {
    const { size, ttl } = options.history;
    let stream = this.live(message.topic, now);
    if (stream === undefined) this.streams.set(message.topic, (stream = newStream()));
    const key = options.idempotencyKey;
    const earlier = key === undefined ? undefined : stream.keys.get(key);
    if (earlier !== undefined) return { position: earlier, duplicate: true, message };
    const position: StreamPosition = { epoch: stream.epoch, offset: ++stream.offset };
    // What the bus delivers; the stream keeps bytes (StreamRing). One literal, not
    // `{ ...message, position }`: V8 gives every object made by a spread followed by another
    // property a hidden class of its own (issue 15 measured 240 bytes more per message).
    const positioned: BrokerMessage = { topic: message.topic, payload: message.payload, opcode: message.opcode, key: message.key, except: message.except, position };
    stream.kept.push(message, key);
    if (key !== undefined) stream.keys.set(key, position);
    while (stream.kept.length > Math.max(0, size)) {
      const old = stream.kept.shift();
      if (old !== undefined) stream.keys.delete(old);
    }
    stream.expiresAt = ttl > 0 ? now + ttl : Infinity;
    return { position, duplicate: false, message: positioned };
  }

  /** See Broker.history. A topic never appended to (or forgotten) has a new, empty stream. */
  history(topic: string, since: StreamPosition | undefined, limit: number, now = performance.now()): HistoryPage {
    let stream = this.live(topic, now);
    if (stream === undefined) this.streams.set(topic, (stream = newStream()));
    const position: StreamPosition = { epoch: stream.epoch, offset: stream.offset };
    const first = stream.offset - stream.kept.length + 1;
    let from = first;
    let complete = true;
    if (since !== undefined) {
      if (since.epoch !== stream.epoch || since.offset > stream.offset) return { messages: [], position, complete: false };
      if (since.offset + 1 < first) complete = false;
      from = Math.max(first, since.offset + 1);
    }
    const start = from - first;
    const messages: BrokerMessage[] = [];
    const stop = Math.min(stream.kept.length, start + Math.max(0, limit));
    for (let i = start; i < stop; i++) messages.push(stream.kept.at(i, topic, { epoch: stream.epoch, offset: first + i }));
    if (from + messages.length - 1 < stream.offset) complete = false;
    return { messages, position, complete };
  }

  private live(topic: string, now: number): Stream | undefined {
    const stream = this.streams.get(topic);
    if (stream === undefined || stream.expiresAt > now) return stream;
    this.streams.delete(topic);
    return undefined;
  }
}

/**
 * Connects the hubs of one process: each hub gets its own InProcessBroker on a shared bus. A hub
 * created without a broker gets one on a bus of its own, which carries nothing to others since it
 * is alone, and keeps its topics' streams in memory.
 */
export class InProcessBus {
  /** topic -> the brokers whose hubs have members in it. */
  private readonly routes = new Map<string, Set<InProcessBroker>>();
  /** @internal The topics' streams (append, history), shared by the hubs on this bus. */
  readonly streams: StreamStore;

  /** A bus whose topics' streams are kept in `streams` (in memory when none is given). */
  constructor(options: { readonly streams?: StreamStore } = {}) {
    this.streams = options.streams ?? new MemoryStreams();
  }

  /** A broker for one more hub on this bus. */
  broker(): InProcessBroker {
    return new InProcessBroker(this);
  }

  /** Hubs with members in `topic`, for tests and diagnostics. */
  subscriberCount(topic: string): number {
    return this.routes.get(topic)?.size ?? 0;
  }

  /** @internal */
  route(topic: string, broker: InProcessBroker, on: boolean): void {
    let brokers = this.routes.get(topic);
    if (on) {
      if (brokers === undefined) this.routes.set(topic, (brokers = new Set()));
      brokers.add(broker);
    } else if (brokers !== undefined) {
      brokers.delete(broker);
      if (brokers.size === 0) this.routes.delete(topic);
    }
  }

  /**
   * @internal Delivers synchronously, in order, to every hub with members in the topic: every
   * other one for a publish, every one (`from` included) for a stream message.
   */
  carry(message: BrokerMessage, from: InProcessBroker | null): void {
    const brokers = this.routes.get(message.topic);
    if (brokers === undefined) return;
    for (const broker of [...brokers]) if (broker !== from) broker.receive(message);
  }
}

/**
 * The broker of hubs in one process, and the default: each hub on an InProcessBus gets one
 * (`new Hub({ broker: bus.broker() })`), and a hub made without a broker gets one on a bus of its
 * own. Delivery is synchronous; streams are kept in memory, so their epochs are new per process.
 */
export class InProcessBroker implements Broker {
  private readonly bus: InProcessBus;
  private node: BrokerNode | undefined;
  private readonly topics = new Set<string>();
  private closed = false;

  /** A broker on `bus` (prefer `bus.broker()`); by default on a new bus of its own. */
  constructor(bus: InProcessBus = new InProcessBus()) {
    this.bus = bus;
  }

  /** Always 'up': nothing in between can fail. */
  get state(): BrokerState {
    return 'up';
  }

  start(node: BrokerNode): void {
    if (this.node !== undefined) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'this broker already serves a hub; give each hub its own (bus.broker())');
    }
    this.node = node;
  }

  publish(message: BrokerMessage): void {
    if (!this.closed) this.bus.carry(message, this);
  }

  append(message: BrokerMessage, options: BrokerAppendOptions): Promise<Appended> {
    if (this.closed) return Promise.reject(new WebSocketError('WS_ERR_UNAVAILABLE', 'the broker is closed'));
    let appended: StoredAppend;
    try {
      appended = this.bus.streams.append(message, options);
    } catch (error) {
      return Promise.reject(storeFailed(error));
    }
    if (!appended.duplicate) this.bus.carry(appended.message, null);
    return Promise.resolve({ position: appended.position, duplicate: appended.duplicate });
  }

  history(topic: string, since: StreamPosition | undefined, limit: number): Promise<HistoryPage> {
    if (this.closed) return Promise.reject(new WebSocketError('WS_ERR_UNAVAILABLE', 'the broker is closed'));
    try {
      return Promise.resolve(this.bus.streams.history(topic, since, limit));
    } catch (error) {
      return Promise.reject(storeFailed(error));
    }
  }

  subscribe(topic: string): Promise<void> {
    if (!this.closed) {
      this.topics.add(topic);
      this.bus.route(topic, this, true);
    }
    return Promise.resolve();
  }

  unsubscribe(topic: string): Promise<void> {
    this.topics.delete(topic);
    this.bus.route(topic, this, false);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    for (const topic of this.topics) this.bus.route(topic, this, false);
    this.topics.clear();
    return Promise.resolve();
  }

  /** @internal */
  receive(message: BrokerMessage): void {
    if (!this.closed) this.node?.deliver(message);
  }
}

/** A stream store that threw: the broker cannot append or read now. */
function storeFailed(error: unknown): WebSocketError {
  const failure = new WebSocketError('WS_ERR_UNAVAILABLE', `the stream store failed: ${error instanceof Error ? error.message : String(error)}`);
  return Object.assign(failure, { cause: error });
}
