/**
 * The seam between a hub and other hubs (issue 11): publishes go through a Broker, so that an
 * engine for several processes (Redis, in its own package) can carry them without the hub's users
 * changing their code. Only the in-process broker is built here.
 *
 * Division of work: a hub delivers its own publishes to its own subscribers itself, synchronously
 * (that is what makes publish()'s counts synchronous and honest), and hands the message to its
 * broker for the other hubs. Messages from other hubs come back through the function given to
 * start(). A hub tells its broker which topics it has members in (subscribe/unsubscribe on the
 * first member and after the last), so a broker routes a topic's messages only to the hubs that
 * have members in it, as Centrifuge nodes subscribe only to the channels they have clients in.
 */

import { WebSocketError } from '../protocol/errors.js';

/** A published message as it travels between hubs: serializable, unframed, uncompressed. */
export interface BrokerMessage {
  readonly topic: string;
  /** The message bytes (UTF-8 for text), before framing and compression: each hub frames and compresses for its own subscribers. */
  readonly payload: Uint8Array;
  /** RFC 6455 5.2: 0x1 text, 0x2 binary. */
  readonly opcode: 0x1 | 0x2;
  /** The conflation key given to publish(), if any. */
  readonly key: string | undefined;
}

export interface Broker {
  /** Called once, by the hub that owns this broker, before anything else: messages from other hubs go to `deliver`. */
  start(deliver: (message: BrokerMessage) => void): void;
  /**
   * A message this hub published (and delivered to its own subscribers already), for the other hubs
   * with members in its topic. Must not block: a remote broker queues or batches. It must not
   * deliver the message back to this hub.
   */
  publish(message: BrokerMessage): void;
  /** This hub has its first member in `topic`: route the topic's messages here. */
  subscribe(topic: string): void;
  /** This hub's last member left `topic`. */
  unsubscribe(topic: string): void;
  /** The hub closed: stop delivering, release resources. */
  close(): Promise<void>;
}

/**
 * Connects the hubs of one process: each hub gets its own InProcessBroker on a shared bus. A hub
 * created without a broker gets one on a bus of its own, which carries nothing since it is alone.
 */
export class InProcessBus {
  /** topic -> the brokers whose hubs have members in it. */
  private readonly routes = new Map<string, Set<InProcessBroker>>();

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

  /** @internal Delivers synchronously, in publish order, to every other hub with members in the topic. */
  carry(message: BrokerMessage, from: InProcessBroker): void {
    const brokers = this.routes.get(message.topic);
    if (brokers === undefined) return;
    for (const broker of [...brokers]) if (broker !== from) broker.receive(message);
  }
}

export class InProcessBroker implements Broker {
  private readonly bus: InProcessBus;
  private deliver: ((message: BrokerMessage) => void) | undefined;
  private readonly topics = new Set<string>();
  private closed = false;

  constructor(bus: InProcessBus = new InProcessBus()) {
    this.bus = bus;
  }

  start(deliver: (message: BrokerMessage) => void): void {
    if (this.deliver !== undefined) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'this broker already serves a hub; give each hub its own (bus.broker())');
    }
    this.deliver = deliver;
  }

  publish(message: BrokerMessage): void {
    if (!this.closed) this.bus.carry(message, this);
  }

  subscribe(topic: string): void {
    if (this.closed) return;
    this.topics.add(topic);
    this.bus.route(topic, this, true);
  }

  unsubscribe(topic: string): void {
    this.topics.delete(topic);
    this.bus.route(topic, this, false);
  }

  close(): Promise<void> {
    this.closed = true;
    for (const topic of this.topics) this.bus.route(topic, this, false);
    this.topics.clear();
    return Promise.resolve();
  }

  /** @internal */
  receive(message: BrokerMessage): void {
    if (!this.closed) this.deliver?.(message);
  }
}
