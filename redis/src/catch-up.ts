/**
 * What this node missed while it could not hear Redis, delivered after it can again.
 *
 * The hub's StreamOrder fills a gap when it sees the message after it; but a message appended by
 * another node while this one was cut off, with nothing after it, would never be noticed. So the
 * broker keeps, per topic with members here, the last stream position it handed its node (or,
 * before any, where the stream stood when the topic was subscribed: its baseline). When a new
 * session is up, every such topic's live messages are held, the stream is read after that position
 * (XRANGE, in pages) and delivered in order, then the held messages are let through (stream
 * messages the read already delivered are dropped). Publishes that arrive meanwhile are held too,
 * so the topic's live messages keep the channel's order and come after what was appended before. A stream whose epoch changed meanwhile (its history expired,
 * or Redis restarted empty) is read from its start: all of it is new to this node.
 */

import type { BrokerMessage, HistoryPage, StreamPosition } from 'rfc6455/hub';

/** Messages read per history call while catching up. */
export const CATCH_UP_PAGE = 500;

type Read = (topic: string, since: StreamPosition, limit: number) => Promise<HistoryPage>;

interface Held {
  readonly messages: BrokerMessage[];
}

export class CatchUp {
  private readonly last = new Map<string, StreamPosition>();
  private readonly holding = new Map<string, Held>();
  private readonly deliver: (message: BrokerMessage) => void;

  constructor(deliver: (message: BrokerMessage) => void) {
    this.deliver = deliver;
  }

  /** The last position handed to the node for `topic` (or its baseline). */
  position(topic: string): StreamPosition | undefined {
    return this.last.get(topic);
  }

  /** Where `topic`'s stream stood when it was subscribed, unless a message was delivered already. */
  baseline(topic: string, position: StreamPosition): void {
    if (!this.last.has(topic)) this.last.set(topic, position);
  }

  /** The node has no members in `topic` any more. */
  forget(topic: string): void {
    this.last.delete(topic);
    this.holding.delete(topic);
  }

  /** A live message (a publish, or a stream message): held while its topic catches up, else delivered (a stream message unless it was already). */
  live(message: BrokerMessage): void {
    const held = this.holding.get(message.topic);
    if (held !== undefined) held.messages.push(message);
    else this.pass(message);
  }

  /** Before a new session subscribes: from now on, live messages of every topic with a known position wait. Returns those topics. */
  hold(): string[] {
    const topics = [...this.last.keys()];
    for (const topic of topics) this.holding.set(topic, { messages: [] });
    return topics;
  }

  /**
   * Reads `topic`'s stream after its last position and delivers it, then what was held. If the
   * read fails and `connected()` says the session is gone, the held messages are dropped (the next
   * session reads them from the stream again, from the same position); otherwise they are let
   * through, and the hub's StreamOrder reports the gap it cannot fill.
   */
  async run(topic: string, read: Read, connected: () => boolean): Promise<void> {
    const held = this.holding.get(topic);
    if (held === undefined) return;
    try {
      let since = this.last.get(topic);
      for (let epochs = 0; since !== undefined && epochs < 3; ) {
        const page = await read(topic, since, CATCH_UP_PAGE);
        if (this.holding.get(topic) !== held) return; // forgotten, or a newer session took over
        if (page.position.epoch !== since.epoch) {
          // Its history was lost meanwhile: the new epoch is all new to this node.
          since = { epoch: page.position.epoch, offset: 0 };
          epochs++;
          continue;
        }
        for (const message of page.messages) this.pass(message);
        if (page.messages.length < CATCH_UP_PAGE) break;
        since = this.last.get(topic);
      }
    } catch {
      if (this.holding.get(topic) === held && !connected()) {
        this.holding.delete(topic);
        return;
      }
    }
    if (this.holding.get(topic) !== held) return;
    this.holding.delete(topic);
    for (const message of held.messages) this.pass(message);
  }

  private pass(message: BrokerMessage): void {
    const position = message.position;
    if (position === undefined) {
      this.deliver(message);
      return;
    }
    const last = this.last.get(message.topic);
    if (last !== undefined && last.epoch === position.epoch && position.offset <= last.offset) return;
    this.last.set(message.topic, position);
    this.deliver(message);
  }
}
