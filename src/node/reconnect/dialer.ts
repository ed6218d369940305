/**
 * The reconnect loop shared by reconnect() and ReconnectingClient: it dials, hands out the
 * connection, waits for it to close, asks the policy (policy.ts) whether and when to come back,
 * sleeps on the scheduler, and dials again. It never keeps two connections open at once.
 */

import type { ConnectError } from '../client/connect-error.js';
import { connect } from '../client/connect.js';
import type { ClientOptions } from '../client/options.js';
import type { Ws } from '../ws.js';
import { ReconnectError } from './errors.js';
import type { ResolvedReconnect } from './options.js';
import { decide, type DisconnectInfo } from './policy.js';

/** What reconnect() counts: its attempts, and the connections they opened and saw close. */
export interface DialCounters {
  /** Connection attempts made. */
  readonly attempts: number;
  /** Attempts that opened a connection. */
  readonly connects: number;
  /** Open connections that have closed since. */
  readonly disconnects: number;
}

function toInfo(error: unknown): DisconnectInfo {
  const failure = error instanceof Error ? error : new Error(String(error));
  const connectError = failure as Partial<ConnectError>;
  if (connectError.code === 'WS_ERR_UNEXPECTED_RESPONSE' && connectError.status !== undefined) {
    return { kind: 'refused', status: connectError.status, headers: connectError.headers ?? {}, error: failure as ConnectError };
  }
  return { kind: 'failed', error: failure };
}

export class Dialer {
  readonly #options: ResolvedReconnect;
  readonly #abort = new AbortController();
  // One object for every dial: its connections share what connect() shares per options object.
  readonly #connectOptions: ClientOptions;
  #counters = { attempts: 0, connects: 0, disconnects: 0 };
  // Attempts in a row that failed (0 again once an open connection closes normally).
  #failures = 0;
  #first = true;
  #wait = 0;
  #current: Ws | null = null;
  // The application refused the current connection (onConnect threw).
  #refusal: Error | null = null;
  #stopped = false;
  #gaveUp: ReconnectError | null = null;
  #sleep: { readonly handle: unknown; readonly wake: () => void } | null = null;

  constructor(options: ResolvedReconnect) {
    this.#options = options;
    this.#connectOptions = { ...options.connectOptions, signal: this.#abort.signal };
    // The caller's signal ends it all: no more attempts, and the open connection is closed.
    const signal = options.signal;
    const abort = (): void => {
      this.stop();
      void this.#current?.close();
    };
    if (signal?.aborted === true) this.stop();
    else signal?.addEventListener('abort', abort, { once: true, signal: this.#abort.signal });
  }

  get counters(): DialCounters {
    return { ...this.#counters };
  }

  /** The open connection handed out last, until it has closed. */
  get current(): Ws | null {
    return this.#current;
  }

  get stopped(): boolean {
    return this.#stopped || this.#gaveUp !== null;
  }

  /** Why the loop gave up, once it has. */
  get gaveUp(): ReconnectError | null {
    return this.#gaveUp;
  }

  /**
   * The next open connection, after the previous one has closed and the policy's wait. Resolves
   * null once stop() was called; rejects with WS_ERR_GAVE_UP when the policy gives up.
   */
  async next(): Promise<Ws | null> {
    const previous = this.#current;
    if (previous !== null) await this.#afterClose(previous);
    for (;;) {
      if (this.#gaveUp !== null) throw this.#gaveUp;
      if (this.#stopped) return null;
      if (!this.#first) await this.#sleepFor(this.#wait);
      this.#first = false;
      if (this.#stopped) return null;
      this.#counters.attempts++;
      let ws: Ws;
      try {
        ws = await connect(this.#options.url, this.#connectOptions);
      } catch (error) {
        if (this.#stopped) return null;
        this.#failures++;
        this.#decide(toInfo(error));
        continue;
      }
      if (this.#stopped) {
        await ws.close();
        return null;
      }
      this.#counters.connects++;
      this.#current = ws;
      return ws;
    }
  }

  /** The application refused this connection (onConnect threw): it closes with 1011 and counts as a failure. */
  refuse(ws: Ws, error: Error): void {
    if (ws !== this.#current) return;
    this.#refusal = error;
    void ws.close(1011, 'onConnect failed');
  }

  /** Stops for good: no new attempt, a pending one is aborted, a wait ends now. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#abort.abort(new ReconnectError('WS_ERR_GAVE_UP', 'reconnection was stopped'));
    const sleep = this.#sleep;
    if (sleep !== null) {
      this.#options.scheduler.clearTimeout(sleep.handle);
      sleep.wake();
    }
  }

  async #afterClose(ws: Ws): Promise<void> {
    const result = await ws.closed;
    this.#current = null;
    this.#counters.disconnects++;
    const refusal = this.#refusal;
    this.#refusal = null;
    if (this.#stopped) return;
    if (refusal !== null) {
      this.#failures++;
      this.#decide({ kind: 'failed', error: refusal });
    } else {
      this.#failures = 0;
      this.#decide({ kind: 'closed', code: result.code, reason: result.reason, wasClean: result.wasClean });
    }
  }

  #decide(info: DisconnectInfo): void {
    const options = this.#options;
    const decision = decide(info, this.#failures, options, options.random, options.scheduler.now());
    if ('stop' in decision) {
      this.#gaveUp = new ReconnectError('WS_ERR_GAVE_UP', `gave up reconnecting: ${decision.stop}`, info, 'error' in info ? info.error : undefined);
      this.#abort.abort(this.#gaveUp);
      this.#tell(info, undefined);
    } else {
      this.#wait = decision.retryIn;
      this.#tell(info, decision.retryIn);
    }
  }

  #tell(info: DisconnectInfo, retryIn: number | undefined): void {
    const onDisconnect = this.#options.onDisconnect;
    if (onDisconnect === undefined) return;
    try {
      onDisconnect(info, retryIn);
    } catch (error) {
      // The application's callback failed: reported as uncaught, as an event listener's would be.
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  #sleepFor(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.#sleep = null;
        resolve();
      };
      this.#sleep = { handle: this.#options.scheduler.setTimeout(wake, ms), wake };
    });
  }
}
