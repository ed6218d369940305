/** Small helpers the Node layer and the hub share, in one place rather than a copy per file. */

import { Buffer } from 'node:buffer';

/** Does nothing: a listener or a rejection handler whose event changes nothing. */
export function noop(): void {}

/** A promise, or any object with a then() method (what `await` adopts): a handler's result. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * A promise rejected with `error` and already handled once, so that a caller who does not await it
 * gets no unhandled rejection; one who does still sees the error.
 */
export function rejected<T = never>(error: Error): Promise<T> {
  const promise = Promise.reject(error);
  promise.catch(noop);
  return promise;
}

/** The bytes as a Buffer over the same memory: no copy (what the core hands out is one already). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Binary data (a Uint8Array, an ArrayBuffer, any ArrayBuffer view) as a Uint8Array view; null for anything else. */
export function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}
