/**
 * What send(data, options) means, checked before anything is queued: the payload and whether it
 * is text, and the fragment size. Bad arguments get WS_ERR_INVALID_ARGUMENT.
 */

import { isUtf8 } from 'node:buffer';
import { WebSocketError } from '../protocol/errors.js';

/** Binary data `send()` accepts. */
export type BinaryData = Uint8Array | ArrayBuffer | DataView;

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

/** Binary data as bytes; throws WS_ERR_INVALID_ARGUMENT for anything else. */
export function toBytes(data: BinaryData): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'send() takes a string, a Uint8Array, an ArrayBuffer or a DataView');
}

/**
 * The message send() was asked for. Throws WS_ERR_INVALID_ARGUMENT for data that is not a string
 * or bytes (synchronously, as send() always did); returns it for a bad option or text bytes that
 * are not UTF-8, which send() rejects with.
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
  if (options?.text === true) {
    // RFC 6455 5.6: a text message is UTF-8; the peer would fail us with 1007 otherwise.
    if (!isUtf8(bytes)) return new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'send(bytes, { text: true }): the bytes are not valid UTF-8');
    return { payload: bytes, isText: true, fragmentSize };
  }
  return { payload: bytes, isText: false, fragmentSize };
}
