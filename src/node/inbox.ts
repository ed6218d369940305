/**
 * The inbound side of a connection: messages on their way to the application, in order.
 *
 * One queue holds every message the application has not read, whether it is ready or still
 * compressed (permessage-deflate inflates asynchronously, and a message behind one that is
 * inflating waits for it). One function, `update()`, runs after every change to that queue —
 * a message arriving, inflating, being read, going straight to a waiting reader — and decides
 * from the bytes unread whether the socket reads or pauses. Nothing else pauses or resumes
 * reading, so no path can leave a connection paused with room to spare (issue 9: a 1 MiB
 * compressed message handed straight to a waiting reader left reading paused for good).
 *
 * It also knows when the application has caught up: the end of the stream (a close or a
 * protocol error, see Connection.onEnd) is reported back once every message before it is read.
 */

import { ConnectionClosedError, ProtocolError } from '../protocol/errors.js';

export type Message =
  | { readonly type: 'text'; readonly data: string }
  | { readonly type: 'binary'; readonly data: Buffer };

/** Inflates one message (PerMessageDeflate.decompress). */
export interface Inflater {
  decompress(
    data: Buffer,
    isText: boolean,
    maxPayload: number,
    callback: (error: Error | null, result?: Buffer) => void,
  ): void;
}

/** What the inbox pauses and resumes: the socket. */
export interface ReadFlow {
  pause(): unknown;
  resume(): unknown;
}

/** Where the end of the stream goes once reached: the core Connection. */
export interface StreamEnd {
  proceed(): void;
  failReceived(error: ProtocolError): void;
  closedError(): ConnectionClosedError;
}

/** Told when, the transport gone, nothing is left to inflate (so the codec can be freed). */
export type OnDrained = () => void;

export interface InboxLimits {
  readonly receiveHighWaterMark: number;
  readonly maxPayload: number;
}

interface Entry {
  /** Ready for the application; null while still compressed. */
  message: Message | null;
  /** The compressed bytes while waiting to be inflated. */
  payload: Buffer | null;
  readonly isText: boolean;
  /** Bytes this entry counts against receiveHighWaterMark: compressed size, then inflated size. */
  size: number;
}

interface Waiter {
  readonly resolve: (value: Message | IteratorResult<Message>) => void;
  readonly reject: (error: Error) => void;
  /** Waiting for the async iterator: settles with { done } instead of rejecting at the end. */
  readonly iterator: boolean;
}

function noop(): void {}

function rejected<T>(error: Error): Promise<T> {
  const promise = Promise.reject(error);
  promise.catch(noop);
  return promise;
}

const DONE: IteratorResult<Message> = Object.freeze({ done: true, value: undefined });

export class Inbox {
  private readonly flow: ReadFlow;
  private readonly end: StreamEnd;
  private readonly limits: InboxLimits;
  private readonly inflater: Inflater | null;

  // Unread messages, created on first use (an idle connection that is being read from never
  // needs one: per-connection memory matters at 10,000 connections).
  // Slots before `head` are cleared (undefined): see shift().
  private entries: (Entry | undefined)[] | null = null;
  private head = 0;
  /** Entries from `head` not ready yet (compressed), and the first of them being inflated. */
  private compressedCount = 0;
  private inflating: Entry | null = null;
  /** Bytes unread: ready messages plus compressed ones, as counted in each entry's `size`. */
  private unreadBytes = 0;
  private readyBytes = 0;
  private paused = false;

  // Readers waiting for a message: almost always one (a for-await loop), so it has a field of its
  // own and only further concurrent recv() calls need an array.
  private waiter: Waiter | null = null;
  private moreWaiters: Waiter[] | null = null;
  /** Set once the application has asked for a message: it then gets every message first. */
  private reading = false;
  /** The stream has ended after the queued entries; reported (proceed) once reached. */
  private ended = false;
  private endReported = false;
  /** The transport is gone: nothing more will come. */
  private finished = false;
  private onDrained: OnDrained | null = null;

  constructor(flow: ReadFlow, end: StreamEnd, limits: InboxLimits, inflater: Inflater | null) {
    this.flow = flow;
    this.end = end;
    this.limits = limits;
    this.inflater = inflater;
  }

  /** Messages still compressed (waiting for or in inflation). */
  get compressed(): number {
    return this.compressedCount;
  }

  /** Reading from the socket is paused (receiveHighWaterMark): the silence is then ours. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Bytes of messages the application has not read (compressed ones counted as received). */
  get unread(): number {
    return this.unreadBytes;
  }

  /** A message from the connection; `compressed` ones are inflated here, in order. */
  push(payload: Buffer, isText: boolean, compressed: boolean): void {
    if (this.finished) return;
    if (!compressed) {
      const message: Message = isText ? { type: 'text', data: payload.toString('utf8') } : { type: 'binary', data: payload };
      // The common case: nothing queued, a reader waiting.
      if (this.waiter !== null && this.entries === null) {
        this.handOver(message);
        return;
      }
      this.queue({ message, payload: null, isText, size: payload.length });
      this.readyBytes += payload.length;
    } else {
      this.queue({ message: null, payload, isText, size: payload.length });
      this.compressedCount++;
      this.inflateNext();
    }
    this.update();
  }

  /** The stream ends after what is queued (a close frame or a protocol error arrived). */
  endOfStream(): void {
    this.ended = true;
    this.checkEnd();
  }

  /**
   * The transport is gone: nothing more comes, but every message that arrived stays readable,
   * those still compressed included — they arrived whole, before the end, so they are inflated
   * as usual (while the application has room). `onDrained` is called once nothing is left to
   * inflate, at once if nothing is.
   */
  close(onDrained: OnDrained): void {
    if (this.finished) return;
    this.finished = true;
    this.ended = true;
    if (this.compressedCount === 0) onDrained();
    else this.onDrained = onDrained;
    this.update();
    this.settleWaiters();
  }

  /**
   * Gives up on the messages still compressed (the application did not read them within
   * closeTimeout after the transport closed): they are dropped, and readers are woken.
   */
  abandon(): void {
    this.dropCompressed();
    this.drained();
    this.settleWaiters();
  }

  /** The next message for recv() (iterator false) or the async iterator (true). */
  take(iterator: boolean): Promise<Message | IteratorResult<Message>> {
    this.reading = true;
    const entries = this.entries;
    if (entries !== null) {
      const entry = entries[this.head]!;
      if (entry.message !== null) {
        this.shift();
        this.readyBytes -= entry.size;
        this.unreadBytes -= entry.size;
        this.update();
        this.inflateNext();
        return Promise.resolve(iterator ? { done: false, value: entry.message } : entry.message);
      }
    } else if (this.ended) {
      // Everything before the end of the stream is read: act on it now, and say so.
      this.reportEnd();
      return iterator ? Promise.resolve(DONE) : rejected(this.end.closedError());
    }
    const promise = new Promise<Message | IteratorResult<Message>>((resolve, reject) => {
      const waiter = { resolve, reject, iterator };
      if (this.waiter === null) this.waiter = waiter;
      else (this.moreWaiters ??= []).push(waiter);
    });
    // A reader waiting with nothing ready is what "caught up" means.
    this.checkEnd();
    return promise;
  }

  private queue(entry: Entry): void {
    (this.entries ??= []).push(entry);
    this.unreadBytes += entry.size;
  }

  private shift(): void {
    const entries = this.entries!;
    // The slot lets go of its message at once: a queue that never empties (a peer that keeps
    // messages in flight) would otherwise hold the last 1,024 messages until compaction, long
    // enough for the collector to promote them (a 13% slower compressed echo, bench deflate-4k).
    entries[this.head] = undefined;
    this.head++;
    if (this.head === entries.length) {
      this.entries = null;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= entries.length) {
      entries.splice(0, this.head);
      this.head = 0;
    }
  }

  private handOver(message: Message): void {
    const waiter = this.waiter!;
    this.waiter = this.moreWaiters?.shift() ?? null;
    if (waiter.iterator) waiter.resolve({ done: false, value: message });
    else waiter.resolve(message);
  }

  /** Hands ready messages at the head of the queue to waiting readers. */
  private deliverReady(): void {
    while (this.waiter !== null && this.entries !== null) {
      const entry = this.entries[this.head]!;
      if (entry.message === null) return;
      this.shift();
      this.readyBytes -= entry.size;
      this.unreadBytes -= entry.size;
      this.handOver(entry.message);
    }
  }

  /**
   * Inbound backpressure, decided in one place from the bytes unread: stop reading at
   * receiveHighWaterMark, so TCP pushes back on the peer instead of us buffering; resume at half.
   */
  private update(): void {
    const mark = this.limits.receiveHighWaterMark;
    if (!this.paused) {
      if (this.unreadBytes >= mark && !this.finished) {
        this.paused = true;
        this.flow.pause();
      }
    } else if (this.unreadBytes <= mark / 2 || this.finished) {
      this.paused = false;
      this.flow.resume();
    }
  }

  /**
   * Inflates the first compressed entry, one at a time, while the application has room:
   * inflating is what makes a small message big, so it waits while the ready bytes are at
   * receiveHighWaterMark.
   */
  private inflateNext(): void {
    if (this.inflating !== null || this.compressedCount === 0 || this.inflater === null) return;
    if (this.readyBytes >= this.limits.receiveHighWaterMark) return;
    const entry = this.entries![this.firstCompressed()]!;
    this.inflating = entry;
    this.inflater.decompress(entry.payload!, entry.isText, this.limits.maxPayload, (error, data) => {
      if (this.inflating !== entry) return; // dropped meanwhile (the transport closed)
      this.inflating = null;
      entry.payload = null;
      if (error !== null) {
        // The entry and everything after it are dropped: the connection fails (1007 / 1009).
        this.dropFrom(this.entries!.indexOf(entry, this.head));
        this.update();
        if (!this.finished) this.end.failReceived(error as ProtocolError);
        this.checkEnd();
        this.drained();
        this.settleWaiters();
        return;
      }
      this.compressedCount--;
      this.unreadBytes -= entry.size;
      entry.message = entry.isText ? { type: 'text', data: data!.toString('utf8') } : { type: 'binary', data: data! };
      entry.size = data!.length;
      this.unreadBytes += entry.size;
      this.readyBytes += entry.size;
      this.deliverReady();
      this.update();
      this.inflateNext();
      this.checkEnd();
      if (this.compressedCount === 0) {
        this.drained();
        this.settleWaiters();
      }
    });
  }

  private drained(): void {
    if (!this.finished || this.compressedCount > 0) return;
    const onDrained = this.onDrained;
    this.onDrained = null;
    onDrained?.();
  }

  /** Drops the entries from `index` on (a failed inflation, or the transport gone), and recounts. */
  private dropFrom(index: number): void {
    const entries = this.entries!;
    entries.length = index;
    this.compressedCount = 0;
    this.inflating = null;
    let unread = 0;
    let ready = 0;
    for (let i = this.head; i < entries.length; i++) {
      const entry = entries[i]!;
      unread += entry.size;
      if (entry.message !== null) ready += entry.size;
    }
    this.unreadBytes = unread;
    this.readyBytes = ready;
    if (this.head === entries.length) {
      this.entries = null;
      this.head = 0;
    }
  }

  /** Index of the first entry still compressed (there is one: compressedCount > 0). */
  private firstCompressed(): number {
    const entries = this.entries!;
    let i = this.head;
    while (entries[i]!.message !== null) i++;
    return i;
  }

  private dropCompressed(): void {
    this.inflating = null;
    if (this.compressedCount === 0 || this.entries === null) return;
    this.dropFrom(this.firstCompressed());
    this.update();
  }

  /**
   * Reports the end of the stream once it is reached: nothing is left to inflate, and the
   * application, if it reads, has taken every message and waits for the next.
   */
  private checkEnd(): void {
    if (!this.ended || this.endReported || this.finished) return;
    if (this.compressedCount > 0) return;
    if (this.reading && (this.entries !== null || this.waiter === null)) return;
    this.reportEnd();
    if (this.entries === null) this.settleWaiters();
  }

  private reportEnd(): void {
    if (this.endReported || this.finished) return;
    this.endReported = true;
    this.end.proceed();
  }

  /** Wakes readers waiting for a message that will not come. */
  private settleWaiters(): void {
    if (this.waiter === null || this.entries !== null) return;
    if (!this.endReported && !this.finished) return;
    const waiters = [this.waiter, ...(this.moreWaiters ?? [])];
    this.waiter = this.moreWaiters = null;
    // An Error captures a stack: only made for recv() callers, never for iterators, which the
    // normal end of every connection wakes.
    let error: ConnectionClosedError | undefined;
    for (const waiter of waiters) {
      if (waiter.iterator) waiter.resolve(DONE);
      else waiter.reject((error ??= this.end.closedError()));
    }
  }
}
