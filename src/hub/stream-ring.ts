/**
 * The messages one topic's stream keeps in memory (MemoryStreams), oldest first, as bytes in one
 * buffer and numbers in arrays: no object per kept message. A kept message outlives two
 * scavenges (at 0.6 messages/s per user, a chat room's last 100 live 1.7 s), so an object per
 * message was promoted and then died in the old generation, and the full collections that garbage
 * brought stalled every delivery of the server for tens of milliseconds (issue 15: p99 at
 * Socket.IO's rates; bench/README.md, "The chat's first step, and the first full collection
 * after it"). A message is rebuilt, with a copy of its bytes, only when the history is read.
 */

import type { BrokerMessage, StreamPosition } from './broker.js';

const MIN_CAPACITY = 1024;

/** Entries forgotten at the front before the arrays are moved down (amortized: at most as many as are kept). */
const COMPACT_AFTER = 64;

export class StreamRing {
  /** Payloads, back to back, the oldest kept one's from `starts[head]` to `end`. */
  private data = new Uint8Array(MIN_CAPACITY);
  private end = 0;
  /** Index of the oldest kept message in the arrays below. */
  private head = 0;
  private readonly starts: number[] = [];
  private readonly lengths: number[] = [];
  private readonly opcodes: (0x1 | 0x2)[] = [];
  private readonly keys: (string | undefined)[] = [];
  private readonly excepts: (string | undefined)[] = [];
  private readonly idempotencyKeys: (string | undefined)[] = [];

  /** Messages kept. */
  get length(): number {
    return this.starts.length - this.head;
  }

  /** Keeps a copy of `message` (its position is the caller's to know: kept messages are consecutive). */
  push(message: BrokerMessage, idempotencyKey: string | undefined): void {
    const size = message.payload.byteLength;
    if (this.end + size > this.data.length) this.makeRoom(size);
    this.data.set(message.payload, this.end);
    this.starts.push(this.end);
    this.lengths.push(size);
    this.opcodes.push(message.opcode);
    this.keys.push(message.key);
    this.excepts.push(message.except);
    this.idempotencyKeys.push(idempotencyKey);
    this.end += size;
  }

  /** Forgets the oldest message; returns the idempotency key it was appended with. */
  shift(): string | undefined {
    const at = this.head;
    const idempotencyKey = this.idempotencyKeys[at];
    // Strings go now, not when the arrays are next moved down.
    this.keys[at] = this.excepts[at] = this.idempotencyKeys[at] = undefined;
    this.head++;
    if (this.head === this.starts.length) {
      // Nothing kept: the arrays emptied, the next payload at the buffer's start.
      this.compactArrays();
      this.end = 0;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.starts.length) this.compactArrays();
    return idempotencyKey;
  }

  /** The `index`th kept message (0: the oldest) at `position`, with a copy of its bytes. */
  at(index: number, topic: string, position: StreamPosition): BrokerMessage {
    const i = this.head + index;
    const start = this.starts[i]!;
    return {
      topic,
      payload: this.data.slice(start, start + this.lengths[i]!),
      opcode: this.opcodes[i]!,
      key: this.keys[i],
      except: this.excepts[i],
      position,
    };
  }

  /** Bytes of the buffer (for tests and diagnostics): at most 4× what is kept, past 1 KiB. */
  get byteCapacity(): number {
    return this.data.length;
  }

  /**
   * Room for `size` more bytes at the end: the kept payloads moved to the front of a buffer of
   * twice what they and `size` need (a power of two, 1 KiB at least). The buffer is replaced
   * when that is more than it has, or a quarter of it or less (one large message, trimmed, does
   * not keep its room for the life of the stream); otherwise they move within it. Either way at
   * least half the buffer is free after a move, so moves stay rare.
   */
  private makeRoom(size: number): void {
    const from = this.length === 0 ? this.end : this.starts[this.head]!;
    const live = this.end - from;
    let capacity = MIN_CAPACITY;
    while (capacity < (live + size) * 2) capacity *= 2;
    if (capacity > this.data.length || capacity * 4 <= this.data.length) {
      const replaced = new Uint8Array(capacity);
      replaced.set(this.data.subarray(from, this.end));
      this.data = replaced;
    } else {
      this.data.copyWithin(0, from, this.end);
    }
    for (let i = this.head; i < this.starts.length; i++) this.starts[i] = this.starts[i]! - from;
    this.end = live;
  }

  /** Drops the forgotten entries from the front of the arrays. */
  private compactArrays(): void {
    const kept = this.length;
    for (const array of [this.starts, this.lengths, this.opcodes, this.keys, this.excepts, this.idempotencyKeys] as unknown[][]) {
      array.copyWithin(0, this.head);
      array.length = kept;
    }
    this.head = 0;
  }
}
