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

// Messages up to these sizes are (de)compressed synchronously on the stream's own zlib handle:
// for a few KiB zlib takes tens of microseconds, less than the round trip through libuv's thread
// pool and the stream machinery an async operation costs (bench deflate-4k). Larger ones go to
// the thread pool so that the event loop is not held. Inflation is bounded by the compressed size:
// deflate expands at most 1032:1 (258 bytes per 2-bit length/distance pair), so 8 KiB in holds the
// loop for at most ~8 MiB of output, and maxPayload still stops it earlier.
const SYNC_DEFLATE_MAX = 16 * 1024;
const SYNC_INFLATE_MAX = 8 * 1024;
const OUT_CHUNK = 16 * 1024;

/** The native handle behind a zlib stream: Node's own sync path (processChunkSync) drives it so. */
interface ZlibHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
}

/** The handle and the [availOut, availIn] array it reports into, or null if Node has neither. */
function handleOf(stream: DeflateRaw | InflateRaw): { handle: ZlibHandle; state: Uint32Array } | null {
  const internals = stream as unknown as { _handle?: ZlibHandle | null; _writeState?: Uint32Array };
  const handle = internals._handle;
  const state = internals._writeState;
  if (handle == null || typeof handle.writeSync !== 'function' || !(state instanceof Uint32Array)) return null;
  return { handle, state };
}

// The output buffer of every synchronous call (they never overlap: one runs at a time), copied
// out by what zlib wrote: a fresh 16 KiB buffer per call cost 8% in allocation and 13% in GC.
let scratch: Buffer | null = null;

/**
 * Feeds `input` to the handle with `flush`, handing each piece of output to `onData` (false from
 * it stops). Returns 'ok', 'ended' (the stream ended: input left unconsumed, as Node's stream
 * pushes null then), 'stopped' or 'error' (zlib failed: the stream destroyed itself).
 */
function feedSync(
  stream: DeflateRaw | InflateRaw,
  zlib: { handle: ZlibHandle; state: Uint32Array },
  input: Buffer,
  flush: number,
  onData: (chunk: Buffer) => boolean,
): 'ok' | 'ended' | 'stopped' | 'error' {
  let inOff = 0;
  let inLen = input.length;
  const out = (scratch ??= Buffer.allocUnsafe(OUT_CHUNK));
  for (;;) {
    zlib.handle.writeSync(flush, input, inOff, inLen, out, 0, OUT_CHUNK);
    // zlib errors reach the stream synchronously (it destroys itself; 'error' follows on next tick).
    if (stream.destroyed) return 'error';
    const availOut = zlib.state[0]!;
    const availIn = zlib.state[1]!;
    const have = OUT_CHUNK - availOut;
    if (have > 0) {
      const chunk = Buffer.allocUnsafe(have);
      out.copy(chunk, 0, 0, have);
      if (!onData(chunk)) return 'stopped';
    }
    if (availOut !== 0) return availIn > 0 ? 'ended' : 'ok';
    inOff += inLen - availIn;
    inLen = availIn;
  }
}

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

  /** The connection's own deflater (context takeover), made on first use, reset if a reset is due. */
  private ownDeflater(): DeflateRaw {
    if (this.deflater === null) this.deflater = this.resources.createDeflater(this.agreement.ourMaxWindowBits);
    else if (this.resetPending) this.deflater.reset();
    this.resetPending = false;
    return this.deflater;
  }

  /** Compresses one message; the result has RSV1's meaning (the sync-flush tail removed). */
  compress(data: Buffer, callback: Callback): void {
    if (data.length <= SYNC_DEFLATE_MAX && this.compressSync(data, callback)) return;
    this.resources.limiter.run((release) => {
      if (this.closed) return finish(release, callback, closedError());
      const takeover = !this.agreement.ourNoContextTakeover;
      const pool = takeover ? null : this.resources.deflaterPool(this.agreement.ourMaxWindowBits);
      const stream = pool === null ? this.ownDeflater() : pool.take();
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
    if (data.length <= SYNC_INFLATE_MAX && this.decompressSync(data, isText, maxPayload, callback)) return;
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
          end(tooBig(maxPayload));
          return;
        }
        if (isText) {
          utf8 = validateUtf8Bulk(chunk, 0, chunk.length, utf8, isUtf8);
          if (utf8 === UTF8_REJECT) return end(invalidUtf8());
        }
        chunks.push(chunk);
      };
      const onError = (): void => {
        end(invalidData());
      };
      stream.on('data', onData);
      stream.on('error', onError);
      stream.write(data);
      stream.write(TAIL);
      stream.flush(constants.Z_SYNC_FLUSH, () => end(null));
    });
  }

  /**
   * compress() without the thread pool; calls back before it returns. False (nothing done) where
   * Node exposes no handle to drive. No limiter slot: nothing is held past the call.
   */
  private compressSync(data: Buffer, callback: Callback): boolean {
    if (this.closed) {
      callback(closedError());
      return true;
    }
    const pool = this.agreement.ourNoContextTakeover ? this.resources.deflaterPool(this.agreement.ourMaxWindowBits) : null;
    const stream = pool === null ? this.ownDeflater() : pool.take();
    const zlib = handleOf(stream);
    if (zlib === null) {
      if (pool !== null) pool.give(stream);
      return false;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    // zlib skips a sync flush with no input right after another one (no output at all), but an
    // empty message must still be the empty stored block, 00 once cut (RFC 7692 7.2.3.6): a call
    // without flush first makes the flush count, as the stream's write() before flush() does.
    if (data.length === 0) feedSync(stream, zlib, data, constants.Z_NO_FLUSH, () => true);
    // Z_SYNC_FLUSH: the message ends on a byte boundary with the empty stored block that RFC 7692
    // 7.2.1 has us cut off, and the window is kept for the next message.
    const result = feedSync(stream, zlib, data, constants.Z_SYNC_FLUSH, (chunk) => {
      chunks.push(chunk);
      length += chunk.length;
      return true;
    });
    if (result === 'error') {
      // Deflate fails only on exhausted memory; the stream is then useless.
      stream.on('error', noop);
      if (stream === this.deflater) this.deflater = null;
      stream.close();
      callback(new Error('compression failed'));
      return true;
    }
    if (pool !== null) pool.give(stream);
    let out = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
    if (out.length >= 4 && out.subarray(out.length - 4).equals(TAIL)) out = out.subarray(0, out.length - 4);
    callback(null, out);
    return true;
  }

  /**
   * decompress() without the thread pool; calls back before it returns. The same limits as the
   * async path, checked on each 16 KiB of output: maxPayload (1009) and, for text, UTF-8 (1007).
   */
  private decompressSync(data: Buffer, isText: boolean, maxPayload: number, callback: Callback): boolean {
    if (this.closed) {
      callback(closedError());
      return true;
    }
    const pool = this.agreement.theirNoContextTakeover ? this.resources.inflaterPool(this.agreement.theirMaxWindowBits) : null;
    let stream: InflateRaw;
    if (pool === null) stream = this.inflater ??= this.resources.createInflater(this.agreement.theirMaxWindowBits);
    else stream = pool.take();
    const zlib = handleOf(stream);
    if (zlib === null) {
      if (pool !== null) pool.give(stream);
      return false;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    let utf8 = UTF8_ACCEPT;
    let error: ProtocolError | null = null;
    const onData = (chunk: Buffer): boolean => {
      length += chunk.length;
      if (length > maxPayload) {
        error = tooBig(maxPayload);
        return false;
      }
      if (isText) {
        utf8 = validateUtf8Bulk(chunk, 0, chunk.length, utf8, isUtf8);
        if (utf8 === UTF8_REJECT) {
          error = invalidUtf8();
          return false;
        }
      }
      chunks.push(chunk);
      return true;
    };
    // RFC 7692 7.2.2: the 4 bytes removed by the sender are put back before inflating.
    let result = feedSync(stream, zlib, data, constants.Z_SYNC_FLUSH, onData);
    if (result === 'ok') result = feedSync(stream, zlib, TAIL, constants.Z_SYNC_FLUSH, onData);
    if (result === 'error') error = invalidData();
    if (error !== null) {
      // A stream stopped halfway is not reusable: close it, and a kept context with it.
      stream.on('error', noop);
      stream.close();
      if (stream === this.inflater) this.inflater = null;
      callback(error);
      return true;
    }
    if (result === 'ended') {
      // The peer ended its deflate stream with a final block (BFINAL, RFC 7692 7.2.3.4): zlib will
      // inflate nothing more with it, so it is neither kept nor pooled.
      stream.close();
      if (stream === this.inflater) this.inflater = null;
    } else if (pool !== null) pool.give(stream);
    if (isText && utf8 !== UTF8_ACCEPT) {
      callback(invalidUtf8());
      return true;
    }
    callback(null, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length));
    return true;
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

function tooBig(maxPayload: number): ProtocolError {
  return new ProtocolError(
    'WS_ERR_MESSAGE_TOO_BIG',
    CloseCode.MESSAGE_TOO_BIG,
    `inflated message exceeds maxPayload (${maxPayload} bytes)`,
  );
}

function invalidData(): ProtocolError {
  return new ProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', CloseCode.INVALID_PAYLOAD, 'invalid compressed data');
}

function invalidUtf8(): ProtocolError {
  return new ProtocolError('WS_ERR_INVALID_UTF8', CloseCode.INVALID_PAYLOAD, 'text is not valid UTF-8');
}

function closedError(): Error {
  return new Error('connection closed');
}
