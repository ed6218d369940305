/**
 * A WebSocket on an HTTP/2 stream (RFC 8441), the transport side of it (see ../transport.ts):
 *
 * - Closing (RFC 8441 5): the orderly end is END_STREAM (`stream.end()`, as a FIN on TCP); an
 *   abnormal end is RST_STREAM with CANCEL. Node's `stream.destroy()` would send NO_ERROR, so the
 *   abort closes the stream with CANCEL explicitly. A stream the peer resets ends that WebSocket
 *   alone (1006); the session and its other streams go on.
 *
 * - Flow control, and why writes are paced. Receiving, Node consumes the connection-level window
 *   as soon as DATA arrives (node_http2.cc, OnDataChunkReceived: nghttp2_session_consume_connection)
 *   and a stream's window only as the stream is read: a WebSocket that pauses reading
 *   (receiveHighWaterMark) stops its own stream's WINDOW_UPDATEs, so its peer stops after one stream
 *   window (65,535 bytes by default), and the connection window stays open for the other streams.
 *   Sending, a stream whose peer stops reading keeps what we write, which is fine as long as it
 *   waits in JavaScript, where `bufferedAmount` counts it and `maxBufferedAmount` bounds it. But a
 *   write handed to Node's native stream counts against the session's `maxSessionMemory` (10 MB
 *   by default) until it is sent, and while the session is over it, Node refuses every NEW stream
 *   on it with ENHANCE_YOUR_CALM: one stuck WebSocket with a 16 MiB message queued (or a backlog,
 *   which a Writable hands over in one `_writev` when its previous write completes) would stop
 *   any other WebSocket from opening on that connection (measured on Node 20). So writes go to
 *   the stream PACE bytes at a time, the next slice when the stream has taken the last: a stuck
 *   stream holds at most PACE bytes of session memory, the rest of its backlog stays with us.
 */

import { constants, type Http2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { ByteSink, Transport } from '../transport.js';

/**
 * Most bytes of one stream in Node's native queue at a time. Four 16 KiB DATA frames: enough to
 * keep the session busy between two write callbacks, small enough that hundreds of stuck streams
 * stay far from maxSessionMemory.
 */
export const PACE = 64 * 1024;

type WriteCallback = (error?: Error | null) => void;

interface Pending {
  readonly chunk: Uint8Array;
  readonly callback: WriteCallback | undefined;
}

/**
 * The Outbox's sink on an HTTP/2 stream: what it writes goes to the stream in slices of at most
 * PACE bytes, each when the stream's own buffer has room; callbacks fire in write order, once the
 * stream has taken a write's last byte.
 */
export class PacedStreamWriter implements ByteSink {
  private readonly stream: Http2Stream;
  /** Writes not handed to the stream yet, in order; `offset` bytes of the first are handed already. */
  private readonly queue: Pending[] = [];
  private offset = 0;
  private queuedBytes = 0;
  private ended = false;
  private readonly onSlice = (error?: Error | null): void => {
    if (error) this.fail(error);
    else this.pump();
  };

  constructor(stream: Http2Stream) {
    this.stream = stream;
    // Writes still queued when the stream goes are failed, as a socket fails its own.
    stream.once('close', () => this.fail(new Error('the HTTP/2 stream closed')));
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  get writable(): boolean {
    return !this.ended && this.stream.writable;
  }

  get writableEnded(): boolean {
    return this.ended;
  }

  get writableLength(): number {
    return this.queuedBytes + this.stream.writableLength;
  }

  // Slices are small and handed over one after another: nothing to gather.
  cork(): void {}
  uncork(): void {}

  once(event: 'finish', listener: () => void): this {
    // end() reaches the stream only once the queue is empty: its 'finish' covers every write.
    this.stream.once(event, listener);
    return this;
  }

  write(chunk: Uint8Array, callback?: WriteCallback): boolean {
    if (this.ended || this.stream.destroyed) {
      if (callback !== undefined) process.nextTick(callback, new Error('write after the HTTP/2 stream ended'));
      return false;
    }
    this.queue.push({ chunk, callback });
    this.queuedBytes += chunk.length;
    this.pump();
    return this.queue.length === 0;
  }

  end(): this {
    if (this.ended) return this;
    this.ended = true;
    this.pump();
    return this;
  }

  /** Hands the stream slices while it holds less than PACE bytes. */
  private pump(): void {
    const stream = this.stream;
    const queue = this.queue;
    while (queue.length > 0 && stream.writableLength < PACE && !stream.destroyed) {
      const { chunk, callback } = queue[0]!;
      const size = Math.min(chunk.length - this.offset, PACE);
      const slice = size === chunk.length ? chunk : chunk.subarray(this.offset, this.offset + size);
      this.offset += size;
      this.queuedBytes -= size;
      if (this.offset < chunk.length) {
        stream.write(slice, this.onSlice);
        continue;
      }
      queue.shift();
      this.offset = 0;
      stream.write(
        slice,
        callback === undefined
          ? this.onSlice
          : (error?: Error | null) => {
              callback(error);
              this.onSlice(error);
            },
      );
    }
    if (this.ended && queue.length === 0 && !stream.writableEnded && !stream.destroyed) stream.end();
  }

  /** The stream failed or closed: what is still queued will never be written. */
  private fail(error: Error): void {
    const pending = this.queue.splice(0);
    this.offset = 0;
    this.queuedBytes = 0;
    for (const { callback } of pending) callback?.(error);
  }
}

/** A WebSocket on an HTTP/2 stream, client or server. */
export const HTTP2_STREAM_TRANSPORT: Transport = {
  name: 'h2',
  sink: (socket: Duplex) => new PacedStreamWriter(socket as Http2Stream),
  abort: (socket: Duplex) => {
    // RFC 8441 5: RST_STREAM with CANCEL is the equivalent of a TCP reset.
    const stream = socket as Http2Stream;
    if (!stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
    else stream.destroy();
  },
};
