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

import { ConnectionClosedError, ProtocolError, WebSocketError } from '../protocol/errors.js';
import { rejected } from './util.js';

/**
 * A whole message received, however many frames it came in: text as a string (its UTF-8 was
 * checked, RFC 6455 8.1), binary as a Buffer (which may be a view of a larger buffer).
 */
export type Message =
  | {
      /** A text message. */
      readonly type: 'text';
      /** The text, decoded from UTF-8. */
      readonly data: string;
    }
  | {
      /** A binary message. */
      readonly type: 'binary';
      /** The bytes, as a Buffer; the application may keep it. */
      readonly data: Buffer;
    };

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
  /**
   * Over the connection's rate limit: inflated only to keep the peer's compression context in
   * step (RFC 7692 7.2.2: every message after it refers to it), then dropped.
   */
  readonly discard: boolean;
}

/** A recv() caller: rejected at the end of the stream. */
interface RecvWaiter {
  readonly resolve: (value: Message) => void;
  readonly reject: (error: Error) => void;
}

/**
 * A reader waiting for a message. The async iterator's (a for-await loop: what nearly every idle
 * connection has) is its promise's resolve function alone, since it never rejects: no object
 * around it, and its reject function is left to the GC (memory per idle connection).
 */
type Waiter = ((value: IteratorResult<Message>) => void) | RecvWaiter | Listener;

/** A reader that is an object, not a promise (Ws.forEach's MessageLoop): given each message, then the end. */
export interface Listener {
  onMessage(message: Message): void;
  /** Every message before the end of the stream was given. */
  onEnd(): void;
}

/**
 * The unread messages and their counts, made when a message has to wait and dropped once the
 * application has read them all: an idle connection carries none of these fields (memory per idle
 * connection; every count is 0 when nothing is queued).
 */
class Queue {
  /** Slots before `head` are cleared (undefined): see Inbox.shift(). */
  readonly entries: (Entry | undefined)[] = [];
  head = 0;
  /** Entries from `head` not ready yet (compressed), and the first of them being inflated. */
  compressedCount = 0;
  inflating: Entry | null = null;
  /** Bytes unread: ready messages plus compressed ones, as counted in each entry's `size`. */
  unreadBytes = 0;
  readyBytes = 0;
}

// Inbox flags, in one field rather than five booleans of 8 bytes each (memory per idle connection).
const PAUSED = 1;
/** Set once the application has asked for a message: it then gets every message first. */
const READING = 2;
/** The stream has ended after the queued entries; reported (proceed) once reached. */
const ENDED = 4;
const END_REPORTED = 8;
/** The transport is gone: nothing more will come. */
const FINISHED = 16;
/** The end is reached and will be reported at the end of this event-loop turn (see checkEnd). */
const END_SCHEDULED = 32;
/** inflateNext() is looping, and was asked again meanwhile (a synchronous inflation finished). */
const INFLATE_LOOP = 64;
const INFLATE_AGAIN = 128;
/** A listen() reader (Ws.forEach) reads: recv() and for-await are refused meanwhile. */
const LISTENING = 256;

const DONE: IteratorResult<Message> = Object.freeze({ done: true, value: undefined });
const END = Symbol('end');

/** Two readers at once, one of them forEach(): which message goes to which would be a race. */
export function alreadyReading(what: string): WebSocketError {
  return new WebSocketError('WS_ERR_ALREADY_READING', `${what} cannot read messages while another reader does`);
}

export class Inbox {
  private readonly flow: ReadFlow;
  private readonly end: StreamEnd;
  private readonly limits: InboxLimits;
  private readonly inflater: Inflater | null;

  // Unread messages, created on first use (an idle connection that is being read from never
  // needs one: per-connection memory matters at 10,000 connections).
  private queued: Queue | null = null;
  private flags = 0;

  // Readers waiting for a message: almost always one (a for-await loop), held as it is; only
  // concurrent recv() calls make it an array, in order. One field, not a second one for the array
  // that idle connections never use (memory per idle connection).
  private waiter: Waiter | Waiter[] | null = null;
  private onDrained: OnDrained | null = null;

  constructor(flow: ReadFlow, end: StreamEnd, limits: InboxLimits, inflater: Inflater | null) {
    this.flow = flow;
    this.end = end;
    this.limits = limits;
    this.inflater = inflater;
  }

  /** Messages still compressed (waiting for or in inflation). */
  get compressed(): number {
    return this.queued?.compressedCount ?? 0;
  }

  /** Reading from the socket is paused (receiveHighWaterMark): the silence is then ours. */
  get isPaused(): boolean {
    return (this.flags & PAUSED) !== 0;
  }

  /** Bytes of messages the application has not read (compressed ones counted as received). */
  get unread(): number {
    return this.queued?.unreadBytes ?? 0;
  }

  /** A message from the connection; `compressed` ones are inflated here, in order. */
  push(payload: Buffer, isText: boolean, compressed: boolean): void {
    if ((this.flags & FINISHED) !== 0) return;
    if (!compressed) {
      const message: Message = isText ? { type: 'text', data: payload.toString('utf8') } : { type: 'binary', data: payload };
      // The common case: nothing queued, a reader waiting.
      if (this.waiter !== null && this.queued === null) {
        this.handOver(message);
        return;
      }
      const queue = this.queue({ message, payload: null, isText, size: payload.length, discard: false });
      queue.readyBytes += payload.length;
    } else {
      const queue = this.queue({ message: null, payload, isText, size: payload.length, discard: false });
      queue.compressedCount++;
      this.inflateNext();
    }
    this.update();
  }

  /**
   * A message the application will not get (over a rate limit). A compressed one is still inflated,
   * in its turn, since the messages after it may refer to it; then it is dropped.
   */
  discard(payload: Buffer, isText: boolean, compressed: boolean): void {
    if (!compressed || (this.flags & FINISHED) !== 0) return;
    const queue = this.queue({ message: null, payload, isText, size: payload.length, discard: true });
    queue.compressedCount++;
    this.inflateNext();
    this.update();
  }

  /** The stream ends after what is queued (a close frame or a protocol error arrived). */
  endOfStream(): void {
    this.flags |= ENDED;
    this.checkEnd();
  }

  /**
   * The transport is gone: nothing more comes, but every message that arrived stays readable,
   * those still compressed included — they arrived whole, before the end, so they are inflated
   * as usual (while the application has room). `onDrained` is called once nothing is left to
   * inflate, at once if nothing is.
   */
  close(onDrained: OnDrained): void {
    if ((this.flags & FINISHED) !== 0) return;
    this.flags |= FINISHED | ENDED;
    if (this.compressed === 0) onDrained();
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
    if ((this.flags & LISTENING) !== 0) return rejected(alreadyReading(iterator ? 'a for-await loop' : 'recv()'));
    const ready = this.ready();
    if (ready === END) return iterator ? Promise.resolve(DONE) : rejected(this.end.closedError());
    if (ready !== null) return Promise.resolve(iterator ? { done: false, value: ready } : ready);
    // The iterator's waiter is its resolve function alone (see Waiter).
    const promise = iterator
      ? new Promise<IteratorResult<Message>>((resolve) => this.addWaiter(resolve))
      : new Promise<Message>((resolve, reject) => this.addWaiter({ resolve, reject }));
    // A reader waiting with nothing ready is what "caught up" means.
    this.checkEnd();
    return promise;
  }

  /**
   * The next message for a reader that is an object, not a promise (Ws.forEach): `listener` is
   * given it now if one is ready, told the end once everything before it is read, or waits. No
   * promise and no suspended async function per message: a connection waiting between two
   * messages holds only the listener (issue 15: the chat's for-await loop kept each connection's
   * last message, its handler's frame and promises alive until the next one came, long enough to
   * reach the old generation at a message a second, and full collections swept them every few
   * seconds).
   */
  listen(listener: Listener): void {
    this.flags |= LISTENING;
    const ready = this.ready();
    if (ready === END) listener.onEnd();
    else if (ready !== null) listener.onMessage(ready);
    else {
      this.addWaiter(listener);
      this.checkEnd();
    }
  }

  /** The listen() reader is done (it read the end, or its handler failed): recv() and for-await may read again. */
  unlisten(): void {
    this.flags &= ~LISTENING;
  }

  /** Whether a reader reads: a listen() reader (Ws.forEach), or recv() and for-await waiting for a message. */
  get hasReader(): boolean {
    return (this.flags & LISTENING) !== 0 || this.waiter !== null;
  }

  /**
   * What a reader gets at once: the first message if it is ready (taken off the queue), END once
   * everything before the end of the stream is read (the end is reported then), or null: it waits.
   */
  private ready(): Message | typeof END | null {
    this.flags |= READING;
    const queue = this.queued;
    if (queue !== null) {
      const entry = queue.entries[queue.head]!;
      if (entry.message !== null) {
        this.shift(queue);
        queue.readyBytes -= entry.size;
        queue.unreadBytes -= entry.size;
        this.update();
        this.inflateNext();
        // The last message before the end is taken: nothing is left to wait for (issue 14).
        if (this.queued === null) this.checkEnd();
        return entry.message;
      }
    } else if ((this.flags & ENDED) !== 0) {
      // Everything before the end of the stream is read: act on it now, and say so.
      this.reportEnd();
      return END;
    }
    return null;
  }

  private addWaiter(waiter: Waiter): void {
    const current = this.waiter;
    if (current === null) this.waiter = waiter;
    else if (Array.isArray(current)) current.push(waiter);
    else this.waiter = [current, waiter];
  }

  private queue(entry: Entry): Queue {
    const queue = (this.queued ??= new Queue());
    queue.entries.push(entry);
    queue.unreadBytes += entry.size;
    return queue;
  }

  private shift(queue: Queue): void {
    const entries = queue.entries;
    // The slot lets go of its message at once: a queue that never empties (a peer that keeps
    // messages in flight) would otherwise hold the last 1,024 messages until compaction, long
    // enough for the collector to promote them (a 13% slower compressed echo, bench deflate-4k).
    entries[queue.head] = undefined;
    queue.head++;
    if (queue.head === entries.length) {
      // Every count is 0 again: the queue goes (a fresh one is made for the next message waiting).
      this.queued = null;
    } else if (queue.head >= 1024 && queue.head * 2 >= entries.length) {
      entries.splice(0, queue.head);
      queue.head = 0;
    }
  }

  private handOver(message: Message): void {
    let waiter = this.waiter!;
    if (Array.isArray(waiter)) {
      const waiters = waiter;
      waiter = waiters.shift()!;
      if (waiters.length === 0) this.waiter = null;
    } else {
      this.waiter = null;
    }
    if (typeof waiter === 'function') waiter({ done: false, value: message });
    else if ('onMessage' in waiter) waiter.onMessage(message);
    else waiter.resolve(message);
  }

  /** Hands ready messages at the head of the queue to waiting readers. */
  private deliverReady(): void {
    let queue;
    while (this.waiter !== null && (queue = this.queued) !== null) {
      const entry = queue.entries[queue.head]!;
      if (entry.message === null) return;
      this.shift(queue);
      queue.readyBytes -= entry.size;
      queue.unreadBytes -= entry.size;
      this.handOver(entry.message);
    }
  }

  /**
   * Inbound backpressure, decided in one place from the bytes unread: stop reading at
   * receiveHighWaterMark, so TCP pushes back on the peer instead of us buffering; resume at half.
   */
  private update(): void {
    const mark = this.limits.receiveHighWaterMark;
    const unread = this.unread;
    const finished = (this.flags & FINISHED) !== 0;
    if ((this.flags & PAUSED) === 0) {
      if (unread >= mark && !finished) {
        this.flags |= PAUSED;
        this.flow.pause();
      }
    } else if (unread <= mark / 2 || finished) {
      this.flags &= ~PAUSED;
      this.flow.resume();
    }
  }

  /**
   * Inflates the first compressed entry, one at a time, while the application has room:
   * inflating is what makes a small message big, so it waits while the ready bytes are at
   * receiveHighWaterMark.
   */
  private inflateNext(): void {
    // Small messages are inflated synchronously (deflate.ts): their callback only asks for the
    // next one, and this loop starts it, rather than recursing once per queued message.
    if ((this.flags & INFLATE_LOOP) !== 0) {
      this.flags |= INFLATE_AGAIN;
      return;
    }
    this.flags |= INFLATE_LOOP;
    try {
      do {
        this.flags &= ~INFLATE_AGAIN;
        this.inflateOne();
      } while ((this.flags & INFLATE_AGAIN) !== 0);
    } finally {
      this.flags &= ~INFLATE_LOOP;
    }
  }

  private inflateOne(): void {
    const queue = this.queued;
    if (queue === null || queue.inflating !== null || queue.compressedCount === 0 || this.inflater === null) return;
    if (queue.readyBytes >= this.limits.receiveHighWaterMark) return;
    const entry = queue.entries[this.firstCompressed(queue)]!;
    queue.inflating = entry;
    this.inflater.decompress(entry.payload!, entry.isText, this.limits.maxPayload, (error, data) => {
      // Dropped meanwhile (the transport closed): its queue is gone or no longer inflating it.
      if (this.queued !== queue || queue.inflating !== entry) return;
      queue.inflating = null;
      entry.payload = null;
      if (error !== null) {
        // The entry and everything after it are dropped: the connection fails (1007 / 1009).
        this.dropFrom(queue, queue.entries.indexOf(entry, queue.head));
        this.update();
        if ((this.flags & FINISHED) === 0) this.end.failReceived(error as ProtocolError);
        this.checkEnd();
        this.drained();
        this.settleWaiters();
        return;
      }
      queue.compressedCount--;
      queue.unreadBytes -= entry.size;
      if (entry.discard) this.remove(queue, entry);
      else entry.message = entry.isText ? { type: 'text', data: data!.toString('utf8') } : { type: 'binary', data: data! };
      if (!entry.discard) {
        entry.size = data!.length;
        queue.unreadBytes += entry.size;
        queue.readyBytes += entry.size;
      }
      this.deliverReady();
      this.update();
      this.inflateNext();
      this.checkEnd();
      if (this.compressed === 0) {
        this.drained();
        this.settleWaiters();
      }
    });
  }

  /** Takes a discarded entry out of the queue once it is inflated (its counts are already off). */
  private remove(queue: Queue, entry: Entry): void {
    queue.entries.splice(queue.entries.indexOf(entry, queue.head), 1);
    if (queue.head === queue.entries.length) this.queued = null;
  }

  private drained(): void {
    if ((this.flags & FINISHED) === 0 || this.compressed > 0) return;
    const onDrained = this.onDrained;
    this.onDrained = null;
    onDrained?.();
  }

  /** Drops the entries from `index` on (a failed inflation, or the transport gone), and recounts. */
  private dropFrom(queue: Queue, index: number): void {
    const entries = queue.entries;
    entries.length = index;
    queue.compressedCount = 0;
    queue.inflating = null;
    let unread = 0;
    let ready = 0;
    for (let i = queue.head; i < entries.length; i++) {
      const entry = entries[i]!;
      unread += entry.size;
      if (entry.message !== null) ready += entry.size;
    }
    queue.unreadBytes = unread;
    queue.readyBytes = ready;
    if (queue.head === entries.length) this.queued = null;
  }

  /** Index of the first entry still compressed (there is one: compressedCount > 0). */
  private firstCompressed(queue: Queue): number {
    const entries = queue.entries;
    let i = queue.head;
    while (entries[i]!.message !== null) i++;
    return i;
  }

  private dropCompressed(): void {
    const queue = this.queued;
    if (queue === null) return;
    queue.inflating = null;
    if (queue.compressedCount === 0) return;
    this.dropFrom(queue, this.firstCompressed(queue));
    this.update();
  }

  /**
   * Reports the end of the stream once it is reached: nothing is left to inflate, and the
   * application, if it reads, has taken every message before it.
   *
   * A reader that took the last message and has not asked for another yet (recv() for exactly the
   * messages it expects, then `await ws.closed`) is not waited for: the end is reported at the end
   * of this event-loop turn, so that a reply sent in the same turn as the read (an echo) still goes
   * out before the close frame, and no later (issue 14: waiting for a next read that never came
   * held `closed` until closeTimeout). A read in the meantime reports it at once.
   */
  private checkEnd(): void {
    const flags = this.flags;
    if ((flags & ENDED) === 0 || (flags & (END_REPORTED | FINISHED)) !== 0) return;
    if (this.compressed > 0) return;
    if ((flags & READING) !== 0) {
      if (this.queued !== null) return;
      if (this.waiter === null) {
        if ((flags & END_SCHEDULED) === 0) {
          this.flags |= END_SCHEDULED;
          setImmediate(reportEndOfTurn, this);
        }
        return;
      }
    }
    this.reportEnd();
    if (this.queued === null) this.settleWaiters();
  }

  /** @internal The end of the turn in which the last message was taken (see checkEnd). */
  endOfTurn(): void {
    this.flags &= ~END_SCHEDULED;
    if ((this.flags & (END_REPORTED | FINISHED)) !== 0) return;
    this.reportEnd();
    this.settleWaiters();
  }

  private reportEnd(): void {
    if ((this.flags & (END_REPORTED | FINISHED)) !== 0) return;
    this.flags |= END_REPORTED;
    this.end.proceed();
  }

  /** Wakes readers waiting for a message that will not come. */
  private settleWaiters(): void {
    if (this.waiter === null || this.queued !== null) return;
    if ((this.flags & (END_REPORTED | FINISHED)) === 0) return;
    const waiters = Array.isArray(this.waiter) ? this.waiter : [this.waiter];
    this.waiter = null;
    // An Error captures a stack: only made for recv() callers, never for iterators, which the
    // normal end of every connection wakes.
    let error: ConnectionClosedError | undefined;
    for (const waiter of waiters) {
      if (typeof waiter === 'function') waiter(DONE);
      else if ('onEnd' in waiter) waiter.onEnd();
      else waiter.reject((error ??= this.end.closedError()));
    }
  }
}

function reportEndOfTurn(inbox: Inbox): void {
  inbox.endOfTurn();
}
