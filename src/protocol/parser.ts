/**
 * The incremental frame parser: bytes in, messages and control frames out.
 *
 * Bytes may arrive in chunks of any size; a chunk may hold part of a header, many whole frames, or
 * a piece of one large payload, and the result is the same. The common case (whole frames inside one
 * chunk) is handled without copying: the payload is unmasked in place and handed on as a view of the
 * chunk. Only a payload that spans chunks, or a message made of several frames, is copied, once,
 * into a buffer of its final size (grown by doubling while fragments keep coming).
 *
 * Every rule of RFC 6455 section 5 that a receiver can check is enforced here, by throwing a
 * ProtocolError that names the close code. Everything valid that came before the bad byte has
 * already been delivered when the error is thrown, so the application gets it first (Autobahn
 * grades a server that drops it NON-STRICT).
 */

import { CloseCode } from './close.js';
import { ProtocolError } from './errors.js';
import {
  MAX_CONTROL_PAYLOAD,
  MAX_HEADER_SIZE,
  Opcode,
  createFrameHeader,
  frameHeaderSize,
  isControlOpcode,
  isKnownOpcode,
  readFrameHeader,
} from './frame.js';
import { applyMaskKey, copyMaskKey } from './mask.js';
import { UTF8_ACCEPT, UTF8_REJECT, isValidUtf8, validateUtf8Bulk } from './utf8.js';

export interface ParserHandler {
  /**
   * A complete data message. `payload` may be a view of a chunk passed to push(): it belongs to the
   * handler from now on, the parser never touches it again. `compressed` says its first frame had
   * RSV1 set (permessage-deflate, RFC 7692 6): the payload is then still compressed, and text in it
   * has not been checked for UTF-8 (that is for whoever inflates it).
   */
  onMessage(payload: Uint8Array, isText: boolean, compressed: boolean): void;
  /** A complete control frame (close, ping, pong). `payload` is at most 125 bytes. */
  onControlFrame(opcode: number, payload: Uint8Array): void;
}

export interface ParserOptions {
  /** A server receives masked frames only, a client unmasked ones (RFC 6455 5.1). */
  readonly role: 'server' | 'client';
  /** Largest message, all its fragments together, in bytes. Checked before anything is buffered. Default DEFAULT_MAX_PAYLOAD. */
  readonly maxPayload?: number;
  /** Largest number of frames one message may be split into. Default DEFAULT_MAX_FRAGMENTS. */
  readonly maxFragments?: number;
  /** Whether RSV1 may be set on the first frame of a data message (a negotiated extension). */
  readonly allowRsv1?: boolean;
  /** Allocates a buffer whose bytes will all be written before they are read. */
  readonly alloc?: (size: number) => Uint8Array;
  /** A fast whole-buffer UTF-8 check (Node's buffer.isUtf8); the portable one by default. */
  readonly isUtf8?: (bytes: Uint8Array) => boolean;
}

/** The limits a connection gets when its options set none (the Node layer's defaults too). */
export const DEFAULT_MAX_PAYLOAD = 64 * 1024 * 1024;
export const DEFAULT_MAX_FRAGMENTS = 128 * 1024;

// A message that starts fragmented gets a buffer of at least this much, then doubles.
const MIN_MESSAGE_BUFFER = 16 * 1024;

// Parser flags. STOPPED: after a protocol error or a close frame, nothing more is parsed.
const STOPPED = 1;
const IN_PAYLOAD = 2;
const MESSAGE_COMPRESSED = 4;

// frameBits: the header's first byte (FIN, RSV1-3, opcode), and the MASK bit of its second.
const FIN = 0x80;
const RSV1 = 0x40;
const RSV2_RSV3 = 0x30;
const OPCODE = 0x0f;
const MASKED = 0x100;

// Where readFrameHeader writes, copied at once into the parser's own fields (nothing runs in
// between, so parsers can share it).
const scratchHeader = createFrameHeader();

const defaultAlloc = (size: number): Uint8Array => new Uint8Array(size);

function fail(code: ConstructorParameters<typeof ProtocolError>[0], message: string): never {
  throw new ProtocolError(code, CloseCode.PROTOCOL_ERROR, message);
}

export class FrameParser {
  private readonly handler: ParserHandler;
  // Kept, not copied into six fields: the transport passes one object shared by its connections
  // (memory per idle connection). The settings are read through the getters below.
  private readonly options: ParserOptions;

  // The current frame's header, packed: its first byte plus MASKED (bit 8), its payload length
  // and its masking key (as a signed 32-bit integer: a small integer in the field itself, where a
  // key of 2^31 or more would need a heap number). Three fields rather than a header object of
  // eight (88 bytes): heap snapshots, bench/idle-heap.ts (memory per idle connection).
  private frameBits = 0;
  private frameLength = 0;
  private frameMask = 0;
  // A header split across chunks is gathered here first (allocated only then: it is rare, and an
  // idle connection should not carry a buffer).
  private headerBytes: Uint8Array | null = null;
  private headerFill = 0;

  // STOPPED, IN_PAYLOAD and MESSAGE_COMPRESSED: one field for three booleans of 8 bytes each
  // (memory per idle connection).
  private flags = 0;
  // Bytes of the current frame's payload read so far (IN_PAYLOAD: after its header, before its last byte).
  private frameReceived = 0;
  // Where a payload that spans chunks is copied: the message buffer, or a control frame's own.
  private frameTarget: Uint8Array | null = null;
  private frameTargetStart = 0;

  // The data message in progress: opcode 0 when none.
  private messageOpcode = 0;
  // MESSAGE_COMPRESSED: RSV1 on its first frame, so its bytes are not text yet.
  private messageFrames = 0;
  private messageBuffer: Uint8Array | null = null;
  private messageLength = 0;
  private utf8State = UTF8_ACCEPT;

  constructor(handler: ParserHandler, options: ParserOptions) {
    this.handler = handler;
    this.options = options;
  }

  private get expectMasked(): boolean {
    return this.options.role === 'server';
  }

  private get maxPayload(): number {
    return this.options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  }

  private get maxFragments(): number {
    return this.options.maxFragments ?? DEFAULT_MAX_FRAGMENTS;
  }

  private get allowRsv1(): boolean {
    return this.options.allowRsv1 ?? false;
  }

  private get alloc(): (size: number) => Uint8Array {
    return this.options.alloc ?? defaultAlloc;
  }

  private get isUtf8(): (bytes: Uint8Array) => boolean {
    return this.options.isUtf8 ?? isValidUtf8;
  }

  /**
   * Parses `chunk`, calling the handler for each complete message and control frame. The parser
   * takes the chunk over: masked payloads are unmasked in place and may be handed on as views.
   * Throws a ProtocolError at the first rule broken; the parser then ignores all further input.
   */
  push(chunk: Uint8Array): void {
    if ((this.flags & STOPPED) !== 0) return;
    try {
      this.parse(chunk);
    } catch (error) {
      this.stop();
      throw error;
    }
  }

  /** Ignores all further input, even the rest of the chunk being parsed. */
  stop(): void {
    this.flags |= STOPPED;
    this.messageBuffer = null;
    this.frameTarget = null;
  }

  private parse(chunk: Uint8Array): void {
    const end = chunk.length;
    let offset = 0;
    for (;;) {
      if ((this.flags & STOPPED) !== 0) return;
      if ((this.flags & IN_PAYLOAD) === 0) {
        if (offset >= end) return;
        if (this.headerFill === 0) {
          const size = readFrameHeader(chunk, offset, end, scratchHeader);
          if (size === 0) {
            // Fewer bytes than a header: keep them (at most 13) for the next chunk.
            this.headerBytes ??= new Uint8Array(MAX_HEADER_SIZE);
            this.headerBytes.set(chunk.subarray(offset, end));
            this.headerFill = end - offset;
            return;
          }
          this.takeHeader(chunk, offset);
          offset += size;
        } else {
          offset = this.completeHeader(chunk, offset, end);
          if (this.headerFill !== 0) return;
        }
        this.startFrame();
      }

      const length = this.frameLength;
      if (this.frameReceived === 0 && end - offset >= length && this.standsAlone()) {
        // The whole payload is in this chunk, and is a whole message or a control frame: unmask
        // in place, no copy.
        const payloadEnd = offset + length;
        if ((this.frameBits & MASKED) !== 0) applyMaskKey(chunk, offset, payloadEnd, this.frameMask >>> 0, 0);
        this.flags &= ~IN_PAYLOAD;
        const payload = chunk.subarray(offset, payloadEnd);
        offset = payloadEnd;
        this.wholeFrame(payload);
        continue;
      }
      // A fragment of a longer message is copied into the message buffer even when whole (so it
      // is unmasked on the way, one pass), and so is a payload that spans chunks.
      if (offset >= end && length > this.frameReceived) return;
      const take = Math.min(length - this.frameReceived, end - offset);
      this.framePiece(chunk, offset, offset + take);
      offset += take;
    }
  }

  /** Adds bytes to a header that began in an earlier chunk; returns the new offset. */
  private completeHeader(chunk: Uint8Array, offset: number, end: number): number {
    const bytes = this.headerBytes!;
    while (this.headerFill < 2 && offset < end) bytes[this.headerFill++] = chunk[offset++]!;
    if (this.headerFill < 2) return offset;
    const size = frameHeaderSize(bytes, 0, this.headerFill);
    const take = Math.min(size - this.headerFill, end - offset);
    bytes.set(chunk.subarray(offset, offset + take), this.headerFill);
    this.headerFill += take;
    offset += take;
    if (this.headerFill < size) return offset;
    readFrameHeader(bytes, 0, size, scratchHeader);
    this.takeHeader(bytes, 0);
    this.headerFill = 0;
    this.headerBytes = null;
    return offset;
  }

  /** The header just read into scratchHeader, starting at `bytes[offset]`, as the current frame's. */
  private takeHeader(bytes: Uint8Array, offset: number): void {
    this.frameBits = bytes[offset]! | ((bytes[offset + 1]! & 0x80) << 1);
    this.frameLength = scratchHeader.length;
    this.frameMask = scratchHeader.maskKey | 0;
  }

  /** Checks a header against RFC 6455 section 5 before any of its payload is accepted. */
  private startFrame(): void {
    const bits = this.frameBits;
    const opcode = bits & OPCODE;
    const length = this.frameLength;
    const rsv1 = (bits & RSV1) !== 0;
    if (((bits & MASKED) !== 0) !== this.expectMasked) {
      // RFC 6455 5.1: clients MUST mask, servers MUST NOT.
      if (this.expectMasked) fail('WS_ERR_UNMASKED_FRAME', 'client frame is not masked');
      fail('WS_ERR_MASKED_FRAME', 'server frame is masked');
    }
    // RFC 6455 5.2: RSV bits MUST be 0 unless an extension defines them.
    if ((bits & RSV2_RSV3) !== 0) fail('WS_ERR_RESERVED_BITS', 'RSV2 or RSV3 set with no extension');
    if (!isKnownOpcode(opcode)) fail('WS_ERR_RESERVED_OPCODE', `reserved opcode 0x${opcode.toString(16)}`);

    if (isControlOpcode(opcode)) {
      if (rsv1) fail('WS_ERR_RESERVED_BITS', 'RSV1 set on a control frame');
      // RFC 6455 5.5: control frames are at most 125 bytes and MUST NOT be fragmented.
      if (length > MAX_CONTROL_PAYLOAD) {
        fail('WS_ERR_CONTROL_FRAME_TOO_LONG', `control frame of ${length} bytes (at most 125)`);
      }
      if ((bits & FIN) === 0) fail('WS_ERR_FRAGMENTED_CONTROL_FRAME', 'fragmented control frame');
    } else {
      // RFC 6455 5.4: a message is one data frame then continuations, the last one with FIN.
      if (opcode === Opcode.CONTINUATION) {
        if (this.messageOpcode === 0) {
          fail('WS_ERR_UNEXPECTED_CONTINUATION', 'continuation frame with no message started');
        }
        if (rsv1) fail('WS_ERR_RESERVED_BITS', 'RSV1 set on a continuation frame');
      } else {
        if (this.messageOpcode !== 0) {
          fail('WS_ERR_EXPECTED_CONTINUATION', 'new data frame inside a fragmented message');
        }
        if (rsv1 && !this.allowRsv1) fail('WS_ERR_RESERVED_BITS', 'RSV1 set with no extension');
      }
      // Checked against the declared length, before a byte of the payload is buffered.
      if (this.messageLength + length > this.maxPayload) {
        throw new ProtocolError(
          'WS_ERR_MESSAGE_TOO_BIG',
          CloseCode.MESSAGE_TOO_BIG,
          `message exceeds maxPayload (${this.maxPayload} bytes)`,
        );
      }
      if (++this.messageFrames > this.maxFragments) {
        throw new ProtocolError(
          'WS_ERR_TOO_MANY_FRAGMENTS',
          CloseCode.POLICY_VIOLATION,
          `message split into more than ${this.maxFragments} frames`,
        );
      }
      if (opcode !== Opcode.CONTINUATION) {
        this.messageOpcode = opcode;
        if (rsv1) this.flags |= MESSAGE_COMPRESSED;
      }
    }
    this.flags |= IN_PAYLOAD;
    this.frameReceived = 0;
    this.frameTarget = null;
  }

  /** The current frame is a control frame or a whole unfragmented message. */
  private standsAlone(): boolean {
    const bits = this.frameBits;
    return isControlOpcode(bits & OPCODE) || ((bits & FIN) !== 0 && this.messageBuffer === null && this.messageLength === 0);
  }

  /** A control frame or an unfragmented message (standsAlone) whose payload arrived whole, unmasked. */
  private wholeFrame(payload: Uint8Array): void {
    const opcode = this.frameBits & OPCODE;
    if (isControlOpcode(opcode)) {
      this.handler.onControlFrame(opcode, payload);
      return;
    }
    const isText = this.messageOpcode === Opcode.TEXT;
    const compressed = (this.flags & MESSAGE_COMPRESSED) !== 0;
    // The payload itself, no copy.
    if (isText && !compressed && !this.isUtf8(payload)) this.invalidUtf8();
    this.resetMessage();
    this.handler.onMessage(payload, isText, compressed);
  }

  /**
   * A piece of a payload that is not handed on as a view of its chunk (it spans chunks, or is a
   * fragment of a longer message): copied, and unmasked on the way, to where the whole frame will be.
   */
  private framePiece(chunk: Uint8Array, start: number, end: number): void {
    const opcode = this.frameBits & OPCODE;
    const length = this.frameLength;
    let target = this.frameTarget;
    if (target === null) {
      if (isControlOpcode(opcode)) {
        target = this.alloc(length);
        this.frameTargetStart = 0;
      } else {
        target = this.reserve(length);
        this.frameTargetStart = this.messageLength;
      }
      this.frameTarget = target;
    }
    const at = this.frameTargetStart + this.frameReceived;
    const count = end - start;
    if ((this.frameBits & MASKED) !== 0) copyMaskKey(chunk, start, end, target, at, this.frameMask >>> 0, this.frameReceived);
    else target.set(chunk.subarray(start, end), at);
    this.frameReceived += count;
    const isControl = isControlOpcode(opcode);
    // Fail fast: text is validated as it arrives, not when its frame or message ends.
    if (!isControl && this.messageOpcode === Opcode.TEXT && (this.flags & MESSAGE_COMPRESSED) === 0) {
      this.checkUtf8(target, at, at + count);
    }
    if (this.frameReceived < length) return;

    this.flags &= ~IN_PAYLOAD;
    this.frameTarget = null;
    if (isControl) {
      this.handler.onControlFrame(opcode, target);
      return;
    }
    this.messageLength += length;
    if ((this.frameBits & FIN) !== 0) this.endMessage();
  }

  /** Makes room for `extra` more bytes of the current message; returns the message buffer. */
  private reserve(extra: number): Uint8Array {
    const needed = this.messageLength + extra;
    const current = this.messageBuffer;
    if (current !== null && current.length >= needed) return current;
    let capacity: number;
    if (current === null && (this.frameBits & FIN) !== 0) {
      capacity = needed; // the last frame: its size is final
    } else {
      const doubled = Math.max(MIN_MESSAGE_BUFFER, (current?.length ?? 0) * 2);
      capacity = Math.max(needed, Math.min(doubled, this.maxPayload));
    }
    const grown = this.alloc(capacity);
    if (current !== null) grown.set(current.subarray(0, this.messageLength));
    this.messageBuffer = grown;
    return grown;
  }

  private checkUtf8(bytes: Uint8Array, start: number, end: number): void {
    this.utf8State = validateUtf8Bulk(bytes, start, end, this.utf8State, this.isUtf8);
    if (this.utf8State === UTF8_REJECT) this.invalidUtf8();
  }

  private invalidUtf8(): never {
    throw new ProtocolError('WS_ERR_INVALID_UTF8', CloseCode.INVALID_PAYLOAD, 'text is not valid UTF-8');
  }

  private endMessage(): void {
    const isText = this.messageOpcode === Opcode.TEXT;
    const compressed = (this.flags & MESSAGE_COMPRESSED) !== 0;
    // A text message may not end inside a character (RFC 6455 8.1).
    if (isText && !compressed && this.utf8State !== UTF8_ACCEPT) this.invalidUtf8();
    const buffer = this.messageBuffer;
    const payload = buffer === null ? this.alloc(0) : buffer.subarray(0, this.messageLength);
    this.resetMessage();
    this.handler.onMessage(payload, isText, compressed);
  }

  private resetMessage(): void {
    this.messageOpcode = 0;
    this.flags &= ~MESSAGE_COMPRESSED;
    this.messageFrames = 0;
    this.messageBuffer = null;
    this.messageLength = 0;
    this.utf8State = UTF8_ACCEPT;
  }
}
