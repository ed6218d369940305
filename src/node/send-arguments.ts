/**
 * The arguments of the connection's methods, checked before anything is queued or sent: what
 * send(data, options) means (the payload, whether it is text, the fragment size), and close()'s
 * code and reason. Bad arguments get a WS_ERR_INVALID_ARGUMENT error, which the methods reject with.
 */

import { isUtf8 } from 'node:buffer';
import { encodeClosePayload } from '../protocol/close.js';
import { WebSocketError } from '../protocol/errors.js';
import { toBytes } from './util.js';

/** Binary data `send()`, `ping()` and the hub's `publish()` accept. */
export type BinaryData = Uint8Array | ArrayBuffer | DataView;

/** How `send()` frames a message; by default a string goes as text, bytes as binary, in one frame. */
export interface SendOptions {
  /** Send bytes as a text message, without decoding them (they must be valid UTF-8). */
  readonly text?: boolean;
  /** Send a string as a binary message (its UTF-8 bytes). */
  readonly binary?: boolean;
  /**
   * Send the message in frames of at most this many payload bytes (RFC 6455 5.4; compressed,
   * RSV1 marks the first frame only, RFC 7692 6.1). Default: one frame.
   */
  readonly fragmentSize?: number;
}

export interface SendArguments {
  readonly payload: string | Uint8Array;
  readonly isText: boolean;
  /** 0: one frame. */
  readonly fragmentSize: number;
}

/** The error for data that is neither a string nor binary data (send() and the like reject with it). */
export function notData(method: string): WebSocketError {
  return new WebSocketError('WS_ERR_INVALID_ARGUMENT', `${method} takes a string, a Uint8Array, an ArrayBuffer or a DataView`);
}

/**
 * The message send() was asked for, or the WS_ERR_INVALID_ARGUMENT error that send() rejects with:
 * data that is not a string or bytes, a bad option, text bytes that are not UTF-8.
 */
export function sendArguments(data: string | BinaryData, options: SendOptions | undefined): SendArguments | WebSocketError {
  let fragmentSize = 0;
  if (options?.fragmentSize !== undefined) {
    fragmentSize = options.fragmentSize;
    if (!Number.isInteger(fragmentSize) || fragmentSize < 1 || fragmentSize > 2 ** 31 - 1) {
      return new WebSocketError('WS_ERR_INVALID_ARGUMENT', `send(): fragmentSize must be an integer from 1 to 2^31-1, got ${String(fragmentSize)}`);
    }
  }
  if (typeof data === 'string') {
    return options?.binary === true
      ? { payload: Buffer.from(data), isText: false, fragmentSize }
      : { payload: data, isText: true, fragmentSize };
  }
  const bytes = toBytes(data);
  if (bytes === null) return notData('send()');
  if (options?.text === true) {
    // RFC 6455 5.6: a text message is UTF-8; the peer would fail us with 1007 otherwise.
    if (!isUtf8(bytes)) return new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'send(bytes, { text: true }): the bytes are not valid UTF-8');
    return { payload: bytes, isText: true, fragmentSize };
  }
  return { payload: bytes, isText: false, fragmentSize };
}

/**
 * The WS_ERR_INVALID_ARGUMENT error for a close code that may not be sent or a reason that does
 * not fit (RFC 6455 5.5, 7.4), or null: close() methods reject with it before anything changes.
 */
export function closeArgumentsError(code: number | undefined, reason: string | undefined): WebSocketError | null {
  if (reason !== undefined && typeof reason !== 'string') {
    return new WebSocketError('WS_ERR_INVALID_ARGUMENT', `a close reason must be a string, got ${typeof reason}`);
  }
  try {
    encodeClosePayload(code, reason);
    return null;
  } catch (error) {
    if (error instanceof WebSocketError) return error;
    throw error;
  }
}
