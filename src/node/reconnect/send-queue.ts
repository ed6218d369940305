/**
 * The send queue of a ReconnectingClient: messages waiting for a connection, in send() order, bounded
 * in messages and bytes. It never settles anything itself: every operation returns the entries it
 * let go of, and the client rejects each one with WS_ERR_DROPPED, so that no message leaves
 * without its promise saying so.
 */

import type { SendOptions } from '../send-arguments.js';
import type { QueuePolicy } from './options.js';

export interface Outgoing {
  /** send() order: restored entries go back to their place by it. */
  readonly seq: number;
  readonly data: string | Buffer;
  readonly options: SendOptions | undefined;
  /** Bytes of payload (UTF-8 bytes of a string). */
  readonly size: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export interface QueueLimits {
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
  readonly queuePolicy: QueuePolicy;
}

export class SendQueue {
  readonly #limits: QueueLimits;
  #entries: Outgoing[] = [];
  #bytes = 0;

  constructor(limits: QueueLimits) {
    this.#limits = limits;
  }

  get length(): number {
    return this.#entries.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Queues a new send. Returns what must be rejected as dropped: the new entry ('reject' when
   * full, or an entry that could never fit), or the oldest entries ('drop-oldest').
   */
  add(entry: Outgoing): Outgoing[] {
    const { maxQueuedMessages, maxQueuedBytes, queuePolicy } = this.#limits;
    if (entry.size > maxQueuedBytes || maxQueuedMessages === 0) return [entry];
    const dropped: Outgoing[] = [];
    while (this.#entries.length + 1 > maxQueuedMessages || this.#bytes + entry.size > maxQueuedBytes) {
      if (queuePolicy === 'reject') return [entry];
      dropped.push(this.#shift()!);
    }
    this.#entries.push(entry);
    this.#bytes += entry.size;
    return dropped;
  }

  /**
   * Puts back sends whose connection closed before confirming them, each at its place in send()
   * order. Returns what no longer fits, by the policy: the newest for 'reject' (what was accepted
   * first keeps its place), the oldest for 'drop-oldest'.
   */
  restore(entries: readonly Outgoing[]): Outgoing[] {
    if (entries.length === 0) return [];
    const merged = [...this.#entries, ...entries].sort((a, b) => a.seq - b.seq);
    this.#entries = merged;
    this.#bytes = merged.reduce((sum, entry) => sum + entry.size, 0);
    const { maxQueuedMessages, maxQueuedBytes, queuePolicy } = this.#limits;
    const dropped: Outgoing[] = [];
    while (this.#entries.length > 0 && (this.#entries.length > maxQueuedMessages || this.#bytes > maxQueuedBytes)) {
      const entry = queuePolicy === 'reject' ? this.#entries.pop()! : this.#entries.shift()!;
      this.#bytes -= entry.size;
      dropped.push(entry);
    }
    return dropped;
  }

  /** Everything queued, oldest first; the queue is empty after. */
  takeAll(): Outgoing[] {
    const entries = this.#entries;
    this.#entries = [];
    this.#bytes = 0;
    return entries;
  }

  #shift(): Outgoing | undefined {
    const entry = this.#entries.shift();
    if (entry !== undefined) this.#bytes -= entry.size;
    return entry;
  }
}
