/**
 * The pings a connection sent and waits for (Ws.ping() resolves with the round-trip time). Made
 * when the first ping is sent: a connection that never pings carries none.
 */

import type { ConnectionClosedError } from '../protocol/errors.js';
import { noop } from './util.js';

interface PendingPing {
  readonly payload: Buffer;
  readonly sentAt: number;
  readonly resolve: (rtt: number) => void;
  readonly reject: (error: Error) => void;
}

export class Pings {
  private readonly pending: PendingPing[] = [];

  /** A ping with `payload` went out: the promise of its round-trip time, in milliseconds. */
  sent(payload: Buffer): Promise<number> {
    const promise = new Promise<number>((resolve, reject) => {
      this.pending.push({ payload, sentAt: performance.now(), resolve, reject });
    });
    // A ping nobody awaits must not become an unhandled rejection when the connection closes.
    promise.catch(noop);
    return promise;
  }

  /**
   * A pong: it answers the ping with its payload and every ping before it (RFC 6455 5.5.3: an
   * endpoint may answer only the latest of several pings). An unsolicited pong answers nothing.
   */
  pong(payload: Uint8Array): void {
    const at = this.pending.findIndex((ping) => ping.payload.equals(payload));
    if (at < 0) return;
    const now = performance.now();
    for (const ping of this.pending.splice(0, at + 1)) ping.resolve(now - ping.sentAt);
  }

  /** The connection is gone: no pong will come. */
  closed(error: () => ConnectionClosedError): void {
    if (this.pending.length === 0) return;
    const reason = error();
    for (const ping of this.pending.splice(0)) ping.reject(reason);
  }
}
