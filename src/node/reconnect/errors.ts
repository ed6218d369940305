/** The errors of the reconnecting client: every send() that was not delivered says why. */

import { WebSocketError, type ReconnectErrorCode } from '../../protocol/errors.js';
import type { DisconnectInfo } from './policy.js';

/**
 * WS_ERR_DROPPED: the message never reached a live connection because the send queue's policy dropped
 * it, the send queue refused it (full, or larger than maxQueuedBytes), or the connection refused it
 * (its `cause`). WS_ERR_GAVE_UP: the client stopped for good (close(), an abort, a do-not-come-back
 * answer, maxAttempts); `info` says what made it stop, when it was not the application.
 */
export class ReconnectError extends WebSocketError {
  /** WS_ERR_DROPPED (this message was not delivered) or WS_ERR_GAVE_UP (the client stopped). */
  declare readonly code: ReconnectErrorCode;
  /**
   * WS_ERR_GAVE_UP: the disconnect or failed attempt after which the client gave up; undefined when
   * the application stopped it (close(), stop(), its signal) and for WS_ERR_DROPPED.
   */
  readonly info: DisconnectInfo | undefined;

  /** Made by the reconnecting clients; exported for `instanceof`. */
  constructor(code: ReconnectErrorCode, message: string, info?: DisconnectInfo, cause?: unknown) {
    super(code, message);
    this.info = info;
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}
