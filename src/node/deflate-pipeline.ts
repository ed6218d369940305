/**
 * Keeps messages in order around zlib, which works asynchronously (RFC 7692 does not let
 * compression reorder anything):
 *
 * - inbound, a message behind one that is still inflating waits for it, compressed or not;
 * - outbound, a send behind one that is still compressing waits for it, and so does our close
 *   frame, so everything sent before close() still goes out before it.
 *
 * When nothing is pending, uncompressed messages take the direct path and cost nothing extra.
 */

import type { ProtocolError } from '../protocol/errors.js';
import type { PerMessageDeflate } from './deflate.js';

export interface PipelineHost {
  /** An inflated (or uncompressed) message, in order. */
  deliver(data: Buffer, isText: boolean, size: number): void;
  /** Inflation failed: the connection must fail with the error's close code. */
  inflateFailed(error: ProtocolError): void;
  /** Nothing is waiting to be inflated any more. */
  inboundIdle(): void;
  /**
   * Whether the application has room for more: inflating is what makes a small message big, so a
   * message is only inflated while the unread bytes are under receiveHighWaterMark.
   */
  mayInflate(): boolean;
  /** Writes a message now; returns its send() promise. Throws if the connection cannot send. */
  write(payload: Buffer | string, isText: boolean, compressed: boolean): Promise<void>;
}

interface Inbound {
  readonly payload: Buffer;
  readonly isText: boolean;
  readonly compressed: boolean;
}

interface Outbound {
  readonly data: Buffer | string;
  readonly isText: boolean;
  readonly compress: boolean;
  readonly size: number;
  readonly resolve: (sent: Promise<void>) => void;
  readonly reject: (error: Error) => void;
}

type OutboundStep = Outbound | (() => void);

function noop(): void {}

export class DeflatePipeline {
  private readonly codec: PerMessageDeflate;
  private readonly host: PipelineHost;
  private readonly threshold: number;
  private readonly maxPayload: number;

  private readonly inbound: Inbound[] = [];
  private inflating = false;
  /** Compressed bytes waiting to be inflated. */
  inboundBytes = 0;

  private readonly outbound: OutboundStep[] = [];
  private compressing = false;
  /** Bytes of messages waiting to be compressed or to follow one that is. */
  outboundBytes = 0;

  constructor(codec: PerMessageDeflate, host: PipelineHost, threshold: number, maxPayload: number) {
    this.codec = codec;
    this.host = host;
    this.threshold = threshold;
    this.maxPayload = maxPayload;
  }

  get inboundBusy(): boolean {
    return this.inbound.length > 0;
  }

  /** Takes a received message; false means it may be delivered directly (nothing to wait for). */
  receive(payload: Buffer, isText: boolean, compressed: boolean): boolean {
    if (!compressed && this.inbound.length === 0) return false;
    this.inbound.push({ payload, isText, compressed });
    this.inboundBytes += payload.length;
    this.pumpInbound();
    return true;
  }

  /**
   * Takes a message to send; null means it may be written directly (too small to compress, and
   * nothing ahead of it).
   */
  send(data: string | Buffer, isText: boolean): Promise<void> | null {
    let payload = data;
    // A string to be compressed is encoded once, here. UTF-8 takes at least a byte per UTF-16
    // unit, so a string of threshold units or more is compressed without being measured first.
    if (
      typeof payload === 'string' &&
      (payload.length >= this.threshold || Buffer.byteLength(payload) >= this.threshold)
    ) {
      payload = Buffer.from(payload);
    }
    // Only bytes remain to be compressed: a string left as one is under the threshold.
    const compress = typeof payload !== 'string' && payload.length >= this.threshold;
    if (!compress && this.outbound.length === 0) return null;
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    const promise = new Promise<void>((resolve, reject) => {
      this.outbound.push({ data: payload, isText, compress, size, resolve, reject });
      this.outboundBytes += size;
    });
    // As with direct sends: a rejection nobody awaits is not an unhandled rejection.
    promise.catch(noop);
    this.pumpOutbound();
    return promise;
  }

  /** Runs `action` once every message sent before has been written (or at once). */
  afterSends(action: () => void): void {
    if (this.outbound.length === 0) action();
    else this.outbound.push(action);
  }

  /**
   * The connection is failing or gone: pending sends reject with the error `reason` makes (only
   * made if one is pending: an Error captures a stack), nothing more is inflated.
   */
  abort(reason: () => Error): void {
    let error: Error | undefined;
    for (const step of this.outbound.splice(0)) {
      if (typeof step !== 'function') step.reject((error ??= reason()));
    }
    this.outboundBytes = 0;
    this.inbound.length = 0;
    this.inboundBytes = 0;
    this.codec.close();
  }

  /** The application read enough to take more: inflate what waits. */
  resumeInbound(): void {
    this.pumpInbound();
  }

  private pumpInbound(): void {
    while (!this.inflating && this.inbound.length > 0) {
      const next = this.inbound[0]!;
      if (next.compressed && !this.host.mayInflate()) return;
      if (!next.compressed) {
        this.takeInbound();
        this.host.deliver(next.payload, next.isText, next.payload.length);
        continue;
      }
      this.inflating = true;
      this.codec.decompress(next.payload, next.isText, this.maxPayload, (error, data) => {
        this.inflating = false;
        if (this.inbound[0] !== next) return; // aborted meanwhile
        this.takeInbound();
        if (error !== null) {
          this.inbound.length = 0;
          this.inboundBytes = 0;
          this.host.inflateFailed(error as ProtocolError);
          return;
        }
        this.host.deliver(data!, next.isText, data!.length);
        this.pumpInbound();
      });
      return;
    }
    if (!this.inflating && this.inbound.length === 0) this.host.inboundIdle();
  }

  private takeInbound(): void {
    const taken = this.inbound.shift()!;
    this.inboundBytes -= taken.payload.length;
  }

  private pumpOutbound(): void {
    while (!this.compressing && this.outbound.length > 0) {
      const next = this.outbound[0]!;
      if (typeof next === 'function') {
        this.outbound.shift();
        next();
        continue;
      }
      if (!next.compress) {
        this.takeOutbound();
        this.writeNow(next, next.data, false);
        continue;
      }
      this.compressing = true;
      // send() encoded every string it marked for compression.
      this.codec.compress(next.data as Buffer, (error, compressed) => {
        this.compressing = false;
        if (this.outbound[0] !== next) return; // aborted meanwhile
        this.takeOutbound();
        if (error !== null) next.reject(error);
        else this.writeNow(next, compressed!, true);
        this.pumpOutbound();
      });
      return;
    }
  }

  private takeOutbound(): void {
    const taken = this.outbound.shift() as Outbound;
    this.outboundBytes -= taken.size;
  }

  private writeNow(message: Outbound, payload: Buffer | string, compressed: boolean): void {
    try {
      message.resolve(this.host.write(payload, message.isText, compressed));
    } catch (error) {
      message.reject(error as Error);
    }
  }
}
