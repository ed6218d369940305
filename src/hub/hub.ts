/**
 * The hub (issue 11): connections, topics, encode-once publish with honest synchronous results,
 * bounded per-connection queues with per-topic policies, and a broker seam for other processes.
 * Built only on the connection's public API (HubConnection), so any connection that implements it
 * can join, and the hub's rules are tested against a fake one.
 *
 * Compression and the topic option `noContextTakeover` (issue 11: "subscribers are grouped by
 * their negotiated parameters and the message is compressed once per group"). A connection that
 * negotiated no context takeover for its own compressor (server_no_context_takeover, RFC 7692
 * 7.1.1.1) would compress every message with a fresh context itself, so all of those with the same
 * window share one frame, compressed once (encoder.ts). A connection that keeps context takeover
 * is a group of its own: by default it compresses the broadcast itself, with its own context, in
 * order with its other sends (HubConnection.send), as a user who turned compression on expects;
 * that costs one compression per such connection, and the server's maxContextMemory already bounds
 * how many connections keep context takeover. A topic with `noContextTakeover: true` trades that
 * for one frame per window size for all: such a connection can decode the fresh-context frame
 * (it refers to no history), and sendPrepared() then resets its compressor, since the peer's window
 * now holds bytes the compressor never saw, so its next own message compresses from an empty window.
 * Hub.send() has a single recipient: nothing to share, so it always uses the connection's own path.
 */

import { randomUUID } from 'node:crypto';
import { WebSocketError } from '../protocol/errors.js';
import type { BinaryData } from '../node/send-arguments.js';
import { noop } from '../node/util.js';
import { InProcessBroker, type Appended, type Broker, type BrokerMessage, type BrokerState, type HistoryPage, type StreamPosition } from './broker.js';
import { encodePayload, OutgoingMessage, type CompressionSettings } from './encoder.js';
import { HubEventTarget, type Listener } from './events.js';
import { resolveHistory, resolveHubOptions, type HubOptions, type ResolvedHubOptions } from './options.js';
import { StreamOrder } from './stream-order.js';
import { SubscriberQueue, type Dropped, type QueueOwner } from './subscriber-queue.js';
import { TopicRegistry } from './topics.js';
import type {
  AppendOptions,
  DropReason,
  HubConnection,
  RecoverOptions,
  RecoveryResult,
  HubEvents,
  PublishOptions,
  PublishResult,
  HubSendOptions,
  HubSendResult,
  TopicOptions,
  TopicStats,
} from './types.js';

/** RFC 6455 7.4.1: 1008, the endpoint received a message that violates its policy; coder/websocket's chat uses it for slow subscribers. */
const TOO_SLOW = { code: 1008, reason: 'too slow' } as const;

const NOBODY: PublishResult = Object.freeze({ recipients: 0, queued: 0, dropped: 0, closed: 0 });

/**
 * A random UUID as one flat string. Node's randomUUID() joins it from 2-character pieces, which V8
 * keeps as a rope of 14 string nodes (32 bytes each) until something flattens it: in the hub's
 * maps for as long as the connection is in (issue 15: 450 bytes per connection). Decoding its
 * bytes back makes a flat copy, once per connection.
 */
function flatUUID(): string {
  return Buffer.from(randomUUID(), 'latin1').toString('latin1');
}

function invalid(message: string): WebSocketError {
  return new WebSocketError('WS_ERR_INVALID_ARGUMENT', message);
}

/**
 * A publish/subscribe hub on the connection's public API. Connections join (add()) and subscribe
 * to topics; a message is encoded once, compressed once per group of connections that negotiated
 * alike, and written to each subscriber straight away or through a bounded queue per connection
 * whose overflow the topic's policy decides. publish() is fire and forget, with synchronous and
 * honest counts; append() keeps a topic's stream (positions, history(), recover()). A Broker
 * carries messages to the hubs of other processes. Generic over the connection type (`Hub<Ws>`):
 * anything that implements HubConnection can join. Methods throw WS_ERR_INVALID_ARGUMENT for a bad
 * argument and, once the hub is closed, for anything that adds, subscribes or sends; those that
 * return a promise reject instead.
 */
export class Hub<C extends HubConnection = HubConnection> {
  private readonly options: ResolvedHubOptions;
  private readonly compression: CompressionSettings;
  private readonly registry: TopicRegistry<C>;
  private readonly events: HubEventTarget<HubEvents<C>>;
  private readonly broker: Broker;
  /** Connections in the hub, by connection and by id. */
  private readonly ids = new Map<C, string>();
  private readonly byId = new Map<string, C>();
  /** Outlive membership: a removed connection's queue still drains in order, and a re-added one reuses it (and its id). */
  private readonly queues = new WeakMap<C, SubscriberQueue<C>>();
  private readonly knownIds = new WeakMap<C, string>();
  private readonly watched = new WeakSet<C>();
  private readonly owner: QueueOwner<C>;
  /** Stream messages in offset order per topic, gaps filled from the history (issue 16). */
  private readonly order: StreamOrder;
  /** Topics with local members -> their broker subscription, settled once the broker routes them here. */
  private readonly subscriptions = new Map<string, Promise<void>>();
  /** Connections catching up on a topic (recover()), by connection and topic: see CatchUp. */
  private readonly catchUps = new Map<C, Map<string, CatchUp>>();
  private isClosed = false;

  /** A hub with `options`; throws WS_ERR_INVALID_ARGUMENT for an option out of its bounds. */
  constructor(options?: HubOptions) {
    this.options = resolveHubOptions(options);
    const { deflateThreshold: threshold, deflateLevel: level, deflateMemLevel: memLevel } = this.options;
    this.compression = { threshold, level, memLevel };
    this.events = new HubEventTarget(this.options.onError);
    this.broker = options?.broker ?? new InProcessBroker();
    this.registry = new TopicRegistry<C>(this.options.topic, {
      first: (topic) => {
        this.subscriptions.set(topic, this.broker.subscribe(topic).then(noop, noop));
      },
      last: (topic) => {
        this.subscriptions.delete(topic);
        this.broker.unsubscribe(topic).then(noop, noop);
        this.order.forget(topic);
      },
    });
    this.order = new StreamOrder({
      deliver: (message) => this.deliverRemote(message),
      history: (topic, since, limit) => this.broker.history(topic, since, limit),
      lost: (topic, from, to, error) => {
        if (this.events.has('lost')) this.events.emit('lost', { topic, from, to, error });
      },
    });
    this.owner = {
      maxQueuedBytes: this.options.maxQueuedBytes,
      lowWatermark: this.options.lowWatermark,
      dropped: (connection, message, reason) => this.dropped(connection, message, reason),
      evicted: (connection, topic, queuedBytes) => this.evicted(connection, topic, queuedBytes),
    };
    this.broker.start({
      deliver: (message) => this.receive(message),
      stateChanged: (state) => {
        if (this.events.has('broker')) this.events.emit('broker', { state });
      },
      unpublished: (message, error) => {
        if (this.events.has('unpublished')) {
          this.events.emit('unpublished', { topic: message.topic, payload: message.payload, isText: message.opcode === 0x1, error });
        }
      },
    });
  }

  // --- connections ---------------------------------------------------------------------------

  /**
   * Adds a connection and returns its id (a UUID; the same one if it is added again). It leaves the
   * hub, and every topic, by itself when it closes.
   */
  add(connection: C): string {
    this.checkOpen();
    checkConnection(connection);
    const existing = this.ids.get(connection);
    if (existing !== undefined) return existing;
    let id = this.knownIds.get(connection);
    if (id === undefined) this.knownIds.set(connection, (id = flatUUID()));
    this.ids.set(connection, id);
    this.byId.set(id, connection);
    if (!this.queues.has(connection)) this.queues.set(connection, new SubscriberQueue(connection, this.owner));
    if (!this.watched.has(connection)) {
      this.watched.add(connection);
      // Issue 11: a connection that closes leaves every topic by itself.
      const closed = (): void => this.connectionClosed(connection);
      connection.closed.then(closed, closed);
    }
    return id;
  }

  /**
   * Takes a connection out of the hub and all its topics; false if it was not in it. It stays open,
   * and what the hub had queued for it is still written, in order.
   */
  remove(connection: C): boolean {
    if (!this.ids.has(connection)) return false;
    this.detach(connection);
    return true;
  }

  /** Whether the connection is in the hub (added, not removed, not closed). */
  has(connection: C): boolean {
    return this.ids.has(connection);
  }

  /** The connection's id (a UUID, unique across processes), while it is in the hub. */
  id(connection: C): string | undefined {
    return this.ids.get(connection);
  }

  /** The connection with this id, if it is in the hub. */
  get(id: string): C | undefined {
    return this.byId.get(id);
  }

  /** How many connections are in the hub. */
  get size(): number {
    return this.ids.size;
  }

  /** The connections in the hub, in the order they were added (a live iterator). */
  connections(): IterableIterator<C> {
    return this.ids.keys();
  }

  /** Bytes and messages the hub holds for a connection that is behind (not yet given to it). */
  queued(connection: C): {
    /** Messages held for it. */
    readonly messages: number;
    /** Bytes of their frames (as `maxQueuedBytes` counts them). */
    readonly bytes: number;
  } {
    const queue = this.queues.get(connection);
    return { messages: queue?.queuedMessages ?? 0, bytes: queue?.queuedBytes ?? 0 };
  }

  // --- topics --------------------------------------------------------------------------------

  /** Subscribes a connection (which must be in the hub) to a topic; false if it already was. */
  subscribe(connection: C, topic: string): boolean {
    this.checkOpen();
    checkTopic(topic);
    this.checkMember(connection);
    return this.registry.join(connection, topic);
  }

  /** Unsubscribes; false if it was not subscribed. Messages already published to it are still delivered. */
  unsubscribe(connection: C, topic: string): boolean {
    checkTopic(topic);
    this.forgetCatchUp(connection, topic);
    return this.registry.leave(connection, topic);
  }

  /** The topics a connection is subscribed to (a live view). */
  topicsOf(connection: C): ReadonlySet<string> {
    return this.registry.topicsOf(connection);
  }

  /** A topic's subscribers (a live view: copy it before changing subscriptions while iterating). */
  members(topic: string): ReadonlySet<C> {
    return this.registry.members(topic);
  }

  /** How many subscribers a topic has on this hub. */
  count(topic: string): number {
    return this.registry.members(topic).size;
  }

  /** Topics with at least one subscriber on this hub. */
  topics(): string[] {
    return [...this.registry.names()];
  }

  /**
   * Sets a topic's options, over the hub's `topic` defaults; `undefined` restores the defaults. A
   * configured topic keeps its options and counters while it has no subscribers.
   */
  configure(topic: string, options?: TopicOptions): void {
    checkTopic(topic);
    this.registry.configure(topic, options);
  }

  /** A topic's counters, while it has subscribers or options. */
  stats(topic: string): TopicStats | undefined {
    return this.registry.stats(topic);
  }

  // --- messages ------------------------------------------------------------------------------

  /**
   * Publishes to every subscriber of `topic` (but `except`), encoding the message once, and hands
   * it to the broker for other hubs. Returns synchronously what happened to it for this hub's
   * subscribers: `queued + dropped + closed === recipients`. Losses that happen later (a
   * connection that closes before its queue was written) are reported by the 'drop' event.
   */
  publish(topic: string, data: string | BinaryData, options?: PublishOptions<C>): PublishResult {
    this.checkOpen();
    checkTopic(topic);
    const key = options?.key;
    checkKey(key);
    const { payload, isText } = encodePayload(data);
    const message = new OutgoingMessage(payload, isText, this.compression);
    const result = this.deliver(topic, message, options?.except, key);
    this.broker.publish({ topic, payload: message.payload, opcode: isText ? 0x1 : 0x2, key });
    return result;
  }

  /**
   * Appends a message to the topic's stream (see Broker): the broker gives it the topic's next
   * offset and keeps it in the topic's history, then every hub with members in the topic delivers
   * it, in offset order, this one included (a message that arrives before an earlier one waits for
   * it, and a gap is filled from the history). Resolves with its position once it is kept; rejects
   * with WS_ERR_UNAVAILABLE when the broker cannot take it (nothing was delivered then).
   */
  append(topic: string, data: string | BinaryData, options?: AppendOptions<C>): Promise<Appended> {
    try {
      this.checkOpen();
      checkTopic(topic);
      const key = options?.key;
      checkKey(key);
      const idempotencyKey = options?.idempotencyKey;
      if (idempotencyKey !== undefined && typeof idempotencyKey !== 'string') throw invalid('an idempotency key must be a string');
      const history = resolveHistory('history', options?.history, this.options.history);
      const { payload, isText } = encodePayload(data);
      const except = options?.except === undefined ? undefined : this.ids.get(options.except);
      const message: BrokerMessage = { topic, payload, opcode: isText ? 0x1 : 0x2, key, except };
      return this.broker.append(message, { history, idempotencyKey });
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** The topic's stream after `since` (its whole history when undefined), at most `limit` messages. */
  history(topic: string, since?: StreamPosition, limit: number = this.options.history.size): Promise<HistoryPage> {
    try {
      this.checkOpen();
      checkTopic(topic);
      checkPosition(since);
      return this.broker.history(topic, since, limit);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Subscribes a connection to a topic and sends it the stream's messages after `since` (what it
   * missed while away), then `notice`, then the live messages, in order and none twice: live
   * stream messages wait for it meanwhile. Resolves with whether everything after `since` could be
   * sent; a broker that fails makes it `recovered: false` (never a rejection), after which the
   * connection gets live messages as usual.
   */
  async recover(connection: C, topic: string, since: StreamPosition, options?: RecoverOptions): Promise<RecoveryResult> {
    this.checkOpen();
    checkTopic(topic);
    checkPosition(since);
    this.checkMember(connection);
    let topics = this.catchUps.get(connection);
    if (topics === undefined) this.catchUps.set(connection, (topics = new Map()));
    const catchUp: CatchUp = { held: [], upTo: null };
    topics.set(topic, catchUp);
    this.registry.join(connection, topic);
    let result: RecoveryResult;
    let sentUpTo = since;
    try {
      const limit = options?.limit ?? this.options.history.size;
      // The history is read once this hub receives the topic's live messages: nothing appended
      // in between can fall through.
      await this.subscriptions.get(topic);
      const page = await this.broker.history(topic, since, limit);
      for (const message of page.messages) {
        this.offerOne(connection, topic, message);
        sentUpTo = message.position ?? sentUpTo;
      }
      result = { recovered: page.complete, missed: page.messages.length, position: page.position };
    } catch {
      result = { recovered: false, missed: 0, position: sentUpTo };
    }
    try {
      const notice = options?.notice?.(result);
      if (notice !== undefined && this.ids.has(connection)) this.send(connection, notice);
    } finally {
      // The live messages that came meanwhile, but those the history already gave.
      const held = catchUp.held!;
      catchUp.held = null;
      for (const message of held) {
        if (atOrBefore(message.position!, sentUpTo)) continue;
        this.offerOne(connection, topic, message);
      }
      // What the history gave may still come live (CatchUp.upTo); with nothing given, done.
      const member = this.ids.has(connection) && this.registry.topicsOf(connection).has(topic);
      if (sentUpTo !== since && member) catchUp.upTo = sentUpTo;
      else this.forgetCatchUp(connection, topic, catchUp);
    }
    return result;
  }

  /** The broker's state: 'down' while it cannot carry messages to other hubs. */
  get brokerState(): BrokerState {
    return this.broker.state;
  }

  /** Sends to one connection, in order with everything the hub sends it, under the hub's sendPolicy. */
  send(connection: C, data: string | BinaryData, options?: HubSendOptions): HubSendResult {
    this.checkOpen();
    const key = options?.key;
    checkKey(key);
    const queue = this.queues.get(connection);
    if (queue === undefined || (!this.ids.has(connection) && connection.readyState === 'open')) {
      throw invalid('send: the connection is not in this hub (add it first)');
    }
    const { payload, isText } = encodePayload(data);
    const message = new OutgoingMessage(payload, isText, this.compression);
    // One recipient: nothing to share, so a connection with context takeover keeps using its own.
    const frame = message.frameFor(connection.deflateAgreement, false);
    return this.events.holding(() => queue.offer(frame, message, null, key, this.options.sendPolicy));
  }

  // --- events --------------------------------------------------------------------------------

  /**
   * Listens to an event (see HubEvents): 'drop', a message did not reach a connection (one event
   * per message and connection, with the reason); 'evict', a policy closed a connection with 1008
   * "too slow"; 'broker', the broker's state changed; 'unpublished', the broker could not carry a
   * publish; 'lost', stream messages were lost. Returns the function that removes the listener.
   */
  on<K extends keyof HubEvents<C>>(type: K, listener: Listener<HubEvents<C>[K]>): () => void {
    if (!HUB_EVENTS.has(type)) throw invalid(`unknown hub event ${String(type)}`);
    if (typeof listener !== 'function') throw invalid('a hub event listener must be a function');
    return this.events.on(type, listener);
  }

  /** Takes every connection out (they stay open; queues still drain) and closes the broker. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const connection of [...this.ids.keys()]) this.detach(connection);
    await this.broker.close();
  }

  // --- internals -----------------------------------------------------------------------------

  private deliver(
    topic: string,
    message: OutgoingMessage,
    except: C | undefined,
    key: string | undefined,
    stream: BrokerMessage | null = null,
  ): PublishResult {
    const entry = this.registry.get(topic);
    if (entry === undefined) return NOBODY;
    entry.published++;
    const members = entry.members;
    if (members.size === 0) return NOBODY;
    const { policy, noContextTakeover } = entry.options;
    const catchUps = stream === null || this.catchUps.size === 0 ? null : this.catchUps;
    let recipients = 0;
    let queued = 0;
    let dropped = 0;
    let closed = 0;
    // Events wait for the loop's end, so no listener changes who gets this message (issue 11).
    this.events.holding(() => {
      for (const member of members) {
        if (member === except) continue;
        const catchUp = catchUps?.get(member)?.get(topic);
        if (catchUp !== undefined) {
          // A member catching up on this topic gets the stream's live messages after what it missed.
          if (catchUp.held !== null) {
            catchUp.held.push(stream!);
            continue;
          }
          // Its recovery's history gave it this one already; a later one ends the watch.
          if (atOrBefore(stream!.position!, catchUp.upTo!)) continue;
          this.forgetCatchUp(member, topic);
        }
        recipients++;
        const frame = message.frameFor(member.deflateAgreement, noContextTakeover);
        const outcome = this.queues.get(member)!.offer(frame, message, topic, key, policy);
        if (outcome === 'queued') queued++;
        else if (outcome === 'dropped') dropped++;
        else closed++;
      }
    });
    return { recipients, queued, dropped, closed };
  }

  /** A message from the broker: another hub's publish, or a stream message (put in order first). */
  private receive(message: BrokerMessage): void {
    if (this.isClosed) return;
    if (message.position !== undefined) this.order.receive(message);
    else this.deliverRemote(message);
  }

  /** Delivers a broker's message like a local one; its losses go to the events. */
  private deliverRemote(message: BrokerMessage): void {
    if (this.isClosed) return;
    const outgoing = this.outgoing(message);
    if (outgoing === null) return;
    const except = message.except === undefined ? undefined : this.byId.get(message.except);
    this.deliver(message.topic, outgoing, except, message.key, message.position === undefined ? null : message);
  }

  /** A broker's message ready to frame: a stream message as `renderStream` makes it (null if it threw: reported). */
  private outgoing(message: BrokerMessage): OutgoingMessage | null {
    const render = this.options.renderStream;
    if (render === undefined || message.position === undefined) {
      return new OutgoingMessage(message.payload, message.opcode === 0x1, this.compression);
    }
    try {
      const { payload, isText } = encodePayload(render(message));
      return new OutgoingMessage(payload, isText, this.compression);
    } catch (error) {
      this.options.onError(error);
      return null;
    }
  }

  /** One stream message to one connection (recover()), under the topic's policy. */
  private offerOne(connection: C, topic: string, message: BrokerMessage): void {
    const queue = this.queues.get(connection);
    if (queue === undefined || !this.ids.has(connection)) return;
    const outgoing = this.outgoing(message);
    if (outgoing === null) return;
    const entry = this.registry.get(topic);
    const policy = entry?.options.policy ?? this.options.topic.policy;
    const frame = outgoing.frameFor(connection.deflateAgreement, entry?.options.noContextTakeover ?? false);
    this.events.holding(() => queue.offer(frame, outgoing, topic, message.key, policy));
  }

  private dropped(connection: C, { topic, key, bytes, message }: Dropped, reason: DropReason): void {
    if (topic !== null) {
      const entry = this.registry.get(topic);
      if (entry !== undefined) entry.dropped++;
    }
    if (this.events.has('drop')) {
      const { payload, isText } = message;
      this.events.emit('drop', { topic, connection, reason, bytes, key, payload, isText });
    }
  }

  private evicted(connection: C, topic: string | null, queuedBytes: number): void {
    if (topic !== null) {
      const entry = this.registry.get(topic);
      if (entry !== undefined) entry.evicted++;
    }
    // Out of every topic at once: later publishes do not count it as a recipient.
    this.detach(connection);
    try {
      connection.close(TOO_SLOW.code, TOO_SLOW.reason).then(noop, noop);
    } catch (error) {
      this.options.onError(error);
    }
    if (this.events.has('evict')) this.events.emit('evict', { topic, connection, queuedBytes });
  }

  private connectionClosed(connection: C): void {
    this.queues.get(connection)?.lost();
    this.detach(connection);
  }

  private detach(connection: C): void {
    const id = this.ids.get(connection);
    if (id === undefined) return;
    this.catchUps.delete(connection);
    this.ids.delete(connection);
    this.byId.delete(id);
    this.registry.leaveAll(connection);
  }

  /** Ends a connection's catch-up on a topic (only `which`, if given: a later recover() may have replaced it). */
  private forgetCatchUp(connection: C, topic: string, which?: CatchUp): void {
    const topics = this.catchUps.get(connection);
    if (topics === undefined || (which !== undefined && topics.get(topic) !== which)) return;
    topics.delete(topic);
    if (topics.size === 0) this.catchUps.delete(connection);
  }

  private checkOpen(): void {
    if (this.isClosed) throw invalid('the hub is closed');
  }

  private checkMember(connection: C): void {
    if (!this.ids.has(connection)) throw invalid('the connection is not in this hub (add it first)');
  }
}

function checkConnection(connection: HubConnection): void {
  const c = connection as Partial<Record<keyof HubConnection, unknown>> | null;
  if (
    typeof c !== 'object' ||
    c === null ||
    typeof c.sendPrepared !== 'function' ||
    typeof c.send !== 'function' ||
    typeof c.drain !== 'function' ||
    typeof c.close !== 'function' ||
    !(c.closed instanceof Promise)
  ) {
    throw invalid('add: not a connection (it needs send, sendPrepared, drain, close and closed)');
  }
}

const HUB_EVENTS: ReadonlySet<PropertyKey> = new Set(['drop', 'evict', 'broker', 'unpublished', 'lost']);

function checkPosition(position: unknown): void {
  if (position === undefined) return;
  const p = position as Partial<StreamPosition> | null;
  if (typeof p !== 'object' || p === null || typeof p.epoch !== 'string' || !Number.isInteger(p.offset) || p.offset! < 0) {
    throw invalid('a stream position must be { epoch: string, offset: a non-negative integer }');
  }
}

function checkTopic(topic: unknown): void {
  if (typeof topic !== 'string') throw invalid(`a topic must be a string, got ${typeof topic}`);
}

function checkKey(key: unknown): void {
  if (key !== undefined && typeof key !== 'string') throw invalid(`a conflation key must be a string, got ${typeof key}`);
}

/**
 * A connection's recover() on a topic. Under way: `held` keeps the topic's live stream messages
 * for after the history. Done: `upTo` is where its history ended, until a later stream message
 * reaches the connection. The history is read on another path than the live messages (Redis: a
 * command connection and a subscriber connection), so the live copy of a message the history gave
 * can still arrive after the recovery, and must not be sent twice (found by
 * chat/test/instances.test.ts on Node 24).
 */
interface CatchUp {
  held: BrokerMessage[] | null;
  upTo: StreamPosition | null;
}

/** `position` is `upTo` or earlier in the same stream (epoch). */
function atOrBefore(position: StreamPosition, upTo: StreamPosition): boolean {
  return position.epoch === upTo.epoch && position.offset <= upTo.offset;
}
