/**
 * Reading WebSocket frames (RFC 6455 5.2) from a byte stream cut anywhere: chunks of any size in,
 * frames out. It checks nothing beyond the framing itself (any opcode, RSV bits, masked or not), so
 * that tests can see exactly what a peer sent; who reads decides what is wrong.
 *
 * FrameReader is the benchmark generator's parser, so it is built for speed: it keeps no reference
 * to the chunks it is given (a caller may reuse its read buffer), copies a payload only when the
 * subclass asks for it, and copies a header only when a read splits it.
 */

export abstract class FrameReader {
  // The current frame's header, valid from onHeader() to the end of onFrame().
  fin = false;
  /** RSV1-3 as the three bits 0b0RRR. */
  rsv = 0;
  opcode = 0;
  masked = false;
  /** Payload length. */
  length = 0;
  /** The masking key, when `masked`. */
  readonly maskKey = Buffer.alloc(4);

  private remaining = 0;
  private keeping = false;
  private parts: Buffer[] = [];
  // A header split across reads.
  private readonly header = Buffer.alloc(14);
  private headerLength = 0;
  // Where the current header is (for headerBytes(), during onHeader() only).
  private headerSource: Buffer = this.header;
  private headerAt = 0;
  private headerSize = 0;

  /** The current frame's header is in: return true to have its payload kept for onFrame(). */
  protected abstract onHeader(): boolean;

  /** The current frame is complete: `payload` is its payload as sent (still masked), or null if not kept. */
  protected abstract onFrame(payload: Buffer | null): void;

  /** Whether a frame has begun and not ended (its header or its payload incomplete). */
  get inFrame(): boolean {
    return this.remaining > 0 || this.headerLength > 0;
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i);
        // Copied: the caller may reuse `chunk` (the generator reads every socket into one buffer).
        if (this.keeping) this.parts.push(Buffer.from(chunk.subarray(i, i + take)));
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.endFrame();
        continue;
      }
      let source = chunk;
      let at = i;
      const available = n - i;
      if (this.headerLength === 0 && available >= 2) {
        const size = headerSize(chunk[i + 1]!);
        if (available < size) {
          chunk.copy(this.header, 0, i, n);
          this.headerLength = available;
          return;
        }
        i += size;
      } else {
        // Complete a header split across reads.
        const need = (this.headerLength < 2 ? 2 : headerSize(this.header[1]!)) - this.headerLength;
        const take = Math.min(need, available);
        chunk.copy(this.header, this.headerLength, i, i + take);
        this.headerLength += take;
        i += take;
        if (this.headerLength < 2 || this.headerLength < headerSize(this.header[1]!)) continue;
        source = this.header;
        at = 0;
        this.headerLength = 0;
      }
      this.startFrame(source, at);
      if (this.remaining === 0) this.endFrame();
    }
  }

  /** A copy of the current frame's header bytes; only valid within onHeader(). */
  protected headerBytes(): Buffer {
    return Buffer.from(this.headerSource.subarray(this.headerAt, this.headerAt + this.headerSize));
  }

  /** Unmasks `payload` in place with the current frame's key, if it is masked; returns it. */
  protected unmask(payload: Buffer): Buffer {
    if (this.masked) {
      const key = this.maskKey;
      for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
    }
    return payload;
  }

  private startFrame(source: Buffer, at: number): void {
    const b0 = source[at]!;
    const b1 = source[at + 1]!;
    this.fin = (b0 & 0x80) !== 0;
    this.rsv = (b0 >> 4) & 7;
    this.opcode = b0 & 0x0f;
    this.masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let offset = at + 2;
    if (length === 126) {
      length = source.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      length = source.readUInt32BE(offset) * 2 ** 32 + source.readUInt32BE(offset + 4);
      offset += 8;
    }
    if (this.masked) source.copy(this.maskKey, 0, offset, offset + 4);
    this.length = length;
    this.remaining = length;
    this.headerSource = source;
    this.headerAt = at;
    this.headerSize = offset - at + (this.masked ? 4 : 0);
    this.keeping = this.onHeader();
  }

  private endFrame(): void {
    if (!this.keeping) return this.onFrame(null);
    this.keeping = false;
    const parts = this.parts;
    const payload = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.parts = [];
    this.onFrame(payload);
  }
}

/** The size of a frame header from its second byte: 2, extended length 2 or 8, mask 4. */
function headerSize(b1: number): number {
  const length = b1 & 0x7f;
  return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + ((b1 & 0x80) !== 0 ? 4 : 0);
}

export interface Frame {
  readonly fin: boolean;
  /** RSV1-3 as the three bits 0b0RRR. */
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  /** The masking key (4 bytes), empty when unmasked. */
  readonly mask: Buffer;
  /** The payload, unmasked. */
  readonly payload: Buffer;
  /** The whole frame as received, header included (still masked). */
  readonly raw: Buffer;
}

const NO_MASK = Buffer.alloc(0);

/** A FrameReader that hands every frame, whole, to `onFrame`. */
export class FrameCollector extends FrameReader {
  private head: Buffer = NO_MASK;

  constructor(private readonly deliver: (frame: Frame) => void) {
    super();
  }

  protected onHeader(): boolean {
    this.head = this.headerBytes();
    return true;
  }

  protected onFrame(body: Buffer | null): void {
    const raw = Buffer.concat([this.head, body!]);
    const masked = this.masked;
    const payload = masked ? this.unmask(body!) : raw.subarray(this.head.length);
    this.deliver({
      fin: this.fin,
      rsv: this.rsv,
      opcode: this.opcode,
      masked,
      mask: masked ? Buffer.from(this.maskKey) : NO_MASK,
      payload,
      raw,
    });
  }
}

/** The complete frames in `bytes` (captured bytes, say); `complete` is false if they end inside a frame. */
export function readFrames(bytes: Buffer): { frames: Frame[]; complete: boolean } {
  const frames: Frame[] = [];
  const collector = new FrameCollector((frame) => frames.push(frame));
  collector.push(bytes);
  return { frames, complete: !collector.inFrame };
}
