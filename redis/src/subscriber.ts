/**
 * The channels of the topics this node has members in, and only those (as Centrifuge nodes
 * subscribe only to the channels they have clients in). The hub says which topics it wants
 * (`want`/`drop`); what changed within one turn of the event loop goes to Redis as one batch: one
 * SUBSCRIBE and one UNSUBSCRIBE for everything (a cluster: one SSUBSCRIBE per slot, pipelined).
 *
 * A new session (after a reconnect) starts with nothing subscribed: `attach` subscribes every
 * wanted topic again, in one batch, before the connection says `up`. `want` resolves once the
 * topic's channel is subscribed on a live session: while Redis is unreachable it waits for the next
 * one (the Broker contract: subscribe() never rejects).
 */

import type { ChannelListener, Session } from './session.js';

export interface SubscriberHost {
  /** The channel of a topic (keys.ts). */
  channel(topic: string): string;
  /** A message on the channel of a wanted topic. */
  message(topic: string, bytes: Buffer): void;
  /** A batch failed on `session` (the connection is broken). */
  failed(session: Session, error: Error): void;
}

export class Subscriber {
  private readonly host: SubscriberHost;
  private readonly wanted = new Set<string>();
  /** Subscribed on the current session. */
  private readonly subscribed = new Set<string>();
  private readonly topicsByChannel = new Map<string, string>();
  private readonly waiters = new Map<string, (() => void)[]>();
  private session: Session | null = null;
  private scheduled = false;
  private running: Promise<void> | null = null;
  /** Counts batches sent (SUBSCRIBE or UNSUBSCRIBE rounds), for tests and diagnostics. */
  batches = 0;

  private readonly listener: ChannelListener = (message, channel) => {
    const topic = this.topicsByChannel.get(channel.toString());
    if (topic !== undefined && this.wanted.has(topic)) this.host.message(topic, message);
  };

  constructor(host: SubscriberHost) {
    this.host = host;
  }

  /** Whether the node has members in `topic`. */
  has(topic: string): boolean {
    return this.wanted.has(topic);
  }

  /** The topics the node has members in. */
  topics(): ReadonlySet<string> {
    return this.wanted;
  }

  /** Subscribes `topic`'s channel (in the next batch); resolves once it is subscribed on a live session. */
  want(topic: string): Promise<void> {
    this.wanted.add(topic);
    this.topicsByChannel.set(this.host.channel(topic), topic);
    if (this.session !== null && this.subscribed.has(topic)) return Promise.resolve();
    const promise = new Promise<void>((resolve) => {
      let list = this.waiters.get(topic);
      if (list === undefined) this.waiters.set(topic, (list = []));
      list.push(resolve);
    });
    this.schedule();
    return promise;
  }

  /** Unsubscribes `topic`'s channel (in the next batch); its messages are ignored from now on. */
  drop(topic: string): void {
    if (!this.wanted.delete(topic)) return;
    this.topicsByChannel.delete(this.host.channel(topic));
    this.wake(topic);
    this.schedule();
  }

  /** A new session: subscribes every wanted topic; resolves once done, rejects if the session broke. */
  attach(session: Session): Promise<void> {
    this.session = session;
    this.subscribed.clear();
    return this.flush();
  }

  /** The session is gone: nothing is subscribed any more (`want` waits for the next one). */
  detach(): void {
    this.session = null;
    this.subscribed.clear();
  }

  /** The broker closed: every waiting subscribe() resolves, nothing is wanted. */
  close(): void {
    this.detach();
    this.wanted.clear();
    this.topicsByChannel.clear();
    for (const topic of [...this.waiters.keys()]) this.wake(topic);
  }

  private wake(topic: string): void {
    const list = this.waiters.get(topic);
    if (list === undefined) return;
    this.waiters.delete(topic);
    for (const resolve of list) resolve();
  }

  /** One batch per turn of the event loop. */
  private schedule(): void {
    if (this.scheduled || this.session === null) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const session = this.session;
      if (session === null) return;
      this.flush().catch((error: unknown) => this.host.failed(session, error instanceof Error ? error : new Error(String(error))));
    });
  }

  /** Brings the session's subscriptions to what is wanted, batch after batch, one flush at a time. */
  private flush(): Promise<void> {
    if (this.running !== null) {
      // The running flush looks again when its batch is done; a new session waits for it too.
      return this.running.then(
        () => this.flush(),
        () => this.flush(),
      );
    }
    const running = this.sync().finally(() => {
      if (this.running === running) this.running = null;
    });
    this.running = running;
    return running;
  }

  private async sync(): Promise<void> {
    for (;;) {
      const session = this.session;
      if (session === null) return;
      const add = [...this.wanted].filter((topic) => !this.subscribed.has(topic));
      const remove = [...this.subscribed].filter((topic) => !this.wanted.has(topic));
      if (add.length === 0 && remove.length === 0) return;
      this.batches++;
      try {
        await Promise.all([
          add.length === 0 ? undefined : session.subscribe(add.map((topic) => this.host.channel(topic)), this.listener),
          remove.length === 0 ? undefined : session.unsubscribe(remove.map((topic) => this.host.channel(topic)), this.listener),
        ]);
      } catch (error) {
        if (session === this.session) throw error;
        continue; // that session is gone; the loop goes on with the next one, if any
      }
      if (session !== this.session) continue;
      for (const topic of add) this.subscribed.add(topic);
      for (const topic of remove) this.subscribed.delete(topic);
      for (const topic of add) if (this.wanted.has(topic)) this.wake(topic);
    }
  }
}
