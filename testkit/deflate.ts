/**
 * permessage-deflate (RFC 7692) on the test's side, with node:zlib: messages compressed the way a
 * sender does it (7.2.1: raw DEFLATE, sync flush, the trailing 00 00 ff ff removed) and inflated
 * the way a receiver does (7.2.2: the 4 octets appended again), from a fresh context or keeping
 * the window between messages (context takeover).
 */

import {
  constants,
  createDeflateRaw,
  createInflateRaw,
  deflateRawSync,
  inflateRawSync,
  type DeflateRaw,
  type InflateRaw,
} from 'node:zlib';

/** The 4 bytes a sender strips from the end of each message (RFC 7692 7.2.1). */
export const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export interface CompressOptions {
  /** Default 15. zlib cannot honour 8 for raw deflate (it would use 9), so 8 is refused. */
  readonly windowBits?: number;
  readonly level?: number;
  readonly memLevel?: number;
}

/** The tail removed from a sync-flushed output; throws if it is not there. */
function stripTail(out: Buffer): Buffer {
  if (!out.subarray(out.length - 4).equals(DEFLATE_TAIL)) throw new Error('a sync flush did not end with 00 00 ff ff');
  return out.subarray(0, out.length - 4);
}

function checkWindowBits(bits: number): number {
  if (!Number.isInteger(bits) || bits < 9 || bits > 15) throw new Error(`unsupported window bits ${bits} (zlib compresses with 9 to 15)`);
  return bits;
}

/**
 * One message compressed from a fresh context, as sent without context takeover: the result can be
 * computed once and sent any number of times.
 */
export function compressMessage(payload: Uint8Array | string, options: CompressOptions = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const zlibOptions: { windowBits: number; finishFlush: number; level?: number; memLevel?: number } = {
    windowBits: checkWindowBits(options.windowBits ?? 15),
    finishFlush: constants.Z_SYNC_FLUSH,
  };
  if (options.level !== undefined) zlibOptions.level = options.level;
  if (options.memLevel !== undefined) zlibOptions.memLevel = options.memLevel;
  return stripTail(deflateRawSync(data, zlibOptions));
}

/** One compressed payload (tail removed) inflated with a fresh context. */
export function inflateMessage(payload: Uint8Array, windowBits = 15): Buffer {
  return inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), { windowBits, finishFlush: constants.Z_SYNC_FLUSH });
}

/**
 * A compression bomb: `mib` MiB of zeros in about 1 KiB a MiB (DEFLATE cannot do better than
 * ~1032:1). Each MiB is full-flushed, so each copy is byte-aligned and needs no earlier history;
 * never BFINAL, and the last sync-flush tail removed.
 */
export function deflateBomb(mib: number): Buffer {
  const unit = deflateRawSync(Buffer.alloc(1024 * 1024), { finishFlush: constants.Z_FULL_FLUSH });
  stripTail(unit);
  return Buffer.concat(Array.from({ length: mib }, () => unit)).subarray(0, -4);
}

/** An inflater that keeps its window from message to message (context takeover). Call in arrival order; close() when done. */
export class MessageInflater {
  private readonly stream: InflateRaw;

  constructor(windowBits = 15) {
    this.stream = createInflateRaw({ windowBits });
  }

  /** The message a compressed payload (RSV1 set, tail removed) carries. */
  inflate(payload: Uint8Array): Promise<Buffer> {
    return syncFlush(this.stream, [payload, DEFLATE_TAIL]);
  }

  close(): void {
    this.stream.close();
  }
}

/** A deflater that keeps its window from message to message (context takeover); close() when done. */
export class MessageDeflater {
  private readonly stream: DeflateRaw;

  constructor(windowBits = 15) {
    this.stream = createDeflateRaw({ windowBits: checkWindowBits(windowBits) });
  }

  /** The next message, compressed with everything before it, tail removed. */
  deflate(data: Uint8Array | string): Promise<Buffer> {
    return syncFlush(this.stream, [typeof data === 'string' ? Buffer.from(data, 'utf8') : data], stripTail);
  }

  close(): void {
    this.stream.close();
  }
}

/**
 * Writes `inputs` to a zlib stream (keeping its context), sync-flushes it and resolves with what
 * came out (passed through `finish`); rejects if the stream fails (invalid data).
 */
export function syncFlush(
  stream: InflateRaw | DeflateRaw,
  inputs: readonly Uint8Array[],
  finish: (out: Buffer) => Buffer = (out) => out,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer): void => void chunks.push(chunk);
    let failed = false;
    const onError = (error: Error): void => {
      failed = true;
      reject(error);
    };
    stream.on('data', onData);
    stream.once('error', onError);
    for (const input of inputs) stream.write(input);
    stream.flush(constants.Z_SYNC_FLUSH, () => {
      stream.off('data', onData);
      stream.off('error', onError);
      if (failed) return;
      try {
        resolve(finish(Buffer.concat(chunks)));
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}
