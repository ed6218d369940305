/**
 * `reconnect(url, options)`: an async iterable of connections, as python-websockets'
 * `async for websocket in connect(uri)`: each iteration yields a fresh, open Ws once the one before
 * it has closed and the backoff has passed.
 *
 *     for await (const ws of reconnect('wss://example.com/feed')) {
 *       await ws.send('subscribe');
 *       for await (const message of ws) handle(message);
 *     }
 */

import { CloseCode } from '../../protocol/close.js';
import { closeArgumentsError } from '../send-arguments.js';
import type { Ws } from '../ws.js';
import { Dialer, type DialCounters } from './dialer.js';
import { resolveReconnect, type ReconnectOptions } from './options.js';

/**
 * What reconnect() returns: an async iterable of open connections, one after the other, each once
 * the previous one has closed and the backoff has passed.
 */
export interface Connections extends AsyncIterableIterator<Ws> {
  /** Attempts, connects and disconnects so far. */
  readonly counters: DialCounters;
  /**
   * Stops reconnecting: a pending attempt or wait ends, the loop ends (done), and the connection
   * yielded last is closed with `code` and `reason`. Leaving a for-await loop does the same.
   * Rejects with WS_ERR_INVALID_ARGUMENT, before anything stops, for a code that may not be sent.
   */
  stop(code?: number, reason?: string): Promise<void>;
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * Connections to `url`, one after the other. The loop ends when stop() is called or it is left;
 * `next()` rejects with a ReconnectError (WS_ERR_GAVE_UP) when the policy gives up (a
 * do-not-come-back answer, maxAttempts). Throws at once for a bad URL or option.
 */
export function reconnect(url: string | URL, options?: ReconnectOptions): Connections {
  const dialer = new Dialer(resolveReconnect(url, options));
  const stop = async (code?: number, reason?: string): Promise<void> => {
    // A bad argument rejects before anything stops.
    const invalid = closeArgumentsError(code ?? CloseCode.NORMAL, reason ?? '');
    if (invalid !== null) throw invalid;
    const ws = dialer.current;
    dialer.stop();
    if (ws !== null) await ws.close(code, reason);
  };
  return {
    get counters(): DialCounters {
      return dialer.counters;
    },
    async next(): Promise<IteratorResult<Ws>> {
      const ws = await dialer.next();
      return ws === null ? DONE : { done: false, value: ws };
    },
    async return(): Promise<IteratorResult<Ws>> {
      await stop();
      return DONE;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
    stop,
  };
}
