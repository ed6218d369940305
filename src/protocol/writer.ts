/**
 * The single writer of a connection: frames go in, byte chunks ready for the socket come out.
 *
 * Why not a buffer per frame: for small messages the cost of a frame is dominated by allocations
 * and socket writes, not by bytes. So frames are encoded straight into a slab shared by every
 * connection in the process (JavaScript runs one connection at a time, and a byte of the slab is
 * not written again while a range handed out holds it: see Slab), and consecutive frames of one
 * connection extend one contiguous range of it. The transport takes all pending ranges once per event-loop turn and writes them in one go.
 * Payloads too large to be worth copying are not copied: they are queued by reference.
 *
 * A frame whose payload is not ready yet (a message still being compressed) can hold its place
 * with reserve(): frames written after it wait behind it, and take() stops there until fill().
 * So the order of frames is fixed when send() or close() is called, wherever the bytes come from
 * later, and the connection can queue its close frame at once behind messages still compressing
 * (RFC 7692 lets compression reorder nothing).
 */

import { applyMask, copyMaskKey, packMask } from './mask.js';
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

/** How many full buffers a Slab keeps track of while ranges of them are out (see Slab). */
const MAX_SET_ASIDE = 4;

/**
 * Memory that frames are encoded into, shared by all the writers that hold it.
 *
 * A range of the buffer, once handed out, is never written again: whoever holds it may still be
 * writing it to a socket. Unless it is given back: the slab counts the ranges of its buffer that
 * writers have opened and not given back (release()), and when the last one comes back, nothing
 * refers to the buffer any more and it is written over from its start; the latest range given
 * back is written over at once (nothing lies above it: a flush's chunks gathered and written
 * leave no trace). A buffer that filled up while ranges of it were out (more frames in one
 * event-loop turn than it holds) is set aside, and kept as the next one once they have all come
 * back. The Node layer's Outbox gives a range back once its bytes were copied, or a socket write
 * took them synchronously (outbox.ts).
 *
 * Issue 15: without that, every 64 KiB of frames was a new buffer, malloc'ed and freed only when a
 * GC collected it; at a chat's rate (100,000 deliveries a second) megabytes of them waited for the
 * GC, and malloc kept the memory once they were freed (a chat server's RSS grew by 9 to 25 KiB
 * per user more than its JavaScript heap). Ranges never given back (a write still in progress, a
 * connection that failed with frames pending, takeOutput()'s callers) only keep their buffer from
 * being reused: it is left to the GC, as every buffer used to be.
 */
export class Slab {
  private readonly alloc: (size: number) => Uint8Array;
  private readonly size: number;
  buffer: Uint8Array;
  position = 0;
  /** Ranges of `buffer` opened (openRange) and not given back (release). */
  private outstanding = 0;
  /** Buffers replaced while ranges of them were out (at most MAX_SET_ASIDE, the oldest dropped), and how many. */
  private setAside: { readonly buffer: Uint8Array; outstanding: number }[] | null = null;
  /** Buffers of `size` bytes whose ranges all came back: the next ones. */
  private spares: Uint8Array[] | null = null;

  constructor(alloc: (size: number) => Uint8Array = (n) => new Uint8Array(n), size = 64 * 1024) {
    this.alloc = alloc;
    this.size = size;
    this.buffer = alloc(size);
  }

  /** Returns the offset of `length` fresh bytes in `this.buffer` (which may be a new buffer). */
  reserve(length: number): number {
    if (this.position + length > this.buffer.length) this.replace(length);
    const offset = this.position;
    this.position += length;
    return offset;
  }

  /** A range of the current buffer starts (a writer's, or a gathered chunk's): counted until release(). */
  openRange(): void {
    this.outstanding++;
  }

  /**
   * Gives back a range handed out (a view of it): nothing will read it any more. A view of other
   * memory, or of a buffer the slab no longer tracks, is ignored. The caller must give each range
   * back at most once, and only once nothing refers to its bytes.
   */
  release(range: Uint8Array): void {
    // Nothing out (a flush of frames by reference only, the common case of a broadcast): not even
    // a look at the range's memory, which is not free (a typed array's buffer getter).
    if (this.outstanding === 0 && this.setAside === null) return;
    const memory = range.buffer;
    const buffer = this.buffer;
    if (memory === buffer.buffer) {
      if (this.outstanding === 0) return;
      if (--this.outstanding === 0) this.position = 0;
      else if (range.byteOffset - buffer.byteOffset + range.length === this.position) {
        // The latest range (a flush's chunks gathered and written at once): nothing lies above
        // it, so the next frames can take its place even while older ranges are out.
        this.position -= range.length;
      }
      return;
    }
    const setAside = this.setAside;
    if (setAside === null) return;
    for (let i = 0; i < setAside.length; i++) {
      const entry = setAside[i]!;
      if (entry.buffer.buffer !== memory) continue;
      if (--entry.outstanding === 0) {
        setAside.splice(i, 1);
        (this.spares ??= []).push(entry.buffer);
      }
      return;
    }
  }

  /** Ranges of the current buffer not given back (tests). */
  get rangesOut(): number {
    return this.outstanding;
  }

  /** The buffer is full for `length` more bytes: the next one, a spare if one fits. */
  private replace(length: number): void {
    const old = this.buffer;
    // Ranges already handed out keep the old buffer alive until the socket is done with them.
    if (this.outstanding > 0 && old.length === this.size) {
      const setAside = (this.setAside ??= []);
      if (setAside.length === MAX_SET_ASIDE) setAside.shift();
      setAside.push({ buffer: old, outstanding: this.outstanding });
    } else if (this.outstanding === 0 && old.length === this.size) {
      // Nothing of it is out (a frame larger than what is left of it): it is kept.
      (this.spares ??= []).push(old);
    }
    const spare = length <= this.size ? this.spares?.pop() : undefined;
    this.buffer = spare ?? this.alloc(Math.max(this.size, length));
    this.position = 0;
    this.outstanding = 0;
  }

  /** A buffer of its own, for a payload too large to share the slab. */
  allocate(length: number): Uint8Array {
    return this.alloc(length);
  }
}

// The slab of writers given none, made on first use: one for all of them, as in the Node layer.
let defaultSlab: Slab | null = null;

/** RFC 6455 5.3: a masking key from a strong source of entropy; WebCrypto's, on every runtime. */
function cryptoRandomMask(key: Uint8Array): void {
  crypto.getRandomValues(key);
}

export interface WriterOptions {
  /** Default: one slab shared by every writer given none. */
  readonly slab?: Slab;
  readonly textEncoding?: TextEncoding;
  /**
   * Fills 4 bytes with a fresh masking key (RFC 6455 5.3). Without the constructor's `masked`,
   * setting it is what makes the writer mask (the client role); masked without it, the writer
   * uses crypto.getRandomValues.
   */
  readonly randomMask?: (key: Uint8Array) => void;
  /** Unmasked payloads of at least this many bytes are queued by reference, not copied. */
  readonly copyThreshold?: number;
}

const FIN = 0x80;
// RSV1-3 (permessage-deflate's RSV1 among them) belong to a message's first frame only (RFC 7692 6.1).
const RSV_BITS = 0x70;

/**
 * Calls `each(firstByte, start, end)` for the frames of a message of `length` bytes split into
 * pieces of at most `fragmentSize` (0: one frame). `firstByte` is the unfragmented frame's.
 */
function forEachFragment(
  firstByte: number,
  length: number,
  fragmentSize: number,
  each: (byte: number, start: number, end: number) => void,
): void {
  if (fragmentSize <= 0 || length <= fragmentSize) {
    each(firstByte, 0, length);
    return;
  }
  for (let start = 0; start < length; start += fragmentSize) {
    const end = Math.min(length, start + fragmentSize);
    const first = start === 0;
    const last = end === length;
    // The first frame keeps the opcode and RSV bits; continuations have opcode 0 (5.4).
    const byte = (first ? firstByte & ~FIN : firstByte & ~(FIN | RSV_BITS | 0x0f)) | (last ? FIN : 0);
    each(byte, start, end);
  }
}

/** The place of a frame whose bytes come later (see FrameWriter.reserve). */
export class ReservedFrame {
  /** The frame's bytes once filled. */
  parts: Uint8Array[] | null = null;
  /** Dropped by dropReserved(): its frame will never be written. */
  dropped = false;
}

type Pending = Uint8Array | ReservedFrame;

export class FrameWriter {
  private readonly slab: Slab;
  private readonly text: TextEncoding;
  private readonly randomMask: ((key: Uint8Array) => void) | undefined;
  // Client role only: servers never mask, and an idle server connection carries no typed array.
  private readonly maskKey: Uint8Array | null;
  private readonly copyThreshold: number;

  // Chunks for the socket, in order, with the places of reserved frames among them; created when
  // the first one is, handed out by take() up to the first reserved frame not filled yet.
  private chunks: Pending[] | null = null;
  /** Reserved frames among `chunks`, and how many of them are not filled yet. */
  private reservations = 0;
  private unfilled = 0;
  /** Frames were dropped since the last takeDropped() (see dropReserved). */
  private dropped = false;
  // The open range of the slab this connection is appending to.
  private rangeBuffer: Uint8Array | null = null;
  private rangeStart = 0;
  private rangeEnd = 0;
  /** Bytes waiting for take(). */
  pendingBytes = 0;
  /** Bytes of the chunks the latest take() handed out. */
  lastTakenBytes = 0;

  /** `masked`: the client role, whose frames are masked (RFC 6455 5.1). */
  constructor(options: WriterOptions, masked = options.randomMask !== undefined) {
    this.slab = options.slab ?? (defaultSlab ??= new Slab());
    this.text = options.textEncoding ?? standardTextEncoding;
    this.randomMask = masked ? (options.randomMask ?? cryptoRandomMask) : undefined;
    this.maskKey = masked ? new Uint8Array(4) : null;
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
    // Masked on its way into the slab (one pass), not copied and then masked there.
    if (masked) copyMaskKey(payload, 0, length, buffer, at + headerSize, packMask(this.maskKey!));
    else buffer.set(payload, at + headerSize);
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

  /**
   * Hands out the pending chunks, in order, up to the first reserved frame that is not filled
   * yet, and forgets them.
   */
  take(): Uint8Array[] {
    this.closeRange();
    const chunks = this.chunks;
    if (chunks === null) {
      this.lastTakenBytes = 0;
      return [];
    }
    if (this.reservations === 0) {
      this.chunks = null;
      this.lastTakenBytes = this.pendingBytes;
      this.pendingBytes = 0;
      return chunks as Uint8Array[];
    }
    const out: Uint8Array[] = [];
    let i = 0;
    for (; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      if (chunk instanceof ReservedFrame) {
        if (chunk.parts === null) break;
        for (const part of chunk.parts) out.push(part);
        this.reservations--;
      } else out.push(chunk);
    }
    if (i === chunks.length) this.chunks = null;
    else chunks.splice(0, i);
    let taken = 0;
    for (const part of out) taken += part.length;
    this.pendingBytes -= taken;
    this.lastTakenBytes = taken;
    return out;
  }

  /**
   * The chunks a take() handed out, `total` bytes, copied into one range of the slab; the chunks
   * are given back (release). Write it, then release() it once the bytes are written.
   */
  gather(chunks: readonly Uint8Array[], total: number): Uint8Array {
    const slab = this.slab;
    const at = slab.reserve(total);
    // Counted before the sources are given back: their last one would otherwise rewind the slab.
    slab.openRange();
    const buffer = slab.buffer;
    let offset = at;
    for (const chunk of chunks) {
      buffer.set(chunk, offset);
      offset += chunk.length;
    }
    for (const chunk of chunks) slab.release(chunk);
    return buffer.subarray(at, at + total);
  }

  /**
   * Gives back chunks a take() (or gather()) handed out, once nothing refers to their bytes any
   * more (written, or copied): their memory can take frames again (see Slab). Chunks that are not
   * ranges of the slab's buffer (payloads by reference, older buffers) are ignored.
   */
  release(chunks: readonly Uint8Array[]): void {
    for (const chunk of chunks) this.slab.release(chunk);
  }

  /** Nothing is waiting: no pending bytes and no reserved frame. */
  get idle(): boolean {
    return this.chunks === null && this.rangeBuffer === null;
  }

  /** Reserved frames whose bytes have not come yet. */
  get reserved(): number {
    return this.unfilled;
  }

  /**
   * Holds the place of a frame whose payload is not ready (being compressed). Frames written
   * afterwards are not handed out before it is filled.
   */
  reserve(): ReservedFrame {
    this.closeRange();
    const frame = new ReservedFrame();
    (this.chunks ??= []).push(frame);
    this.reservations++;
    this.unfilled++;
    return frame;
  }

  /** Gives a reserved frame its bytes. Returns false if it was dropped meanwhile. */
  fill(frame: ReservedFrame, firstByte: number, payload: Uint8Array, fragmentSize = 0): boolean {
    if (frame.dropped || frame.parts !== null) return false;
    const parts: Uint8Array[] = [];
    let bytes = 0;
    forEachFragment(firstByte, payload.length, fragmentSize, (byte, start, end) => {
      const piece = end - start === payload.length ? payload : payload.subarray(start, end);
      const length = piece.length;
      const masked = this.randomMask !== undefined;
      const headerSize = headerSizeFor(length, masked);
      if (masked) {
        const framed = this.slab.allocate(headerSize + length);
        writeFrameHeader(framed, 0, byte, length, this.nextMask());
        copyMaskKey(piece, 0, length, framed, headerSize, packMask(this.maskKey!));
        parts.push(framed);
      } else {
        const header = this.slab.allocate(headerSize);
        writeFrameHeader(header, 0, byte, length);
        parts.push(header, piece);
      }
      bytes += headerSize + length;
    });
    frame.parts = parts;
    this.unfilled--;
    this.pendingBytes += bytes;
    return true;
  }

  /**
   * Queues one message as several frames of at most `fragmentSize` payload bytes (RFC 6455 5.4):
   * the first with the message's opcode (and RSV bits), the others continuations, FIN on the last.
   */
  writeFragmented(firstByte: number, payload: Uint8Array, fragmentSize: number): void {
    forEachFragment(firstByte, payload.length, fragmentSize, (byte, start, end) => {
      this.writeFrame(byte, payload.subarray(start, end));
    });
  }

  /**
   * The connection is failing: drops every reserved frame not filled yet and every frame written
   * after the first of them (a message must not arrive after one sent before it was lost), so
   * that what follows (the close frame) can go out. Returns whether anything was dropped.
   */
  dropReserved(): boolean {
    this.closeRange();
    const chunks = this.chunks;
    if (chunks === null || this.unfilled === 0) return false;
    const first = chunks.findIndex((chunk) => chunk instanceof ReservedFrame && chunk.parts === null);
    for (let i = first; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      if (chunk instanceof ReservedFrame) chunk.dropped = true;
    }
    chunks.length = first;
    this.unfilled = 0;
    this.reservations = 0;
    this.pendingBytes = 0;
    for (const chunk of chunks) {
      if (chunk instanceof ReservedFrame) {
        this.reservations++;
        for (const part of chunk.parts!) this.pendingBytes += part.length;
      } else this.pendingBytes += chunk.length;
    }
    if (chunks.length === 0) this.chunks = null;
    this.dropped = true;
    return true;
  }

  /** Whether frames were dropped since the last call (so their senders must hear of it). */
  takeDropped(): boolean {
    const dropped = this.dropped;
    this.dropped = false;
    return dropped;
  }

  /**
   * Queues bytes that are already a complete frame (built once for many connections, see
   * prepared.ts), by reference. Only for the unmasked (server) role: a masked frame needs its own
   * key.
   *
   * Never copied into the slab (issue 15). Small frames behind others used to join this
   * connection's range, so that a turn's broadcasts left in one chunk; but in a broadcast every
   * connection's frames alternate with the others' in the slab, so they were separate ranges all
   * the same, gathered by the Outbox with a second copy; and a busy chat server's turn copied
   * megabytes there (600 messages for 100 members each), more than the slab could take back
   * before its flush: every 64 KiB a new buffer for the GC. By reference, a frame costs the
   * connection a pointer until its flush gathers it (outbox.ts).
   */
  writeRaw(frame: Uint8Array): void {
    this.closeRange();
    (this.chunks ??= []).push(frame);
    this.pendingBytes += frame.length;
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
      slab.openRange();
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
    const range = buffer.subarray(this.rangeStart, this.rangeEnd);
    if (this.rangeEnd > this.rangeStart) (this.chunks ??= []).push(range);
    else this.slab.release(range); // nothing was handed out
    this.rangeBuffer = null;
  }

  private nextMask(): Uint8Array | undefined {
    const key = this.maskKey;
    if (key === null) return undefined;
    this.randomMask!(key);
    return key;
  }
}
