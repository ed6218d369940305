/**
 * A client connection as the chat's hub sees it: the library's Ws, with every message handed to it
 * counted (stats' `messages_sent`, the metrics' messages and bytes out), whichever path sent it:
 * a broadcast frame prepared once, or a message of its own.
 */

import type { BinaryData, CloseResult, DeflateAgreement, PreparedFrame, ReadyState, Ws } from 'rfc6455';
import type { HubConnection } from 'rfc6455/hub';

export class ChatConnection implements HubConnection {
  readonly ws: Ws;
  private readonly counted: (bytes: number) => void;

  constructor(ws: Ws, counted: (bytes: number) => void) {
    this.ws = ws;
    this.counted = counted;
  }

  get readyState(): ReadyState {
    return this.ws.readyState;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get deflateAgreement(): DeflateAgreement | null {
    return this.ws.deflateAgreement;
  }

  get closed(): Promise<CloseResult> {
    return this.ws.closed;
  }

  sendPrepared(frame: PreparedFrame): Promise<void> {
    this.counted(frame.payload.length);
    return this.ws.sendPrepared(frame);
  }

  send(data: string | Uint8Array, options?: { readonly text?: boolean }): Promise<void> {
    this.counted(typeof data === 'string' ? Buffer.byteLength(data) : data.length);
    return this.ws.send(data as string | BinaryData, options);
  }

  /**
   * The hub's write without a promise (Ws.sendNumbered), forwarded: without it the hub would make
   * a promise, its reactions and a closure for every delivery (issue 15: p99 and CPU at the rates
   * where every delivery is a write of its own).
   */
  sendNumbered(frame: PreparedFrame | null, payload: Uint8Array, isText: boolean): number {
    const batch = this.ws.sendNumbered(frame, payload, isText);
    if (batch !== 0) this.counted(frame === null ? payload.length : frame.payload.length);
    return batch;
  }

  /** The batches the kernel took (Ws.writtenBatches): the hub's lost frames are those above it. */
  get writtenBatches(): number {
    return this.ws.writtenBatches;
  }

  drain(): Promise<void> {
    return this.ws.drain();
  }

  close(code?: number, reason?: string): Promise<CloseResult> {
    return this.ws.close(code, reason);
  }
}
