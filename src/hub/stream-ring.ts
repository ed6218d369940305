/**
 * The messages one topic's stream keeps in memory (MemoryStreams), oldest first, as bytes in one
 * buffer and numbers in a circular table: no object per kept message. A kept message outlives two
 * scavenges (at 0.6 messages/s per user, a chat room's last 100 live 1.7 s), so an object per
 * message was promoted and then died in the old generation, and the full collections that garbage
 * brought stalled every delivery of the server for tens of milliseconds (issue 15: p99 at
 * Socket.IO's rates; bench/README.md, "The chat's first step, and the first full collection
 * after it"). A message is rebuilt, with a copy of its bytes, only when the history is read.
 */

import type { BrokerMessage, StreamPosition } from './broker.js';

const MIN_CAPACITY = 1024;

/** Slots of the smallest table of kept messages (a power of two, as every size of it is). */
const MIN_SLOTS = 16;

export class StreamRing {
  /** Payloads, back to back, the oldest kept one's from `starts[head]` to `end`. */
  private data = new Uint8Array(MIN_CAPACITY);
  private end = 0;
  /**
   * The kept messages' table: a circular one, `count` entries from slot `head` on (wrapping).
   * Fixed size while the number kept stays under it, so that a stream at its history's size
   * allocates nothing per message. Arrays that grew by push() and were cut down every so many
   * messages were replaced by new ones each time, and those lived long enough to be promoted:
   * about 100 KB of a chat's old generation every 2 s (issue 15; bench/README.md, "The harness's
   * own request in the chat's process"). Typed where it can be: their bytes are off V8's heap.
   */
  private slots = MIN_SLOTS;
  private head = 0;
  private count = 0;
  private starts = new Float64Array(MIN_SLOTS);
  private lengths = new Float64Array(MIN_SLOTS);
  private opcodes = new Uint8Array(MIN_SLOTS);
  private keys: (string | undefined)[] = emptySlots(MIN_SLOTS);
  private excepts: (string | undefined)[] = emptySlots(MIN_SLOTS);
  private idempotencyKeys: (string | undefined)[] = emptySlots(MIN_SLOTS);

  /** Messages kept. */
  get length(): number {
    return this.count;
  }

  /** Keeps a copy of `message` (its position is the caller's to know: kept messages are consecutive). */
  push(message: BrokerMessage, idempotencyKey: string | undefined): void {
    const size = message.payload.byteLength;
    if (this.end + size > this.data.length) this.makeRoom(size);
    if (this.count === this.slots) this.resize(this.slots * 2);
    this.data.set(message.payload, this.end);
    const i = (this.head + this.count) & (this.slots - 1);
    this.starts[i] = this.end;
    this.lengths[i] = size;
    this.opcodes[i] = message.opcode;
    this.keys[i] = message.key;
    this.excepts[i] = message.except;
    this.idempotencyKeys[i] = idempotencyKey;
    this.count++;
    this.end += size;
  }

  /** Forgets the oldest message; returns the idempotency key it was appended with (undefined when none is kept). */
  shift(): string | undefined {
    if (this.count === 0) return undefined;
    const at = this.head;
    const idempotencyKey = this.idempotencyKeys[at];
    // Strings go now, not when the slot is next written.
    this.keys[at] = this.excepts[at] = this.idempotencyKeys[at] = undefined;
    this.head = (at + 1) & (this.slots - 1);
    this.count--;
    // Nothing kept: the next payload at the buffer's start.
    if (this.count === 0) this.end = 0;
    // A quarter used: half the slots (a history made shorter does not keep its table).
    else if (this.count * 4 <= this.slots && this.slots > MIN_SLOTS) this.resize(this.slots / 2);
    return idempotencyKey;
  }

  /** The `index`th kept message (0: the oldest) at `position`, with a copy of its bytes. */
  at(index: number, topic: string, position: StreamPosition): BrokerMessage {
    const i = (this.head + index) & (this.slots - 1);
    const start = this.starts[i]!;
    return {
      topic,
      payload: this.data.slice(start, start + this.lengths[i]!),
      opcode: this.opcodes[i] as 0x1 | 0x2,
      key: this.keys[i],
      except: this.excepts[i],
      position,
    };
  }

  /** Bytes of the buffer (for tests and diagnostics): at most 4× what is kept, past 1 KiB. */
  get byteCapacity(): number {
    return this.data.length;
  }

  /** Slots of the table (for tests and diagnostics): a power of two, 16 at least, at most 4× what is kept. */
  get slotCapacity(): number {
    return this.slots;
  }

  /**
   * Room for `size` more bytes at the end: the kept payloads moved to the front of a buffer of
   * twice what they and `size` need (a power of two, 1 KiB at least). The buffer is replaced
   * when that is more than it has, or a quarter of it or less (one large message, trimmed, does
   * not keep its room for the life of the stream); otherwise they move within it. Either way at
   * least half the buffer is free after a move, so moves stay rare.
   */
  private makeRoom(size: number): void {
    const from = this.count === 0 ? this.end : this.starts[this.head]!;
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
    const mask = this.slots - 1;
    for (let n = 0; n < this.count; n++) {
      const i = (this.head + n) & mask;
      this.starts[i] = this.starts[i]! - from;
    }
    this.end = live;
  }

  /** A table of `slots` slots holding the kept entries, oldest first from slot 0. */
  private resize(slots: number): void {
    const mask = this.slots - 1;
    const starts = new Float64Array(slots);
    const lengths = new Float64Array(slots);
    const opcodes = new Uint8Array(slots);
    const keys = emptySlots(slots);
    const excepts = emptySlots(slots);
    const idempotencyKeys = emptySlots(slots);
    for (let n = 0; n < this.count; n++) {
      const i = (this.head + n) & mask;
      starts[n] = this.starts[i]!;
      lengths[n] = this.lengths[i]!;
      opcodes[n] = this.opcodes[i]!;
      keys[n] = this.keys[i];
      excepts[n] = this.excepts[i];
      idempotencyKeys[n] = this.idempotencyKeys[i];
    }
    this.slots = slots;
    this.head = 0;
    this.starts = starts;
    this.lengths = lengths;
    this.opcodes = opcodes;
    this.keys = keys;
    this.excepts = excepts;
    this.idempotencyKeys = idempotencyKeys;
  }
}

/** An array of `slots` slots, each undefined: made at its size, so never grown (nor reallocated). */
function emptySlots(slots: number): (string | undefined)[] {
  return new Array<string | undefined>(slots).fill(undefined);
}
