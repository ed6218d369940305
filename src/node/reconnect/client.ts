/**
 * `ReconnectingClient`: one long-lived client over a series of connections (dialer.ts), with a
 * send() whose promise always says what became of the message:
 *
 * - it resolves once the message was handed to a live connection and that connection's send()
 *   resolved (the kernel has the bytes);
 * - it rejects with WS_ERR_DROPPED when the bounded send queue refused it or dropped it by its policy,
 *   or the connection refused it (its `cause`);
 * - it rejects with WS_ERR_GAVE_UP when the client stopped for good before it was handed over.
 *
 * A message whose connection closed before confirming it is put back in the send queue, at its place,
 * and sent on the next connection (counted in `requeued`): it is never lost silently, and it may
 * arrive twice only when the old connection delivered it without confirming (at-least-once; use
 * message ids where that matters).
 *
 * Messages from every connection are read with `for await (const message of client)`.
 */

import { isUtf8 } from 'node:buffer';
import { CloseCode } from '../../protocol/close.js';
import { WebSocketError } from '../../protocol/errors.js';
import type { Message } from '../inbox.js';
import { closeArgumentsError, notData, type BinaryData, type SendOptions } from '../send-arguments.js';
import { noop, rejected, toBytes } from '../util.js';
import type { Ws } from '../ws.js';
import { Dialer, type DialCounters } from './dialer.js';
import { ReconnectError } from './errors.js';
import { resolveClient, type ReconnectingClientOptions, type ResolvedClient } from './options.js';
import { SendQueue, type Outgoing } from './send-queue.js';

/** What a ReconnectingClient counts: reconnect()'s counters, and what became of its sends. */
export interface ReconnectCounters extends DialCounters {
  /** send() promises resolved (handed to a live connection). */
  readonly sent: number;
  /** Messages put back in the send queue because their connection closed before confirming them. */
  readonly requeued: number;
  /** send() promises rejected with WS_ERR_DROPPED. */
  readonly dropped: number;
  /** send() promises rejected with WS_ERR_GAVE_UP. */
  readonly gaveUp: number;
}

/** 'connecting' while dialing or waiting to; 'open' with a live connection; 'closed' for good. */
export type ReconnectState = 'connecting' | 'open' | 'closed';

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * One long-lived client over a series of connections to one URL, with reconnect()'s backoff, and
 * a send() whose promise always says what became of the message: it resolves once a live
 * connection's send() resolved (the kernel has the bytes); it rejects with a ReconnectError,
 * WS_ERR_DROPPED when the bounded send queue refused or dropped it by its policy or the connection
 * refused it (its `cause`), WS_ERR_GAVE_UP when the client stopped for good before handing it over.
 * A message whose connection closed before confirming it goes back in the send queue at its place
 * (at least once: use message ids where a duplicate matters). `for await` reads the messages of
 * every connection in turn.
 */
export class ReconnectingClient implements AsyncIterableIterator<Message> {
  readonly #options: ResolvedClient;
  readonly #dialer: Dialer;
  readonly #queue: SendQueue;
  #seq = 0;
  #counts = { sent: 0, requeued: 0, dropped: 0, gaveUp: 0 };
  // The connection sends go straight to: during onConnect, then once the send queue is flushed.
  #live: Ws | null = null;
  #hooking: Ws | null = null;
  #stopError: ReconnectError | null = null;
  #changed: Array<() => void> = [];
  readonly #stopped: Promise<ReconnectError>;
  #resolveStopped!: (error: ReconnectError) => void;

  /** Starts connecting at once. Throws WS_ERR_INVALID_ARGUMENT (or the URL's ConnectError) for a bad option. */
  constructor(url: string | URL, options: ReconnectingClientOptions = {}) {
    this.#options = resolveClient(url, options);
    this.#dialer = new Dialer(this.#options);
    this.#queue = new SendQueue(this.#options);
    this.#stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
    void this.#run();
  }

  /** 'connecting' while dialing or waiting to, 'open' with a live connection, 'closed' for good. */
  get state(): ReconnectState {
    if (this.#stopError !== null) return 'closed';
    return this.#live !== null && this.#live.readyState === 'open' ? 'open' : 'connecting';
  }

  /** The live connection, if any (after its onConnect, before it closes). */
  get ws(): Ws | null {
    return this.#live;
  }

  /** What happened so far: attempts, connects, disconnects, and what became of the sends (a snapshot). */
  get counters(): ReconnectCounters {
    return { ...this.#dialer.counters, ...this.#counts };
  }

  /** Messages waiting in the send queue. */
  get queuedMessages(): number {
    return this.#queue.length;
  }

  /** Bytes waiting in the send queue. */
  get queuedBytes(): number {
    return this.#queue.bytes;
  }

  /** Settles once the client has stopped for good, with why (WS_ERR_GAVE_UP; `info` unset after close()). */
  get stopped(): Promise<ReconnectError> {
    return this.#stopped;
  }

  /**
   * Sends a message (as Ws.send: a string as text, bytes as binary, `{ text }`/`{ binary }` to
   * override) on the live connection, or queues it until there is one. See the class comment for
   * how the promise settles. Binary data is copied: changing the buffer after send() changes nothing.
   */
  send(data: string | BinaryData, options?: SendOptions): Promise<void> {
    let payload: string | Buffer;
    if (typeof data === 'string') payload = data;
    else {
      const bytes = toBytes(data);
      if (bytes === null) return rejected(notData('send()'));
      payload = Buffer.from(bytes);
    }
    // RFC 6455 5.6: checked now, not when the message finally goes out on some connection.
    if (options?.text === true && typeof payload !== 'string' && !isUtf8(payload)) {
      return rejected(new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'send(bytes, { text: true }): the bytes are not valid UTF-8'));
    }
    if (this.#stopError !== null) {
      this.#counts.gaveUp++;
      return rejected(this.#stopError);
    }
    let entry!: Outgoing;
    const promise = new Promise<void>((resolve, reject) => {
      const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
      entry = { seq: this.#seq++, data: payload, options, size, resolve, reject };
    });
    promise.catch(noop);
    const direct = this.#hooking ?? this.#live;
    if (direct !== null && direct.readyState === 'open' && (this.#hooking !== null || this.#queue.length === 0)) {
      this.#transmit(direct, entry);
    } else {
      this.#drop(this.#queue.add(entry), 'the send queue is full');
    }
    return promise;
  }

  /**
   * Stops for good: no more attempts, every queued message rejects with WS_ERR_GAVE_UP, and the live
   * connection (if any) is closed with `code` and `reason` after what was handed to it. Resolves once
   * it is closed. Rejects with WS_ERR_INVALID_ARGUMENT, before anything stops, for a code that may
   * not be sent or a reason too long.
   */
  async close(code?: number, reason?: string): Promise<void> {
    const invalid = closeArgumentsError(code ?? CloseCode.NORMAL, reason ?? '');
    if (invalid !== null) throw invalid;
    const ws = this.#hooking ?? this.#live;
    this.#stop(new ReconnectError('WS_ERR_GAVE_UP', 'the client was closed'));
    if (ws !== null) await ws.close(code, reason);
    await this.#stopped;
  }

  /** The client is its own async iterator: `for await (const message of client)`. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The next message from the live connection, waiting across reconnections; done once stopped. */
  async next(): Promise<IteratorResult<Message>> {
    for (;;) {
      const ws = this.#live;
      if (ws !== null) {
        const result = await ws.next();
        if (result.done !== true) return result;
      }
      if (this.#stopError !== null && this.#live === ws) return DONE;
      await this.#changeFrom(ws);
    }
  }

  /** Leaving a for-await loop does not close the client. */
  return(): Promise<IteratorResult<Message>> {
    return Promise.resolve(DONE);
  }

  // ---- the loop --------------------------------------------------------------------------------

  async #run(): Promise<void> {
    const options = this.#options;
    for (;;) {
      let ws: Ws | null;
      try {
        ws = await this.#dialer.next();
      } catch (error) {
        this.#stop(error as ReconnectError);
        break;
      }
      if (ws === null) break;
      this.#hooking = ws;
      try {
        await options.onConnect?.(ws);
      } catch (error) {
        this.#hooking = null;
        this.#dialer.refuse(ws, error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      this.#hooking = null;
      if (ws.readyState !== 'open' || this.#stopError !== null) continue;
      this.#live = ws;
      this.#notify();
      for (const entry of this.#queue.takeAll()) this.#transmit(ws, entry);
      await ws.closed;
      this.#live = null;
      this.#notify();
    }
    // Stopped by close() or an abort, or the policy gave up.
    this.#stop(this.#dialer.gaveUp ?? new ReconnectError('WS_ERR_GAVE_UP', 'reconnection was stopped'));
    this.#live = null;
    this.#notify();
    this.#resolveStopped(this.#stopError!);
  }

  #transmit(ws: Ws, entry: Outgoing): void {
    ws.send(entry.data, entry.options).then(
      () => {
        this.#counts.sent++;
        entry.resolve();
      },
      (error: unknown) => {
        const code = (error as { code?: unknown }).code;
        if (code !== 'WS_ERR_CLOSED') {
          this.#counts.dropped++;
          entry.reject(new ReconnectError('WS_ERR_DROPPED', `the connection refused the message: ${String((error as Error).message)}`, undefined, error));
        } else if (this.#stopError !== null) {
          this.#counts.gaveUp++;
          entry.reject(this.#stopError);
        } else {
          // Not confirmed before the connection closed: it goes again on the next one.
          this.#counts.requeued++;
          this.#drop(this.#queue.restore([entry]), 'the send queue is full');
        }
      },
    );
  }

  #drop(entries: readonly Outgoing[], why: string): void {
    for (const entry of entries) {
      this.#counts.dropped++;
      entry.reject(new ReconnectError('WS_ERR_DROPPED', `message dropped: ${why} (maxQueuedMessages ${this.#options.maxQueuedMessages}, maxQueuedBytes ${this.#options.maxQueuedBytes}, queuePolicy '${this.#options.queuePolicy}')`));
    }
  }

  #stop(error: ReconnectError): void {
    if (this.#stopError !== null) return;
    this.#stopError = error;
    this.#dialer.stop();
    for (const entry of this.#queue.takeAll()) {
      this.#counts.gaveUp++;
      entry.reject(error);
    }
    this.#notify();
  }

  #notify(): void {
    const waiters = this.#changed;
    this.#changed = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once the live connection is no longer `ws`, or the client has stopped. */
  #changeFrom(ws: Ws | null): Promise<void> {
    if (this.#live !== ws || (this.#stopError !== null && this.#live === null)) return Promise.resolve();
    return new Promise((resolve) => this.#changed.push(resolve));
  }
}
