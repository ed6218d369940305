/**
 * One subscriber's bounded queue in the hub, and the policies that bound it (issue 11: "bounded,
 * and never blocking"). While the connection's own buffer is below the low watermark, frames go
 * straight to it; behind that, they wait here, bounded in bytes, and are pumped when the connection
 * drains. Nothing here ever waits for a slow connection before returning, so one slow subscriber
 * never delays the others.
 *
 * Ordering: a frame is written straight only when nothing is queued, and the queue is FIFO, so the
 * connection sees frames in the order they were offered (issue 11: send() and publish() order).
 * Accounting: every frame offered is either handed to the connection or reported to the owner as
 * dropped, with a reason, exactly once; a frame the connection accepted but lost to a close is
 * reported too. A connection with numbered batches (Ws: HubConnection.sendNumbered) says which
 * frames the kernel took by a number: the frames handed over are kept, flat, with the number of
 * their batch until a later write finds that batch written, and those still above
 * `writtenBatches` when the connection is gone were lost. Any other connection says it with the
 * promise of each write.
 */

import { headerSizeFor } from '../protocol/frame.js';
import type { PreparedFrame } from '../protocol/prepared.js';
import type { DropReason, HubConnection, HubSendResult, OverflowPolicy } from './types.js';

/** The message a frame carries, as published: what a drop report hands back to the application. */
export interface MessageSource {
  /** The message bytes before compression (UTF-8 for text). */
  readonly payload: Uint8Array;
  readonly isText: boolean;
}

/** The hub, as its subscribers' queues see it: their bounds, and whom they report to. */
export interface QueueOwner<C> {
  readonly maxQueuedBytes: number;
  readonly lowWatermark: number;
  /** A message that will not reach the connection. */
  dropped(connection: C, message: Dropped, reason: DropReason): void;
  /** The policy decided to close the connection (the queue is discarded and reported already). */
  evicted(connection: C, topic: string | null, queuedBytes: number): void;
}

/** What the owner learns about a dropped message. */
export interface Dropped {
  readonly topic: string | null;
  readonly key: string | undefined;
  /** The size of its frame; uncompressed for one the connection compresses itself (its compressed size is not known yet). */
  readonly bytes: number;
  readonly message: MessageSource;
}

interface Entry extends Dropped {
  /** null: the connection compresses the message with its own context (send()). */
  readonly frame: PreparedFrame | null;
  /** False once written, dropped or replaced: entries are not spliced out of the middle. */
  live: boolean;
}

/** Frames handed to the connection, four slots each: frame, message, topic, key. */
type SentFrames = (PreparedFrame | MessageSource | string | null | undefined)[];

/** The same with the number of their batch first (numbered connections): five slots each. */
type NumberedFrames = (number | PreparedFrame | MessageSource | string | null | undefined)[];
const SLOTS = 5;
/** Past this many slots, written frames are also let go from the middle of the list (see track()). */
const TRIM_AFTER = 16 * SLOTS;

/**
 * A message's bytes as the queue counts them: its frame; for one the connection compresses itself,
 * its uncompressed frame, which is also what the connection's bufferedAmount counts meanwhile.
 */
function bytesOf(frame: PreparedFrame | null, message: MessageSource): number {
  return frame === null ? headerSizeFor(message.payload.length, false) + message.payload.length : frame.frame.length;
}

/** Past this many consumed entries at the head, and more than half the array, it is compacted. */
const COMPACT_AFTER = 1024;

export class SubscriberQueue<C extends HubConnection> {
  readonly connection: C;
  private readonly owner: QueueOwner<C>;
  private queue: (Entry | undefined)[] = [];
  private head = 0;
  private liveCount = 0;
  private liveBytes = 0;
  // Made on the first message queued (issue 15): most subscribers never fall behind, and two empty
  // Maps are 370 bytes per connection.
  /** Live bytes per topic (null: send()), so 'drop-oldest' knows whether dropping can make room. */
  private topicBytes: Map<string | null, number> | null = null;
  /** The queued entry per topic and key, for 'conflate'. */
  private latest: Map<string | null, Map<string, Entry>> | null = null;
  /** The promise of the latest write, and every entry it settles (see write()). */
  private sending: Promise<void> | null = null;
  private sendingEntries: SentFrames | null = null;
  private writesStarted = 0;
  private writesSettled = 0;
  /** settled() as the writes' handler, made on the first write that has a promise (numbered connections never do). */
  private onWritten: (() => void) | null = null;
  /** Numbered connections: the frames handed over whose batch may not be written yet, and their slots in use. */
  private unconfirmed: NumberedFrames | null = null;
  private unconfirmedLength = 0;
  private readonly numbered: boolean;
  private waiting = false;
  /** Set once the policy closed the connection: nothing more is written or queued. */
  private evicted = false;

  constructor(connection: C, owner: QueueOwner<C>) {
    this.connection = connection;
    this.owner = owner;
    this.numbered = typeof connection.sendNumbered === 'function';
  }

  get queuedBytes(): number {
    return this.liveBytes;
  }

  get queuedMessages(): number {
    return this.liveCount;
  }

  /**
   * Hands `frame` to the connection now, queues it, or applies `policy`; never waits. A null
   * frame: the connection compresses `message` itself (send()).
   */
  offer(
    frame: PreparedFrame | null,
    message: MessageSource,
    topic: string | null,
    key: string | undefined,
    policy: OverflowPolicy,
  ): HubSendResult {
    const connection = this.connection;
    const low = this.owner.lowWatermark;
    if (!this.evicted && connection.readyState === 'open') {
      if (this.liveCount > 0 && connection.bufferedAmount < low) this.pump();
      // The common case, written at once: no Entry per recipient (a publish to 10,000 subscribers
      // would allocate 10,000 of them).
      if (this.liveCount === 0 && connection.bufferedAmount < low) {
        this.write(frame, message, topic, key);
        return 'queued';
      }
    }
    const entry: Entry = { frame, message, topic, key, bytes: bytesOf(frame, message), live: true };
    if (this.evicted || connection.readyState !== 'open') {
      this.owner.dropped(connection, entry, 'closed');
      return 'dropped';
    }

    // Behind: the message waits here. A conflated key keeps only its latest message (issue 11).
    if (policy === 'conflate' && key !== undefined) this.supersede(topic, key);
    const max = this.owner.maxQueuedBytes;
    if (this.liveBytes + entry.bytes <= max) {
      this.push(entry);
      return 'queued';
    }
    switch (policy) {
      case 'drop-new':
        this.owner.dropped(connection, entry, 'drop-new');
        return 'dropped';
      case 'drop-oldest':
        // Only this topic's messages may go: another topic's policy may not allow dropping.
        if (this.liveBytes - (this.topicBytes?.get(topic) ?? 0) + entry.bytes > max) {
          this.owner.dropped(connection, entry, 'drop-new');
          return 'dropped';
        }
        this.dropOldest(topic, this.liveBytes + entry.bytes - max);
        this.push(entry);
        return 'queued';
      case 'close':
      case 'conflate':
        this.evict(entry);
        return 'closed';
    }
  }

  /**
   * The connection is gone: the frames it accepted but never wrote (numbered connections; the
   * others' promises reject), then every queued message, are reported as dropped ('closed').
   */
  lost(): void {
    const list = this.unconfirmed;
    if (list !== null) {
      const length = this.unconfirmedLength;
      const written = this.connection.writtenBatches ?? 0;
      this.unconfirmed = null;
      this.unconfirmedLength = 0;
      for (let i = 0; i < length; i += SLOTS) {
        if ((list[i] as number) <= written) continue;
        const frame = list[i + 1] as PreparedFrame | null;
        const message = list[i + 2] as MessageSource;
        const lost = { topic: list[i + 3] as string | null, key: list[i + 4] as string | undefined, bytes: bytesOf(frame, message), message };
        this.owner.dropped(this.connection, lost, 'closed');
      }
    }
    this.discard('closed');
  }

  /** Reports every queued message as dropped and empties the queue (the connection closed). */
  discard(reason: DropReason): void {
    const connection = this.connection;
    while (this.liveCount > 0) this.owner.dropped(connection, this.shift()!, reason);
  }

  private evict(entry: Entry): void {
    const queuedBytes = this.liveBytes;
    this.evicted = true;
    this.discard('evicted');
    this.owner.dropped(this.connection, entry, 'evicted');
    this.owner.evicted(this.connection, entry.topic, queuedBytes);
  }

  private write(frame: PreparedFrame | null, message: MessageSource, topic: string | null, key: string | undefined): void {
    if (this.numbered) {
      const batch = this.connection.sendNumbered!(frame, message.payload, message.isText);
      if (batch === 0) this.owner.dropped(this.connection, { topic, key, bytes: bytesOf(frame, message), message }, 'closed');
      else this.track(batch, frame, message, topic, key);
      return;
    }
    let sent: Promise<void>;
    try {
      // Through the connection's own compressor: in order with its other sends (one queue).
      sent = frame === null ? this.connection.send(message.payload, { text: message.isText }) : this.connection.sendPrepared(frame);
    } catch (error) {
      // A connection that closed between our readyState check and the write (WS_ERR_CLOSED).
      if ((error as { code?: unknown }).code !== 'WS_ERR_CLOSED') throw error;
      this.owner.dropped(this.connection, { topic, key, bytes: bytesOf(frame, message), message }, 'closed');
      return;
    }
    // Accepted, but the connection may still close before the kernel takes it: that is a loss too.
    // Ws settles the frames of one socket write with one shared promise: a frame given the same
    // promise as the one before joins its list, so a turn's frames cost one handler, not one each.
    // The list is flat (frame, message, topic, key per frame): no object per frame.
    if (sent === this.sending) {
      this.sendingEntries!.push(frame, message, topic, key);
      return;
    }
    const entries: SentFrames = [frame, message, topic, key];
    this.sending = sent;
    this.sendingEntries = entries;
    this.writesStarted++;
    sent.then((this.onWritten ??= () => this.settled()), () => {
      this.settled();
      for (let i = 0; i < entries.length; i += 4) {
        const lostFrame = entries[i] as PreparedFrame | null;
        const lostMessage = entries[i + 1] as MessageSource;
        const lost = { topic: entries[i + 2] as string | null, key: entries[i + 3] as string | undefined, bytes: bytesOf(lostFrame, lostMessage), message: lostMessage };
        this.owner.dropped(this.connection, lost, 'closed');
      }
    });
  }

  /**
   * Keeps a frame handed to a numbered connection until its batch is written. Batches are written
   * in order, so when the latest kept frame's batch is written, every kept frame is: the list is
   * emptied (in place: no allocation per write). A frame joining the latest batch leaves it as it
   * is. Only a list that keeps growing (a connection always a batch behind) is trimmed from the
   * front.
   */
  private track(batch: number, frame: PreparedFrame | null, message: MessageSource, topic: string | null, key: string | undefined): void {
    let list = this.unconfirmed;
    let length = this.unconfirmedLength;
    if (list === null) {
      // A literal of exactly one frame's slots: an empty array grown by assignment takes 17 (issue
      // 15: 100 bytes more per connection, kept for as long as it is).
      this.unconfirmed = [batch, frame, message, topic, key];
      this.unconfirmedLength = SLOTS;
      return;
    }
    if (length > 0 && list[length - SLOTS] !== batch) {
      const written = this.connection.writtenBatches ?? 0;
      if ((list[length - SLOTS] as number) <= written) {
        list.fill(undefined, 0, length);
        length = 0;
      } else if (length >= TRIM_AFTER) {
        let first = 0;
        while ((list[first] as number) <= written) first += SLOTS;
        if (first > 0) {
          list.copyWithin(0, first, length);
          list.fill(undefined, length - first, length);
          length -= first;
        }
      }
    }
    list[length] = batch;
    list[length + 1] = frame;
    list[length + 2] = message;
    list[length + 3] = topic;
    list[length + 4] = key;
    this.unconfirmedLength = length + SLOTS;
  }

  /** A write settled; once none is pending, the latest one's entries are let go. */
  private settled(): void {
    if (++this.writesSettled !== this.writesStarted) return;
    this.sending = null;
    this.sendingEntries = null;
  }

  /** Writes queued messages while the connection's buffer is below the low watermark. */
  private pump(): void {
    const connection = this.connection;
    const low = this.owner.lowWatermark;
    while (this.liveCount > 0 && !this.evicted && connection.readyState === 'open' && connection.bufferedAmount < low) {
      const entry = this.shift()!;
      this.write(entry.frame, entry.message, entry.topic, entry.key);
    }
  }

  private drained(): void {
    this.waiting = false;
    this.pump();
    // Closing: drain() may resolve at once from now on; what is left waits for the close, which discards it.
    if (this.liveCount > 0 && !this.evicted && this.connection.readyState === 'open') this.waitForDrain();
  }

  private drainFailed(): void {
    this.waiting = false;
    this.lost();
  }

  private waitForDrain(): void {
    if (this.waiting) return;
    this.waiting = true;
    // Closures made here, only for a subscriber that fell behind (issue 15: not two per connection).
    this.connection.drain().then(
      () => this.drained(),
      () => this.drainFailed(),
    );
  }

  private push(entry: Entry): void {
    this.queue.push(entry);
    this.liveCount++;
    this.liveBytes += entry.bytes;
    const topicBytes = (this.topicBytes ??= new Map());
    topicBytes.set(entry.topic, (topicBytes.get(entry.topic) ?? 0) + entry.bytes);
    if (entry.key !== undefined) {
      const latest = (this.latest ??= new Map());
      let keys = latest.get(entry.topic);
      if (keys === undefined) latest.set(entry.topic, (keys = new Map()));
      keys.set(entry.key, entry);
    }
    this.waitForDrain();
  }

  /** Drops the queued message of `topic` with `key`, if any: a newer one replaces it. */
  private supersede(topic: string | null, key: string): void {
    const entry = this.latest?.get(topic)?.get(key);
    if (entry === undefined) return;
    this.unlink(entry);
    this.owner.dropped(this.connection, entry, 'conflate');
  }

  /** Drops `topic`'s oldest queued messages until `needed` bytes are free. */
  private dropOldest(topic: string | null, needed: number): void {
    let freed = 0;
    for (let i = this.head; i < this.queue.length && freed < needed; i++) {
      const entry = this.queue[i];
      if (entry === undefined || !entry.live || entry.topic !== topic) continue;
      this.unlink(entry);
      freed += entry.bytes;
      this.owner.dropped(this.connection, entry, 'drop-oldest');
    }
  }

  private shift(): Entry | undefined {
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head];
      this.queue[this.head++] = undefined;
      if (entry !== undefined && entry.live) {
        this.unlink(entry);
        this.compact();
        return entry;
      }
    }
    this.compact();
    return undefined;
  }

  private unlink(entry: Entry): void {
    entry.live = false;
    this.liveCount--;
    this.liveBytes -= entry.bytes;
    const topicBytes = this.topicBytes!;
    const left = (topicBytes.get(entry.topic) ?? 0) - entry.bytes;
    if (left > 0) topicBytes.set(entry.topic, left);
    else topicBytes.delete(entry.topic);
    if (entry.key !== undefined) {
      const keys = this.latest?.get(entry.topic);
      if (keys?.get(entry.key) === entry) {
        keys.delete(entry.key);
        if (keys.size === 0) this.latest!.delete(entry.topic);
      }
    }
  }

  private compact(): void {
    if (this.liveCount === 0) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > COMPACT_AFTER && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
