/**
 * Stream messages in offset order, per topic, for one hub (issue 16's loss detection, Centrifuge's
 * model): a message whose offset is not the next one is held, and the missing range is asked of
 * the broker's history; once it is there (or known to be gone), delivery goes on in order. A
 * repeated offset (the gap fill and the live message both brought it) is delivered once.
 *
 * The first message after a topic gets its first local member sets where the topic starts; a new
 * epoch (the stream's history was lost) starts it again. Held messages are bounded: past
 * `maxHeld`, the gap is given up and what is held is delivered in order.
 */

import type { BrokerMessage, HistoryPage, StreamPosition } from './broker.js';

interface TopicState {
  /** The last position delivered (null: none yet since the topic got local members). */
  last: StreamPosition | null;
  /** Messages after a gap, by offset. */
  held: Map<number, BrokerMessage> | null;
  /** A history request for the gap is in flight. */
  filling: boolean;
}

export interface StreamOrderHost {
  /** Delivers a stream message to the topic's local subscribers. */
  deliver(message: BrokerMessage): void;
  /** Asks the broker for the messages after `since`. */
  history(topic: string, since: StreamPosition, limit: number): Promise<HistoryPage>;
  /** Offsets that were never recovered (the history no longer had them, or the broker failed). */
  lost(topic: string, from: number, to: number, error: Error | null): void;
}

export class StreamOrder {
  private readonly topics = new Map<string, TopicState>();
  private readonly host: StreamOrderHost;
  private readonly maxHeld: number;

  constructor(host: StreamOrderHost, maxHeld = 1000) {
    this.host = host;
    this.maxHeld = maxHeld;
  }

  /** The topic lost its last local member: where it was is forgotten. */
  forget(topic: string): void {
    this.topics.delete(topic);
  }

  /** The last position delivered for `topic`, if any. */
  position(topic: string): StreamPosition | null {
    return this.topics.get(topic)?.last ?? null;
  }

  /** A stream message from the broker. */
  receive(message: BrokerMessage): void {
    const position = message.position!;
    let state = this.topics.get(message.topic);
    if (state === undefined) this.topics.set(message.topic, (state = { last: null, held: null, filling: false }));
    const last = state.last;
    if (last === null || last.epoch !== position.epoch) {
      // The start of what this hub sees of the stream, or a new epoch: nothing before it to wait for.
      state.held = null;
      this.accept(state, message);
      return;
    }
    if (position.offset <= last.offset) return; // delivered already
    if (position.offset === last.offset + 1) {
      this.accept(state, message);
      this.release(state);
      return;
    }
    (state.held ??= new Map()).set(position.offset, message);
    if (state.held.size > this.maxHeld) {
      this.giveUp(message.topic, state, null);
      return;
    }
    if (!state.filling) this.fill(message.topic, state);
  }

  private accept(state: TopicState, message: BrokerMessage): void {
    state.last = message.position!;
    this.host.deliver(message);
  }

  /** Delivers held messages that are next in order. */
  private release(state: TopicState): void {
    const held = state.held;
    if (held === null) return;
    let next: BrokerMessage | undefined;
    while ((next = held.get(state.last!.offset + 1)) !== undefined) {
      held.delete(next.position!.offset);
      this.accept(state, next);
    }
    if (held.size === 0) state.held = null;
  }

  /** Asks the history for the gap after `last`, and delivers what comes back in order. */
  private fill(topic: string, state: TopicState): void {
    state.filling = true;
    const since = state.last!;
    const upTo = Math.min(...state.held!.keys());
    this.host.history(topic, since, upTo - since.offset - 1).then(
      (page) => {
        state.filling = false;
        if (this.topics.get(topic) !== state || state.last !== since) {
          if (this.topics.get(topic) === state && state.held !== null && !state.filling) this.fill(topic, state);
          return;
        }
        for (const message of page.messages) {
          const position = message.position;
          if (position === undefined || position.epoch !== since.epoch || position.offset !== state.last!.offset + 1) continue;
          this.accept(state, message);
        }
        if (!page.complete || state.last!.offset < upTo - 1) this.giveUp(topic, state, null);
        else this.release(state);
      },
      (error: unknown) => {
        state.filling = false;
        if (this.topics.get(topic) === state && state.last === since) this.giveUp(topic, state, error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  /** The gap cannot be filled: it is reported, and what is held is delivered in order. */
  private giveUp(topic: string, state: TopicState, error: Error | null): void {
    const held = state.held;
    if (held === null) return;
    const offsets = [...held.keys()].sort((a, b) => a - b);
    state.held = null;
    for (const offset of offsets) {
      const from = state.last!.offset + 1;
      if (offset > from) this.host.lost(topic, from, offset - 1, error);
      this.accept(state, held.get(offset)!);
    }
  }
}
