/**
 * RedisBroker: the hub's Broker (rfc6455/hub) on Redis or a Redis Cluster, so hubs in several
 * processes and machines serve one set of topics. `new Hub({ broker: new RedisBroker({ url }) })`.
 *
 * - publish(): one PUBLISH (SPUBLISH in a cluster) on the topic's channel; every node subscribed to
 *   it delivers the message, but the publisher, which delivered it itself (the node id on the wire).
 * - append(): one Lua script (scripts.ts) gives the message the topic's next offset in its epoch,
 *   keeps it in the topic's Redis Stream and publishes it with its position, atomically: the order
 *   of the channel is the order of the offsets, on every node.
 * - history(): the other script, XRANGE after a position, with its completeness.
 * - subscribe()/unsubscribe(): the topic's channel, in batches (subscriber.ts).
 * - Outages (connection.ts): `down` while Redis is unreachable, publishes reported to
 *   `node.unpublished`, appends and history reads rejected with WS_ERR_UNAVAILABLE; then
 *   reconnection with backoff, every topic subscribed again, `up`, and what the streams got
 *   meanwhile delivered (catch-up.ts).
 */

import { randomUUID } from 'node:crypto';
import { WebSocketError } from 'rfc6455';
import type { Appended, Broker, BrokerAppendOptions, BrokerMessage, BrokerNode, BrokerState, HistoryPage, StreamPosition } from 'rfc6455/hub';
import { bounded, resolveBackoff, type ReconnectOptions } from './backoff.js';
import { CatchUp } from './catch-up.js';
import { Connection } from './connection.js';
import { checkPrefix, DEFAULT_PREFIX, topicKeys, type TopicKeys } from './keys.js';
import { appendReply, historyReply } from './scripts.js';
import { isConnectionError, type Session } from './session.js';
import { Subscriber } from './subscriber.js';
import { decodeEntry, decodeMessage, encodeEntry, encodePublish } from './wire.js';

export interface RedisBrokerOptions {
  /** One Redis: `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. Default `redis://127.0.0.1:6379`. */
  readonly url?: string;
  /** A Redis Cluster instead: URLs of some of its nodes (the client finds the others). Channels are then sharded. */
  readonly cluster?: readonly string[];
  /** The first part of every key and channel name. Default `'rfc6455'`; no braces. */
  readonly prefix?: string;
  /** Milliseconds a command (or a PING) may wait for its answer before the connection counts as broken. Default 5,000, 10 to 600,000. */
  readonly commandTimeout?: number;
  /** Milliseconds a connection attempt may take. Default 5,000, 10 to 600,000. */
  readonly connectTimeout?: number;
  /** Milliseconds between two PINGs of every connection, to notice a hung server. Default 1,000, 10 to 600,000. */
  readonly heartbeatInterval?: number;
  /** The backoff between reconnection attempts. Default `{ initialDelay: 50, maxDelay: 2000 }`. */
  readonly reconnect?: ReconnectOptions;
  /**
   * Milliseconds after which the epoch that history() gives a topic never appended to is forgotten
   * (a stream that is appended to lives by its own `history.ttl`). Default one day; 0: never; to 2^31-1.
   */
  readonly emptyStreamTtl?: number;
  /** Receives what cannot be reported elsewhere: a message on a channel that this package did not write. Default `console.error`. */
  readonly onError?: (error: unknown) => void;
}

const DAY = 24 * 60 * 60 * 1000;
const MAX_LIMIT = 2 ** 31 - 1;

/** A new epoch: 8 letters and digits from a strong source (as the hub's in-process streams make them). */
function newEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let epoch = '';
  for (const byte of bytes) epoch += alphabet[byte % alphabet.length];
  return epoch;
}

/** A `redis://` or `rediss://` URL (node-redis would throw later, inside a connection attempt). */
function checkUrl(url: unknown): void {
  let parsed: URL | undefined;
  try {
    parsed = typeof url === 'string' ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')) {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `a Redis URL must be redis://host[:port] or rediss://..., got ${JSON.stringify(url)}`);
  }
}

function unavailable(reason: unknown): WebSocketError {
  const text = reason instanceof Error ? reason.message : String(reason);
  const error = new WebSocketError('WS_ERR_UNAVAILABLE', `Redis is unavailable: ${text}`);
  if (reason instanceof Error) error.cause = reason;
  return error;
}

export class RedisBroker implements Broker {
  /** This node's id on the wire (a UUID): a node drops its own publishes. */
  readonly nodeId: string = randomUUID();
  private node: BrokerNode | undefined;
  private readonly prefix: string;
  private readonly emptyStreamTtl: number;
  private readonly onError: (error: unknown) => void;
  private readonly connection: Connection;
  private readonly subscriber: Subscriber;
  private readonly catchUp: CatchUp;
  private readyWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private closed = false;

  constructor(options: RedisBrokerOptions = {}) {
    if (options.url !== undefined && options.cluster !== undefined) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'give either url (one Redis) or cluster (its nodes), not both');
    }
    if (options.cluster !== undefined && (!Array.isArray(options.cluster) || options.cluster.length === 0 || options.cluster.some((url) => typeof url !== 'string'))) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'cluster must be a non-empty array of node URLs');
    }
    const url = options.url ?? 'redis://127.0.0.1:6379';
    for (const each of options.cluster ?? [url]) checkUrl(each);
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    checkPrefix(this.prefix);
    this.emptyStreamTtl = bounded('emptyStreamTtl', options.emptyStreamTtl ?? DAY, 0, MAX_LIMIT);
    this.onError = options.onError ?? ((error) => console.error(error));
    if (typeof this.onError !== 'function') throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'onError must be a function');
    const commandTimeout = bounded('commandTimeout', options.commandTimeout ?? 5_000, 10, 600_000);
    const connectTimeout = bounded('connectTimeout', options.connectTimeout ?? 5_000, 10, 600_000);
    const heartbeatInterval = bounded('heartbeatInterval', options.heartbeatInterval ?? 1_000, 10, 600_000);
    const backoff = resolveBackoff(options.reconnect);

    this.subscriber = new Subscriber({
      channel: (topic) => this.keys(topic).channel,
      message: (topic, bytes) => this.receive(topic, bytes),
      failed: (session, error) => this.connection.fail(session, error),
    });
    this.catchUp = new CatchUp((message) => {
      if (this.subscriber.has(message.topic)) this.node?.deliver(message);
    });
    this.connection = new Connection(
      { url, cluster: options.cluster === undefined ? undefined : [...options.cluster], commandTimeout, connectTimeout, heartbeatInterval, backoff },
      {
        opened: async (session) => {
          // Live messages of the topics with a known position wait until their catch-up is done.
          this.catchUp.hold();
          await this.subscriber.attach(session);
        },
        up: (session) => this.up(session),
        ended: (_session, _error, wasUp) => {
          this.subscriber.detach();
          if (wasUp && !this.closed) this.node?.stateChanged('down');
        },
      },
    );
    this.connection.start();
  }

  /** 'up' once connected and subscribed; 'down' before, during an outage, and after close(). */
  get state(): BrokerState {
    return !this.closed && this.connection.state === 'up' ? 'up' : 'down';
  }

  /** Resolves once the broker is up (at once if it is); rejects if it is closed first. It connects by itself from construction on. */
  ready(): Promise<void> {
    if (this.closed) return Promise.reject(unavailable('the broker is closed'));
    if (this.state === 'up') return Promise.resolve();
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  start(node: BrokerNode): void {
    if (this.node !== undefined) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'this broker already serves a hub; give each hub its own RedisBroker');
    }
    this.node = node;
  }

  publish(message: BrokerMessage): void {
    if (this.closed) return;
    const session = this.connection.session;
    if (session === null) {
      this.unpublished(message, unavailable(this.connection.lastError ?? 'not connected'));
      return;
    }
    session.publish(this.keys(message.topic).channel, encodePublish(message, this.nodeId)).catch((error: unknown) => {
      this.unpublished(message, unavailable(error));
      this.broken(session, error);
    });
  }

  async append(message: BrokerMessage, options: BrokerAppendOptions): Promise<Appended> {
    const session = this.usable();
    const { size, ttl } = options.history;
    let raw: unknown;
    try {
      raw = await session.append(this.keys(message.topic), {
        size,
        ttl,
        idempotencyKey: options.idempotencyKey,
        entry: encodeEntry(message, this.nodeId),
        newEpoch: newEpoch(),
        sharded: session.sharded,
      });
    } catch (error) {
      this.broken(session, error);
      throw unavailable(error);
    }
    const reply = appendReply(raw);
    return { position: { epoch: reply.epoch, offset: reply.offset }, duplicate: reply.duplicate };
  }

  history(topic: string, since: StreamPosition | undefined, limit: number): Promise<HistoryPage> {
    try {
      return this.read(this.usable(), topic, since, limit);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  async subscribe(topic: string): Promise<void> {
    if (this.closed) return;
    await this.subscriber.want(topic);
    // Where the stream stands now: what is appended from here on, this node must get (catch-up.ts).
    const session = this.connection.session;
    if (session === null || !this.subscriber.has(topic) || this.catchUp.position(topic) !== undefined) return;
    try {
      const page = await this.read(session, topic, undefined, 0);
      if (this.subscriber.has(topic)) this.catchUp.baseline(topic, page.position);
    } catch {
      // Down again: the topic has no baseline, so nothing to catch up for it after this outage.
    }
  }

  unsubscribe(topic: string): Promise<void> {
    this.subscriber.drop(topic);
    this.catchUp.forget(topic);
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscriber.close();
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const waiter of waiters) waiter.reject(unavailable('the broker is closed'));
    await this.connection.close();
  }

  // --- internals -----------------------------------------------------------------------------

  private keys(topic: string): TopicKeys {
    return topicKeys(this.prefix, topic);
  }

  /** The live session, or WS_ERR_UNAVAILABLE. */
  private usable(): Session {
    if (this.closed) throw unavailable('the broker is closed');
    const session = this.connection.session;
    if (session === null) throw unavailable(this.connection.lastError ?? 'not connected');
    return session;
  }

  /** A command failed: if the connection is broken, the session ends (and the broker says down). */
  private broken(session: Session, error: unknown): void {
    if (isConnectionError(error)) this.connection.fail(session, error instanceof Error ? error : new Error(String(error)));
  }

  private async read(session: Session, topic: string, since: StreamPosition | undefined, limit: number): Promise<HistoryPage> {
    const count = Number.isNaN(limit) ? 0 : Math.max(0, Math.min(MAX_LIMIT, Math.floor(limit)));
    let raw: unknown;
    try {
      raw = await session.history(this.keys(topic), { since, limit: count, newEpoch: newEpoch(), emptyTtl: this.emptyStreamTtl });
    } catch (error) {
      this.broken(session, error);
      throw unavailable(error);
    }
    const reply = historyReply(raw);
    const messages: BrokerMessage[] = [];
    for (const { offset, entry } of reply.entries) {
      try {
        messages.push(decodeEntry(topic, { epoch: reply.epoch, offset }, entry).message);
      } catch (error) {
        this.onError(error);
      }
    }
    return { messages, position: { epoch: reply.epoch, offset: reply.offset }, complete: reply.complete };
  }

  private up(session: Session): void {
    if (this.closed) return;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const waiter of waiters) waiter.resolve();
    this.node?.stateChanged('up');
    const connected = (): boolean => this.connection.session === session;
    const read = (topic: string, since: StreamPosition, limit: number): Promise<HistoryPage> => this.read(session, topic, since, limit);
    for (const topic of this.subscriber.topics()) {
      this.catchUp.run(topic, read, connected).catch((error: unknown) => this.onError(error));
    }
  }

  /** A message from a topic's channel. */
  private receive(topic: string, bytes: Buffer): void {
    if (this.closed) return;
    let decoded;
    try {
      decoded = decodeMessage(topic, bytes);
    } catch (error) {
      this.onError(error);
      return;
    }
    const { message, node } = decoded;
    // Its own publishes a node delivered itself; stream messages go to every node, this one included.
    if (message.position !== undefined || node !== this.nodeId) this.catchUp.live(message);
  }

  private unpublished(message: BrokerMessage, error: Error): void {
    // Later, not inside the hub's publish() call.
    queueMicrotask(() => this.node?.unpublished(message, error));
  }
}
