/**
 * A connection for the hub's unit tests: it implements HubConnection's contract (the one Ws
 * implements) and lets a test play the kernel and the peer. What the hub's rules are checked
 * against is what the fake records; the real connection is exercised by the integration test.
 *
 * - A fast connection (`fast: true`): the kernel takes every frame at once (bufferedAmount stays 0).
 * - Otherwise frames stay buffered until `flush()`, as with a peer that does not read.
 * - `batched: true`: the frames handed over between two flushes share one promise, as a real Ws
 *   settles the frames of one socket write together.
 * - `numbered: true` (or `FakeConnection.numberedByDefault`): the connection also has the write
 *   without a promise that Ws has (sendNumbered, writtenBatches), which the hub then uses: the
 *   frames handed over between two flushes form one batch, written at flush(), lost at end().
 * - send() is the connection's own path (its own compressor, when it keeps context takeover): the
 *   fake frames the message uncompressed and marks it `own`; what a real compressor makes of it is
 *   Ws's business, tested in test/node and on real connections in test/hub/integration.test.ts.
 */

import { expect } from 'vitest';
import { ConnectionClosedError, WebSocketError } from '../../src/protocol/errors.js';
import { createFrameHeader, readFrameHeader } from '../../src/protocol/frame.js';
import { prepareFrame, type PreparedFrame } from '../../src/protocol/prepared.js';
import type { HubConnection } from '../../src/hub/types.js';
import type { CloseResult, ReadyState } from '../../src/protocol/connection.js';
import type { DeflateAgreement } from '../../src/protocol/permessage-deflate.js';
import { inflateMessage } from '../../testkit/index.js';

export interface FakeOptions {
  readonly fast?: boolean;
  readonly batched?: boolean;
  readonly numbered?: boolean;
  readonly deflate?: Partial<DeflateAgreement> | true;
}

/** A frame handed over: by sendPrepared(), or built by send() (`own`). */
export type SentFrame = PreparedFrame & { readonly own?: true };

interface Pending {
  readonly frame: SentFrame;
  /** Its batch, for a numbered write (0 otherwise). */
  readonly batch: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class FakeConnection implements HubConnection {
  /** The default of the `numbered` option (test/hub/numbered.test.ts runs the hub's tests with it). */
  static numberedByDefault = false;
  readyState: ReadyState = 'open';
  bufferedAmount = 0;
  readonly deflateAgreement: DeflateAgreement | null;
  readonly closed: Promise<CloseResult>;
  /** Every frame handed over (sendPrepared, send), in order. */
  readonly frames: SentFrame[] = [];
  /** Frames the kernel took. */
  readonly delivered: SentFrame[] = [];
  /** Arguments of close() calls. */
  readonly closeCalls: { code: number | undefined; reason: string | undefined }[] = [];
  drainCalls = 0;
  private readonly fast: boolean;
  private readonly batched: boolean;
  private batch: { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } | null = null;
  private pending: Pending[] = [];
  private drains: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private resolveClosed!: (result: CloseResult) => void;
  /** Numbered batches (see sendNumbered): how many were opened, and whether the last is still open. */
  private batches = 0;
  private batchOpen = false;
  writtenBatches = 0;
  /** Set to undefined for a connection that is not numbered, as any HubConnection but Ws. */
  declare sendNumbered?: (frame: PreparedFrame | null, payload: Uint8Array, isText: boolean) => number;

  constructor(options: FakeOptions = {}) {
    this.fast = options.fast ?? false;
    this.batched = options.batched ?? false;
    if (options.numbered ?? FakeConnection.numberedByDefault) this.sendNumbered = this.handNumbered;
    const deflate = options.deflate;
    this.deflateAgreement =
      deflate === undefined
        ? null
        : {
            ourNoContextTakeover: false,
            theirNoContextTakeover: false,
            ourMaxWindowBits: 15,
            theirMaxWindowBits: 15,
            ...(deflate === true ? {} : deflate),
          };
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  sendPrepared(frame: PreparedFrame): Promise<void> {
    this.checkFrame(frame);
    return this.hand(frame);
  }

  /** The contract: compressed frames only where they can be decoded. */
  private checkFrame(frame: PreparedFrame): void {
    if (frame.deflateWindowBits !== undefined) {
      const deflate = this.deflateAgreement;
      if (deflate === null || deflate.ourMaxWindowBits < frame.deflateWindowBits) {
        throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'compressed frame this connection cannot send');
      }
    }
  }

  send(data: string | Uint8Array, options?: { readonly text?: boolean }): Promise<void> {
    const isText = typeof data === 'string' || options?.text === true;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return this.hand({ ...prepareFrame(isText, bytes), own: true });
  }

  /** sendNumbered(): the frame (or the message, framed `own`) joins the open batch, whose number it returns; 0 once not open. */
  private handNumbered(frame: PreparedFrame | null, payload: Uint8Array, isText: boolean): number {
    if (this.readyState !== 'open') return 0;
    if (frame !== null) this.checkFrame(frame);
    const sent: SentFrame = frame ?? { ...prepareFrame(isText, payload), own: true };
    this.frames.push(sent);
    if (!this.batchOpen) {
      this.batchOpen = true;
      this.batches++;
    }
    const batch = this.batches;
    if (this.fast) {
      this.delivered.push(sent);
      this.batchOpen = false;
      this.writtenBatches = batch;
      return batch;
    }
    this.bufferedAmount += sent.frame.length;
    this.pending.push({ frame: sent, batch, resolve: () => {}, reject: () => {} });
    return batch;
  }

  /** Numbered: the open batch goes to the kernel (Ws's flush); later frames open the next one. */
  nextBatch(): void {
    this.batchOpen = false;
  }

  /** Numbered: the kernel took every batch up to `batch` (it must have been closed by nextBatch()). */
  writeBatches(batch: number): void {
    expect(batch).toBeGreaterThanOrEqual(this.writtenBatches);
    expect(batch < this.batches || (batch === this.batches && !this.batchOpen)).toBe(true);
    while (this.pending.length > 0 && this.pending[0]!.batch <= batch) {
      const p = this.pending.shift()!;
      this.delivered.push(p.frame);
      this.bufferedAmount -= p.frame.frame.length;
    }
    this.writtenBatches = batch;
    if (this.bufferedAmount === 0) {
      const drains = this.drains;
      this.drains = [];
      for (const d of drains) d.resolve();
    }
  }

  private hand(frame: SentFrame): Promise<void> {
    if (this.readyState !== 'open') return Promise.reject(new ConnectionClosedError(1006, ''));
    this.frames.push(frame);
    if (this.fast) {
      this.delivered.push(frame);
      return Promise.resolve();
    }
    this.bufferedAmount += frame.frame.length;
    if (this.batched) {
      if (this.batch === null) {
        let resolve!: () => void;
        let reject!: (error: Error) => void;
        const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
        this.batch = { promise, resolve, reject };
      }
      this.pending.push({ frame, batch: 0, resolve: () => {}, reject: () => {} });
      return this.batch.promise;
    }
    return new Promise((resolve, reject) => this.pending.push({ frame, batch: 0, resolve, reject }));
  }

  drain(): Promise<void> {
    this.drainCalls++;
    if (this.readyState === 'closed') return Promise.reject(new ConnectionClosedError(1006, ''));
    if (this.bufferedAmount === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.drains.push({ resolve, reject }));
  }

  close(code?: number, reason?: string): Promise<CloseResult> {
    this.closeCalls.push({ code, reason });
    if (this.readyState === 'open') this.readyState = 'closing';
    return this.closed;
  }

  /** The kernel takes everything buffered; drain() waiters resolve. */
  flush(): void {
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) {
      this.delivered.push(p.frame);
      p.resolve();
    }
    this.batch?.resolve();
    this.batch = null;
    if (this.batchOpen) {
      this.batchOpen = false;
      this.writtenBatches = this.batches;
    }
    this.bufferedAmount = 0;
    const drains = this.drains;
    this.drains = [];
    for (const d of drains) d.resolve();
  }

  /** TCP is gone: buffered frames are lost (their promises reject), then `closed` settles. */
  end(code = 1006, reason = ''): void {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    const error = new ConnectionClosedError(code, reason);
    for (const p of this.pending) p.reject(error);
    this.pending = [];
    this.batch?.reject(error);
    this.batch = null;
    this.batchOpen = false; // lost: never written
    this.bufferedAmount = 0;
    for (const d of this.drains) d.reject(error);
    this.drains = [];
    this.resolveClosed({ code, reason, wasClean: code !== 1006 });
  }

  /** The messages the peer would read from the delivered frames, decompressed where RSV1 is set. */
  receivedTexts(): string[] {
    return this.delivered.map((frame) => decodeFrame(frame, this.deflateAgreement).text);
  }

  /** The same for every frame handed over, delivered or still buffered. */
  sentTexts(): string[] {
    return this.frames.map((frame) => decodeFrame(frame, this.deflateAgreement).text);
  }
}

export interface DecodedFrame {
  readonly opcode: number;
  readonly compressed: boolean;
  readonly data: Buffer;
  readonly text: string;
}

/**
 * Reads a prepared frame the way a peer would: an unmasked, final frame whose header matches its
 * length; RSV1 means inflate (RFC 7692 7.2.2: append 00 00 ff ff) within the agreed window.
 */
export function decodeFrame(frame: PreparedFrame, deflate: DeflateAgreement | null): DecodedFrame {
  const header = createFrameHeader();
  const size = readFrameHeader(frame.frame, 0, frame.frame.length, header);
  expect(size).toBeGreaterThan(0);
  expect(header.fin).toBe(true);
  expect(header.masked).toBe(false);
  expect(header.length).toBe(frame.frame.length - size);
  expect(frame.firstByte).toBe(frame.frame[0]);
  expect(Buffer.compare(frame.payload, frame.frame.subarray(size))).toBe(0);
  let data: Buffer = Buffer.from(frame.frame.subarray(size));
  if (header.rsv1) {
    expect(deflate, 'a compressed frame on a connection without permessage-deflate').not.toBeNull();
    data = inflateMessage(data, deflate!.ourMaxWindowBits);
  }
  return { opcode: header.opcode, compressed: header.rsv1, data, text: data.toString('utf8') };
}

/** Resolves once every promise reaction queued so far, and every one they queue, has run (no time passes). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
