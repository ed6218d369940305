/**
 * The outbound side of a connection: what send(), ping() and the core queue, on its way to the
 * socket.
 *
 * - Batching: frames go into the core's single FrameWriter; everything queued in one event-loop
 *   turn is written in one corked socket write on the next tick.
 * - Promises: the sends of a batch share one promise, settled by the socket's write callback, so
 *   `await send()` is real backpressure, and nothing send() accepted is lost without its promise
 *   rejecting.
 * - Numbered batches, for the hub: every batch has a number, and `writtenBatches` is the number of
 *   the latest one the kernel took (with every one before it). sendNumbered() hands a frame over
 *   without a promise and returns the number of its batch; a frame whose batch is above
 *   `writtenBatches` once the connection is gone was lost. A broadcast to 10,000 connections then
 *   costs no promise, reaction or closure per connection.
 * - Compression (RFC 7692): a message to compress reserves its place among the frames at once
 *   (FrameWriter.reserve), then is compressed one at a time in order; frames sent after it, our
 *   close frame included, wait behind it in the writer. So order is kept without a queue here.
 * - Limits: over maxBufferedAmount a send overflows, and sendOverflow decides.
 */

import { Socket } from 'node:net';
import { setImmediate } from 'node:timers';
import { CloseCode } from '../protocol/close.js';
import type { Connection } from '../protocol/connection.js';
import { WebSocketError } from '../protocol/errors.js';
import type { PreparedFrame } from '../protocol/prepared.js';
import type { ReservedFrame } from '../protocol/writer.js';
import type { ByteSink } from './transport.js';
import { asBuffer, noop, rejected } from './util.js';

/** Compresses one message (PerMessageDeflate.compress). */
export interface Compressor {
  compress(data: Buffer, callback: (error: Error | null, result?: Buffer) => void): void;
  /** The next message starts from an empty window (a frame compressed elsewhere went out). */
  resetContext(): void;
  /** Whether our compressor keeps its window between messages (no server/client_no_context_takeover for us). */
  readonly keepsContext: boolean;
}

export interface OutboxLimits {
  readonly maxBufferedAmount: number;
  readonly sendOverflow: 'close' | 'reject';
}

interface Job {
  readonly data: Buffer;
  readonly isText: boolean;
  readonly frame: ReservedFrame;
  /** Split the compressed message into frames of at most this many bytes (0: one frame). */
  readonly fragmentSize: number;
}

// In the compression queue: reset our context before the next job (see sendPrepared).
const RESET = 'reset';

const EMPTY = Buffer.alloc(0);

// A flush of several chunks totalling at most this many bytes is gathered into one buffer.
const GATHER_LIMIT = 16 * 1024;

/**
 * The promise of a batch's sends (made only when a send asks for one): resolved once the kernel
 * has the bytes, rejected if the socket dies first.
 */
class Batch {
  /** The batch's number (see Outbox.writtenBatches). */
  readonly id: number;
  readonly promise: Promise<void>;
  private resolve!: () => void;
  private reject!: (error: Error) => void;

  constructor(id: number) {
    this.id = id;
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Fire-and-forget sends must not become unhandled rejections; awaiting callers still see it.
    this.promise.catch(noop);
  }

  settle(outbox: Outbox, written: boolean): void {
    if (written) this.resolve();
    else this.reject(outbox.closedError());
  }
}

// Outbox flags, one field for booleans of 8 bytes each (memory per connection).
const FLUSH_SCHEDULED = 1;
const COMPRESSING = 2;
const END_REQUESTED = 4;
const ENDED = 8;
// A batch is open: sends join batch number `batches`.
const BATCH_OPEN = 16;
// The sink is a net.Socket (TCP or TLS): a write it took synchronously is done with its bytes.
const RECYCLES = 32;

export class Outbox {
  private readonly connection: Connection;
  // The transport's sink: the socket, or a writer in front of it (transport.ts).
  private readonly socket: ByteSink;
  private readonly limits: OutboxLimits;
  private readonly compressor: Compressor | null;
  private readonly threshold: number;

  // FLUSH_SCHEDULED, COMPRESSING, END_REQUESTED, ENDED, BATCH_OPEN, RECYCLES.
  private flags = 0;
  // The round of scheduled flushes in which this outbox last wrote (see flush()).
  private round = 0;
  // The open batch's promise, made when a send asks for one.
  private batch: Batch | null = null;
  // Batches numbered so far (the open one, if any, is the last).
  private batches = 0;
  /** The number of the latest batch the kernel took, with every batch before it (see sendNumbered). */
  writtenBatches = 0;
  // The first batch lost (0: none): neither it nor any later one counts as written, since the
  // socket is going; earlier ones still settle by their own write callback.
  private lostFrom = 0;
  // Messages waiting to be compressed, in order; the first is being compressed when `compressing`.
  private jobs: (Job | typeof RESET)[] | null = null;
  private compressBytes = 0;
  private drainWaiters: { resolve: () => void; reject: (error: Error) => void }[] | null = null;

  constructor(connection: Connection, socket: ByteSink, limits: OutboxLimits, compressor: Compressor | null, threshold: number) {
    this.connection = connection;
    this.socket = socket;
    this.limits = limits;
    this.compressor = compressor;
    this.threshold = threshold;
    // Issue 15. A net.Socket whose write() calls back synchronously (writableLength back to 0 on
    // return) has handed every byte to the kernel: libuv's try-write took them all, or, under TLS,
    // OpenSSL copied them. Otherwise (the kernel's buffer full, a write waiting behind another or
    // for the connection) the stream or libuv holds the bytes and writableLength says so. Another
    // Duplex may keep a chunk it called back for (a PassThrough hands it to its reader as it is),
    // and an HTTP/2 sink queues them: their chunks are never given back to the slab.
    if (socket instanceof Socket) this.flags |= RECYCLES;
  }

  /** Bytes accepted that the kernel has not taken yet (messages waiting to be compressed included). */
  get bufferedAmount(): number {
    return this.compressBytes + this.connection.pendingBytes + this.socket.writableLength;
  }

  /**
   * Sends a message: a string as text; bytes as text when `isText` (they are valid UTF-8: the
   * caller checked) or as binary.
   */
  send(data: string | Uint8Array, isText: boolean, fragmentSize = 0): Promise<void> {
    const refusal = this.refusal();
    if (refusal !== null) return rejected(refusal);
    this.enqueue(data, isText, fragmentSize);
    return this.queued();
  }

  /**
   * Sends a frame built once for many connections. A frame compressed elsewhere (with a fresh
   * context) leaves the peer's inflater window holding bytes our compressor never saw, so our
   * next message must not refer back past it: our context is reset after it.
   */
  sendPrepared(frame: PreparedFrame): Promise<void> {
    const refusal = this.refusal();
    if (refusal !== null) return rejected(refusal);
    this.enqueuePrepared(frame);
    return this.queued();
  }

  /**
   * send() (`frame` null) or sendPrepared() without a promise: returns the number of the batch the
   * message joined, or 0 when it was refused (the connection no longer sends, or sendOverflow
   * applied). It was written once `writtenBatches` reaches that number; lost if the connection
   * closes before.
   */
  sendNumbered(frame: PreparedFrame | null, data: Uint8Array, isText: boolean): number {
    if (this.refusal() !== null) return 0;
    if (frame === null) this.enqueue(data, isText, 0);
    else this.enqueuePrepared(frame);
    this.scheduleFlush();
    return this.openBatch();
  }

  /** Why a send cannot be accepted now, or null; an overflow applies sendOverflow. */
  private refusal(): Error | null {
    const connection = this.connection;
    if (!connection.canSend) return connection.closedError();
    if (this.bufferedAmount >= this.limits.maxBufferedAmount) return this.overflow();
    return null;
  }

  private enqueue(data: string | Uint8Array, isText: boolean, fragmentSize: number): void {
    const connection = this.connection;
    if (this.compressor !== null) {
      let bytes = data;
      // A string to be compressed is encoded once, here. UTF-8 takes at least a byte per UTF-16
      // unit, so a string of threshold units or more is compressed without being measured first.
      if (typeof bytes === 'string' && (bytes.length >= this.threshold || Buffer.byteLength(bytes) >= this.threshold)) {
        bytes = Buffer.from(bytes);
      }
      if (typeof bytes !== 'string' && bytes.length >= this.threshold) return this.compress(asBuffer(bytes), isText, fragmentSize);
    }
    if (fragmentSize > 0) {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      if (bytes.length > fragmentSize) return connection.sendFragmented(bytes, isText, fragmentSize);
    }
    if (typeof data === 'string') connection.sendText(data);
    else if (isText) connection.sendTextBytes(data);
    else connection.sendBinary(data);
  }

  private enqueuePrepared(frame: PreparedFrame): void {
    this.connection.sendPrepared(frame.firstByte, frame.payload, frame.frame);
    const compressor = this.compressor;
    if (frame.deflateWindowBits !== undefined && compressor !== null && compressor.keepsContext) {
      if (this.jobs === null) compressor.resetContext();
      else this.jobs.push(RESET);
    }
  }

  /** A ping (the core checked its size). */
  ping(payload: Uint8Array): void {
    this.connection.sendPing(payload);
    this.scheduleFlush();
  }

  /** Something was queued in the writer (a pong, a keepalive ping, a close frame). */
  scheduleFlush(): void {
    if ((this.flags & FLUSH_SCHEDULED) !== 0) return;
    this.flags |= FLUSH_SCHEDULED;
    scheduled.push(this);
    if (scheduled.length === 1) setImmediate(flushScheduled);
  }

  /** End our side of TCP once everything queued before is written. */
  requestEnd(): void {
    this.flags |= END_REQUESTED;
    this.flush();
  }

  /** Resolves once bufferedAmount is 0; rejects if the connection closes first. */
  drain(): Promise<void> {
    if (this.bufferedAmount === 0) return Promise.resolve();
    if (this.socketGone()) return rejected(this.closedError());
    const promise = new Promise<void>((resolve, reject) => (this.drainWaiters ??= []).push({ resolve, reject }));
    promise.catch(noop);
    if (this.connection.pendingBytes === 0 && this.compressBytes === 0) {
      // A write of nothing calls back once every write before it is done; once our side is ended
      // that write would be a write after end, which destroys the socket and what it still holds
      // (our close frame included), so wait for 'finish' instead: every write is done then.
      if (this.socket.writableEnded) this.socket.once('finish', () => this.checkDrain());
      else this.socket.write(EMPTY, () => this.checkDrain());
    }
    return promise;
  }

  /** Writes everything that can be written, in one socket write where possible. */
  flush(): void {
    this.flags &= ~FLUSH_SCHEDULED;
    const writer = this.connection.writer;
    const chunks = writer.take();
    // The open batch (its number, 0 for none, and its promise if one was asked for).
    let id = (this.flags & BATCH_OPEN) !== 0 ? this.batches : 0;
    let batch = this.batch;
    if (writer.takeDropped() && id !== 0) {
      // The connection failed with messages still being compressed: they will never be written.
      this.closeBatch();
      this.lose(id, batch);
      batch = null;
      id = 0;
    }
    // A batch settles once every frame it covers is written: not while one waits for compression.
    if (writer.reserved === 0) this.closeBatch();
    else {
      batch = null;
      id = 0;
    }
    const socket = this.socket;
    if (chunks.length > 0 || id !== 0) {
      if ((this.flags & ENDED) !== 0 || socket.destroyed || !socket.writable) {
        if (id !== 0) this.lose(id, batch);
        return;
      }
      // A batch whose frames all left in earlier writes settles after them: a write of nothing
      // calls back once every write before it is done.
      if (chunks.length === 0) chunks.push(EMPTY);
      let last = chunks.length - 1;
      if (last > 0 && writer.lastTakenBytes <= GATHER_LIMIT) {
        // Several small chunks (frames of this connection that others' frames separated in the
        // shared slab, as in a broadcast to many): one copy into one buffer costs less than
        // corking, one buffered write each and a writev. The copy goes into the slab (issue 15:
        // not a new Buffer per flush, which only a GC would free), and the chunks copied are
        // given back to it.
        chunks[0] = writer.gather(chunks, writer.lastTakenBytes);
        chunks.length = 1;
        last = 0;
      }
      const settles = id !== 0 || this.drainWaiters !== null;
      const entry = batch ?? id;
      // On a net.Socket with no write waiting for its callback, write without one and look
      // (issue 15): a write the kernel took at once is settled here. Node's callback costs an
      // object, a tick and our handler per write, a tenth of a delivery's CPU at low rates.
      // Only for a connection not written in the previous round: one written round after round
      // is under sustained load, where the callbacks' deferred work lengthens a round and more
      // messages gather per write (fan-out, 4 messages in flight to 1,000 subscribers: 3.76
      // frames per write with the callbacks, 2.27 without, and a quarter fewer deliveries).
      const look = settles && (this.flags & RECYCLES) !== 0 && this.writtenFirst === null && this.round !== round - 1;
      this.round = round;
      if (last > 0) socket.cork();
      for (let i = 0; i < last; i++) socket.write(chunks[i]!);
      // Writes complete in order: the last one's callback speaks for the whole batch. One callback
      // per outbox, settling the batches in write order (no closure per batch).
      if (!settles || look) socket.write(chunks[last]!);
      else this.writeWithCallback(chunks[last]!, entry);
      if (last > 0) socket.uncork();
      // Written synchronously (see RECYCLES; a write that failed destroyed the socket): nothing
      // refers to these bytes any more, and the slab can put frames there again once every range
      // of it has come back.
      const taken = (this.flags & RECYCLES) !== 0 && socket.writableLength === 0 && !socket.destroyed;
      if (look) {
        if (taken) this.settle(entry);
        // Not all taken: a write of nothing calls back once every write before it is done.
        else this.writeWithCallback(EMPTY, entry);
      }
      if (taken) writer.release(chunks);
    }
    if ((this.flags & END_REQUESTED) !== 0 && (this.flags & ENDED) === 0 && writer.idle) {
      this.flags |= ENDED;
      socket.end();
    }
  }

  /** The socket is gone: what waits rejects. */
  transportClosed(): void {
    if ((this.flags & BATCH_OPEN) !== 0) {
      const batch = this.batch;
      this.closeBatch();
      this.lose(this.batches, batch);
    }
    this.jobs = null;
    this.compressBytes = 0;
    const waiters = this.drainWaiters;
    this.drainWaiters = null;
    if (waiters !== null) {
      const error = this.closedError();
      for (const waiter of waiters) waiter.reject(error);
    }
  }

  /** @internal */
  socketGone(): boolean {
    return this.socket.destroyed;
  }

  /** @internal */
  closedError(): Error {
    return this.connection.closedError();
  }

  // The batches of writes not called back yet, in write order: a promise's Batch, a batch number,
  // or 0 for a write only drain() waits for; and the one write callback that settles them: made
  // on first use (an idle connection has neither). The oldest in `writtenFirst`, the others in
  // `written`, an array made only while two or more are pending (a write the kernel did not take
  // at once): issue 15, an array kept by every connection that ever wrote was 184 bytes.
  private writtenFirst: Batch | number | null = null;
  private written: (Batch | number)[] | null = null;
  private onWritten: ((error?: Error | null) => void) | null = null;

  private pushWritten(entry: Batch | number): void {
    if (this.writtenFirst === null) this.writtenFirst = entry;
    else (this.written ??= []).push(entry);
  }

  private shiftWritten(): Batch | number | null {
    const entry = this.writtenFirst;
    const rest = this.written;
    if (rest === null) this.writtenFirst = null;
    else {
      this.writtenFirst = rest.shift()!;
      if (rest.length === 0) this.written = null;
    }
    return entry;
  }

  private writeWithCallback(chunk: Uint8Array, entry: Batch | number): void {
    this.pushWritten(entry);
    this.socket.write(chunk, (this.onWritten ??= (error) => this.settle(this.shiftWritten(), error)));
  }

  /** The write of `entry` is done (its callback, or taken by the kernel at once): it is written, or lost. */
  private settle(entry: Batch | number | null, error?: Error | null): void {
    if (entry !== null && entry !== 0) {
      const batch = typeof entry === 'number' ? null : entry;
      const id = batch === null ? (entry as number) : batch.id;
      // Node calls the callback of a write cut short by destroy() with no error (onWriteComplete
      // in stream_base_commons), so a destroyed socket counts as a failure: better to report lost
      // bytes that may have arrived than to count as written bytes that were thrown away.
      if (error || this.socketGone()) this.lose(id, batch);
      else if (this.lostFrom !== 0 && id >= this.lostFrom) batch?.settle(this, false);
      else {
        this.writtenBatches = id;
        batch?.settle(this, true);
      }
    }
    if (this.drainWaiters !== null) this.checkDrain();
  }

  /** The number of the open batch, opening one if none is. */
  private openBatch(): number {
    if ((this.flags & BATCH_OPEN) === 0) {
      this.flags |= BATCH_OPEN;
      this.batches++;
    }
    return this.batches;
  }

  /** Later sends go into a new batch. */
  private closeBatch(): void {
    this.flags &= ~BATCH_OPEN;
    this.batch = null;
  }

  /** Batch `id` will not be written: neither it nor any later one counts as written. */
  private lose(id: number, batch: Batch | null): void {
    if (this.lostFrom === 0 || id < this.lostFrom) this.lostFrom = id;
    batch?.settle(this, false);
  }

  private checkDrain(): void {
    const waiters = this.drainWaiters;
    if (waiters === null || this.bufferedAmount > 0) return;
    this.drainWaiters = null;
    for (const waiter of waiters) waiter.resolve();
  }

  private compress(data: Buffer, isText: boolean, fragmentSize: number): void {
    const frame = this.connection.reserveCompressed();
    (this.jobs ??= []).push({ data, isText, frame, fragmentSize });
    this.compressBytes += data.length;
    this.pump();
  }

  /** Compresses the queued messages one at a time, in order (a kept context must see them in order). */
  private pump(): void {
    const jobs = this.jobs;
    const compressor = this.compressor!;
    while ((this.flags & COMPRESSING) === 0 && jobs !== null && this.jobs === jobs && jobs.length > 0) {
      const job = jobs[0]!;
      if (job === RESET) {
        jobs.shift();
        compressor.resetContext();
        continue;
      }
      if (job.frame.dropped) {
        jobs.shift();
        this.compressBytes -= job.data.length;
        continue;
      }
      this.flags |= COMPRESSING;
      // Small messages are compressed synchronously (deflate.ts): then this loop goes on to the
      // next job, rather than the callback recursing once per queued message.
      let sync = true;
      compressor.compress(job.data, (error, compressed) => {
        this.flags &= ~COMPRESSING;
        if (this.jobs !== jobs) return; // the transport closed meanwhile
        jobs.shift();
        this.compressBytes -= job.data.length;
        if (error !== null) {
          // zlib fails only when memory runs out: the connection cannot go on.
          this.connection.fail(CloseCode.INTERNAL_ERROR, 'compression failed', 'WS_ERR_COMPRESSION_FAILED');
        } else if (this.connection.completeCompressed(job.frame, compressed!, job.isText, job.fragmentSize)) {
          this.scheduleFlush();
        }
        if (jobs.length === 0 && this.jobs === jobs) this.jobs = null;
        if (!sync) this.pump();
      });
      sync = false;
    }
    if ((this.flags & COMPRESSING) === 0 && this.jobs !== null && this.jobs.length === 0) this.jobs = null;
  }

  private queued(): Promise<void> {
    this.scheduleFlush();
    const id = this.openBatch();
    let batch = this.batch;
    if (batch === null) batch = this.batch = new Batch(id);
    return batch.promise;
  }

  /** An overflowing send(), by the sendOverflow policy: the error it is refused with. */
  private overflow(): Error {
    const limit = this.limits.maxBufferedAmount;
    if (this.limits.sendOverflow === 'reject') {
      return new WebSocketError(
        'WS_ERR_BUFFER_FULL',
        `send() refused: ${this.bufferedAmount} bytes are already buffered (maxBufferedAmount ${limit})`,
      );
    }
    // The peer does not read fast enough: fail, and let closeTimeout cut it off if it never reads.
    this.connection.fail(CloseCode.POLICY_VIOLATION, 'too slow', 'WS_ERR_BUFFER_FULL');
    return this.connection.closedError();
  }
}

/**
 * The outboxes with something to write, flushed together once the event loop has run every I/O
 * callback of this iteration (issue 18): a chat server that reads 50 messages from 50 sockets in
 * one iteration, each for the same 99 members, writes each member once with 50 frames, not 50
 * times with one (a write system call per delivery was its limit). One immediate for all, not
 * one per connection. From node:timers, so that a test's fake timers do not hold our writes back.
 */
let scheduled: Outbox[] = [];

/** The number of the latest round of scheduled flushes (see Outbox.round); an outbox's 0 is never the one before. */
let round = 1;

function flushScheduled(): void {
  round++;
  const outboxes = scheduled;
  scheduled = [];
  for (let i = 0; i < outboxes.length; i++) outboxes[i]!.flush();
}
