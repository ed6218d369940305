/**
 * The single writer of a connection: frames go in, byte chunks ready for the socket come out.
 *
 * Why not a buffer per frame: for small messages the cost of a frame is dominated by allocations
 * and socket writes, not by bytes. So frames are encoded straight into a slab shared by every
 * connection in the process (JavaScript runs one connection at a time, and a byte of the slab is
 * never written twice), and consecutive frames of one connection extend one contiguous range of
 * it. The transport takes all pending ranges once per event-loop turn and writes them in one go.
 * Payloads too large to be worth copying are not copied: they are queued by reference.
 */

import { applyMask } from './mask.js';
import { headerSizeFor, writeFrameHeader } from './frame.js';

/** How text is turned into UTF-8 (injectable: Node's Buffer does it faster than TextEncoder). */
export interface TextEncoding {
  byteLength(text: string): number;
  /** Writes the UTF-8 of `text` at `target[offset]`; returns the number of bytes written. */
  encodeInto(text: string, target: Uint8Array, offset: number): number;
}

const textEncoder = new TextEncoder();

/** The portable encoding, from the standard TextEncoder. */
export const standardTextEncoding: TextEncoding = {
  byteLength(text: string): number {
    // Starts at one byte per UTF-16 unit and adds the rest.
    let bytes = text.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x80) continue;
      if (c < 0x800) {
        bytes += 1;
        continue;
      }
      // A surrogate pair is 2 units and 4 bytes; a lone surrogate becomes U+FFFD, 3 bytes.
      bytes += 2;
      if (c >= 0xd800 && c <= 0xdbff) {
        const next = text.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) i++;
      }
    }
    return bytes;
  },
  encodeInto(text: string, target: Uint8Array, offset: number): number {
    return textEncoder.encodeInto(text, target.subarray(offset)).written;
  },
};

/** Memory that frames are encoded into, shared by all the writers that hold it. */
export class Slab {
  private readonly alloc: (size: number) => Uint8Array;
  private readonly size: number;
  buffer: Uint8Array;
  position = 0;

  constructor(alloc: (size: number) => Uint8Array = (n) => new Uint8Array(n), size = 64 * 1024) {
    this.alloc = alloc;
    this.size = size;
    this.buffer = alloc(size);
  }

  /** Returns the offset of `length` fresh bytes in `this.buffer` (which may be a new buffer). */
  reserve(length: number): number {
    if (this.position + length > this.buffer.length) {
      // Ranges already handed out keep the old buffer alive until the socket is done with them.
      this.buffer = this.alloc(Math.max(this.size, length));
      this.position = 0;
    }
    const offset = this.position;
    this.position += length;
    return offset;
  }

  /** A buffer of its own, for a payload too large to share the slab. */
  allocate(length: number): Uint8Array {
    return this.alloc(length);
  }
}

export interface WriterOptions {
  readonly slab: Slab;
  readonly textEncoding?: TextEncoding;
  /** Fills 4 bytes with a fresh masking key; set for the client role only (RFC 6455 5.3). */
  readonly randomMask?: (key: Uint8Array) => void;
  /** Unmasked payloads of at least this many bytes are queued by reference, not copied. */
  readonly copyThreshold?: number;
}

export class FrameWriter {
  private readonly slab: Slab;
  private readonly text: TextEncoding;
  private readonly randomMask: ((key: Uint8Array) => void) | undefined;
  // Client role only: servers never mask, and an idle server connection carries no typed array.
  private readonly maskKey: Uint8Array | null;
  private readonly copyThreshold: number;

  // Chunks ready for the socket; created when the first one is, handed out whole by take().
  private chunks: Uint8Array[] | null = null;
  // The open range of the slab this connection is appending to.
  private rangeBuffer: Uint8Array | null = null;
  private rangeStart = 0;
  private rangeEnd = 0;
  /** Bytes waiting for take(). */
  pendingBytes = 0;

  constructor(options: WriterOptions) {
    this.slab = options.slab;
    this.text = options.textEncoding ?? standardTextEncoding;
    this.randomMask = options.randomMask;
    this.maskKey = options.randomMask === undefined ? null : new Uint8Array(4);
    this.copyThreshold = options.copyThreshold ?? 16 * 1024;
  }

  /** Queues a frame with a binary payload. `firstByte` is FIN | RSV | opcode. */
  writeFrame(firstByte: number, payload: Uint8Array): void {
    const length = payload.length;
    const masked = this.randomMask !== undefined;
    if (!masked && length >= this.copyThreshold) {
      // Large unmasked payload: header in the slab, payload by reference.
      const at = this.append(headerSizeFor(length, false));
      writeFrameHeader(this.slab.buffer, at, firstByte, length);
      this.closeRange();
      (this.chunks ??= []).push(payload);
      this.pendingBytes += length;
      return;
    }
    const headerSize = headerSizeFor(length, masked);
    const at = this.append(headerSize + length);
    const buffer = this.slab.buffer;
    writeFrameHeader(buffer, at, firstByte, length, this.nextMask());
    buffer.set(payload, at + headerSize);
    if (masked) applyMask(buffer, at + headerSize, at + headerSize + length, this.maskKey!);
  }

  /** Queues a frame whose payload is the UTF-8 of `text`, encoded straight into the slab. */
  writeTextFrame(firstByte: number, text: string): void {
    // One UTF-16 unit is at most 3 UTF-8 bytes: short strings need no exact count first.
    const length = text.length <= 41 ? -1 : this.text.byteLength(text);
    if (length >= this.copyThreshold && this.randomMask === undefined) {
      const bytes = this.slab.allocate(length);
      this.text.encodeInto(text, bytes, 0);
      this.writeFrame(firstByte, bytes);
      return;
    }
    const masked = this.randomMask !== undefined;
    const headerSize = length < 0 ? (masked ? 6 : 2) : headerSizeFor(length, masked);
    const at = this.append(headerSize + (length < 0 ? text.length * 3 : length));
    const buffer = this.slab.buffer;
    const written = this.text.encodeInto(text, buffer, at + headerSize);
    if (length < 0) this.shrink(text.length * 3 - written); // give back what short text did not use
    writeFrameHeader(buffer, at, firstByte, written, this.nextMask());
    if (masked) applyMask(buffer, at + headerSize, at + headerSize + written, this.maskKey!);
  }

  /** Hands out every pending chunk, in order, and forgets them. */
  take(): Uint8Array[] {
    this.closeRange();
    const out = this.chunks ?? [];
    this.chunks = null;
    this.pendingBytes = 0;
    return out;
  }

  /** Reserves `length` bytes at the end of this connection's open range of the slab. */
  private append(length: number): number {
    const slab = this.slab;
    const at = slab.reserve(length);
    if (this.rangeBuffer !== slab.buffer || this.rangeEnd !== at) {
      // Another connection wrote in between, or the slab was replaced: start a new range.
      this.closeRange();
      this.rangeBuffer = slab.buffer;
      this.rangeStart = at;
    }
    this.rangeEnd = at + length;
    this.pendingBytes += length;
    return at;
  }

  /** Returns unused bytes at the end of the last append (only valid right after it). */
  private shrink(unused: number): void {
    this.slab.position -= unused;
    this.rangeEnd -= unused;
    this.pendingBytes -= unused;
  }

  private closeRange(): void {
    const buffer = this.rangeBuffer;
    if (buffer === null) return;
    if (this.rangeEnd > this.rangeStart) (this.chunks ??= []).push(buffer.subarray(this.rangeStart, this.rangeEnd));
    this.rangeBuffer = null;
  }

  private nextMask(): Uint8Array | undefined {
    const key = this.maskKey;
    if (key === null) return undefined;
    this.randomMask!(key);
    return key;
  }
}
