/**
 * permessage-deflate for one connection (RFC 7692 7.2): compresses outgoing messages and inflates
 * incoming ones with zlib, one operation at a time per direction.
 *
 * Inflation counts its output against maxPayload as zlib produces it (16 KiB at a time) and stops
 * at the limit, so a small message that would inflate to gigabytes costs at most maxPayload. Text
 * is checked for UTF-8 piece by piece as it comes out, so invalid text stops inflation early too.
 */

import { isUtf8 } from 'node:buffer';
import { constants, type DeflateRaw, type InflateRaw } from 'node:zlib';
import { CloseCode } from '../protocol/close.js';
import { ProtocolError } from '../protocol/errors.js';
import type { DeflateAgreement } from '../protocol/permessage-deflate.js';
import { UTF8_ACCEPT, UTF8_REJECT, validateUtf8Bulk } from '../protocol/utf8.js';
import { noop } from './util.js';
import { deflateContextBytes, inflateContextBytes, type ZlibResources } from './zlib-resources.js';

// RFC 7692 7.2.1: a sync flush ends with these 4 bytes; they are removed before sending and put
// back before inflating (7.2.2).
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

type Callback = (error: Error | null, result?: Buffer) => void;

/** The memory a connection's own contexts take under `agreement`, to reserve from the budget. */
export function takeoverBytes(agreement: DeflateAgreement, memLevel: number): number {
  let bytes = 0;
  if (!agreement.ourNoContextTakeover) bytes += deflateContextBytes(agreement.ourMaxWindowBits, memLevel);
  if (!agreement.theirNoContextTakeover) bytes += inflateContextBytes(agreement.theirMaxWindowBits);
  return bytes;
}

export class PerMessageDeflate {
  readonly agreement: DeflateAgreement;
  private readonly resources: ZlibResources;
  private readonly reservedBytes: number;
  // Own streams when the context is kept between messages, created on first use.
  private deflater: DeflateRaw | null = null;
  private inflater: InflateRaw | null = null;
  private closed = false;
  // A frame compressed elsewhere went out: our kept context no longer matches the peer's window.
  private resetPending = false;

  /** `reservedBytes` were taken from the budget for this connection's own contexts. */
  constructor(agreement: DeflateAgreement, resources: ZlibResources, reservedBytes: number) {
    this.agreement = agreement;
    this.resources = resources;
    this.reservedBytes = reservedBytes;
  }

  /** Compresses one message; the result has RSV1's meaning (the sync-flush tail removed). */
  compress(data: Buffer, callback: Callback): void {
    this.resources.limiter.run((release) => {
      if (this.closed) return finish(release, callback, closedError());
      const takeover = !this.agreement.ourNoContextTakeover;
      const pool = takeover ? null : this.resources.deflaterPool(this.agreement.ourMaxWindowBits);
      let stream: DeflateRaw;
      if (pool === null) {
        if (this.deflater === null) this.deflater = this.resources.createDeflater(this.agreement.ourMaxWindowBits);
        else if (this.resetPending) this.deflater.reset();
        this.resetPending = false;
        stream = this.deflater;
      } else stream = pool.take();
      const chunks: Buffer[] = [];
      let length = 0;
      const onData = (chunk: Buffer): void => {
        chunks.push(chunk);
        length += chunk.length;
      };
      let failed = false;
      const onError = (error: Error): void => {
        // Deflate fails only on exhausted memory; the stream is then useless.
        if (failed) return;
        failed = true;
        stream.off('data', onData);
        if (stream === this.deflater) this.deflater = null;
        stream.on('error', noop);
        stream.close();
        finish(release, callback, error);
      };
      stream.on('data', onData);
      stream.once('error', onError);
      stream.write(data);
      stream.flush(constants.Z_SYNC_FLUSH, () => {
        if (failed) return;
        stream.off('data', onData);
        stream.off('error', onError);
        if (pool !== null) pool.give(stream);
        let out = Buffer.concat(chunks, length);
        if (out.length >= 4 && out.subarray(out.length - 4).equals(TAIL)) out = out.subarray(0, out.length - 4);
        finish(release, callback, null, out);
      });
    });
  }

  /**
   * Inflates one message. Fails with 1009 past `maxPayload` bytes of output, with 1007 when the
   * data is not valid deflate or, for text, not valid UTF-8.
   */
  decompress(data: Buffer, isText: boolean, maxPayload: number, callback: Callback): void {
    this.resources.limiter.run((release) => {
      if (this.closed) return finish(release, callback, closedError());
      const takeover = !this.agreement.theirNoContextTakeover;
      const pool = takeover ? null : this.resources.inflaterPool(this.agreement.theirMaxWindowBits);
      let stream: InflateRaw;
      if (pool === null) {
        this.inflater ??= this.resources.createInflater(this.agreement.theirMaxWindowBits);
        stream = this.inflater;
      } else stream = pool.take();

      const chunks: Buffer[] = [];
      let length = 0;
      let utf8 = UTF8_ACCEPT;
      let done = false;
      const end = (error: ProtocolError | null): void => {
        if (done) return;
        done = true;
        stream.off('data', onData);
        stream.off('error', onError);
        if (error !== null) {
          // A stream stopped halfway is not reusable: close it, and a kept context with it. Late
          // errors from the closed stream must not become unhandled 'error' events.
          stream.on('error', noop);
          stream.close();
          if (stream === this.inflater) this.inflater = null;
          return finish(release, callback, error);
        }
        if (stream.readableEnded) {
          // The peer ended its deflate stream with a final block (BFINAL, RFC 7692 7.2.3.4): zlib
          // will inflate nothing more with it, so it is neither kept nor pooled (another
          // connection borrowing it would fail), and the next message gets a fresh one.
          stream.close();
          if (stream === this.inflater) this.inflater = null;
        } else if (pool !== null) pool.give(stream);
        if (isText && utf8 !== UTF8_ACCEPT) return finish(release, callback, invalidUtf8());
        finish(release, callback, null, Buffer.concat(chunks, length));
      };
      const onData = (chunk: Buffer): void => {
        if (done) return;
        length += chunk.length;
        if (length > maxPayload) {
          end(
            new ProtocolError(
              'WS_ERR_MESSAGE_TOO_BIG',
              CloseCode.MESSAGE_TOO_BIG,
              `inflated message exceeds maxPayload (${maxPayload} bytes)`,
            ),
          );
          return;
        }
        if (isText) {
          utf8 = validateUtf8Bulk(chunk, 0, chunk.length, utf8, isUtf8);
          if (utf8 === UTF8_REJECT) return end(invalidUtf8());
        }
        chunks.push(chunk);
      };
      const onError = (): void => {
        end(
          new ProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', CloseCode.INVALID_PAYLOAD, 'invalid compressed data'),
        );
      };
      stream.on('data', onData);
      stream.on('error', onError);
      stream.write(data);
      stream.write(TAIL);
      stream.flush(constants.Z_SYNC_FLUSH, () => end(null));
    });
  }

  /** Whether our compressor keeps its window between messages. */
  get keepsContext(): boolean {
    return !this.agreement.ourNoContextTakeover;
  }

  /**
   * The next message is compressed from an empty window: a frame compressed elsewhere (a
   * broadcast, prepared.ts) went out, which the peer's window holds but our compressor never saw.
   */
  resetContext(): void {
    this.resetPending = true;
  }

  /** Frees the connection's contexts and its share of the budget. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.deflater?.close();
    this.inflater?.close();
    this.deflater = this.inflater = null;
    this.resources.budget.release(this.reservedBytes);
  }
}

function finish(release: () => void, callback: Callback, error: Error | null, result?: Buffer): void {
  release();
  callback(error, result);
}

function invalidUtf8(): ProtocolError {
  return new ProtocolError('WS_ERR_INVALID_UTF8', CloseCode.INVALID_PAYLOAD, 'text is not valid UTF-8');
}

function closedError(): Error {
  return new Error('connection closed');
}
