/**
 * The base framing protocol (RFC 6455 5.2): opcodes, the frame header, and the serializer.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-------+-+-------------+-------------------------------+
 *  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 *  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 *  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 *  | |1|2|3|       |K|             |                               |
 *  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 */

import { ProtocolError } from './errors.js';
import { applyMask, packMask } from './mask.js';

export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** RFC 6455 5.5: opcodes with the high bit set are control frames. */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** RFC 6455 5.2: 0x3-0x7 and 0xB-0xF are reserved. */
export function isKnownOpcode(opcode: number): boolean {
  return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xa);
}

/** RFC 6455 5.5: control frame payloads are at most 125 bytes. */
export const MAX_CONTROL_PAYLOAD = 125;

/** 2 bytes, 8 of extended length, 4 of masking key. */
export const MAX_HEADER_SIZE = 14;

/** A parsed frame header. The parser reuses one instance, so it is mutable. */
export interface FrameHeader {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  /** Payload length in bytes (exact up to 2^53, which is far above any limit we accept). */
  length: number;
  /** The masking key packed as by packMask (first byte highest), valid when `masked`. */
  maskKey: number;
}

export function createFrameHeader(): FrameHeader {
  return {
    fin: false,
    rsv1: false,
    rsv2: false,
    rsv3: false,
    opcode: 0,
    masked: false,
    length: 0,
    maskKey: 0,
  };
}

/**
 * How many bytes the header starting at `bytes[offset]` takes, once its first two bytes are known;
 * 0 when fewer than two bytes are available.
 */
export function frameHeaderSize(bytes: Uint8Array, offset: number, end: number): number {
  if (end - offset < 2) return 0;
  const b1 = bytes[offset + 1]!;
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

/**
 * Reads the frame header at `bytes[offset..end)` into `out`. Returns the header's size, or 0 when
 * the header is not complete yet, in which case nothing is consumed and `out` is unspecified.
 * Throws for length encodings RFC 6455 5.2 forbids; every other rule is the parser's to check.
 */
export function readFrameHeader(
  bytes: Uint8Array,
  offset: number,
  end: number,
  out: FrameHeader,
): number {
  const size = frameHeaderSize(bytes, offset, end);
  if (size === 0 || end - offset < size) return 0;
  const b0 = bytes[offset]!;
  const b1 = bytes[offset + 1]!;
  out.fin = (b0 & 0x80) !== 0;
  out.rsv1 = (b0 & 0x40) !== 0;
  out.rsv2 = (b0 & 0x20) !== 0;
  out.rsv3 = (b0 & 0x10) !== 0;
  out.opcode = b0 & 0x0f;
  out.masked = (b1 & 0x80) !== 0;
  let length = b1 & 0x7f;
  let pos = offset + 2;
  if (length === 126) {
    length = (bytes[pos]! << 8) | bytes[pos + 1]!;
    pos += 2;
    // RFC 6455 5.2: "the minimal number of bytes MUST be used to encode the length".
    if (length < 126) throw nonMinimalLength(length);
  } else if (length === 127) {
    const hi =
      ((bytes[pos]! << 24) | (bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!) >>>
      0;
    const lo =
      ((bytes[pos + 4]! << 24) |
        (bytes[pos + 5]! << 16) |
        (bytes[pos + 6]! << 8) |
        bytes[pos + 7]!) >>>
      0;
    pos += 8;
    // RFC 6455 5.2: "the most significant bit MUST be 0".
    if (hi >= 0x80000000) {
      throw new ProtocolError(
        'WS_ERR_INVALID_LENGTH',
        1002,
        '64-bit payload length with the most significant bit set',
      );
    }
    // A length under 2^31 as the small integer `lo` itself: `hi * 2^32 + lo` is a double, even
    // when hi is 0, and a double stored once in the header's `length` makes V8 box that field, and
    // every count derived from it, for good (the 1 MiB echo's unmasking deoptimized on it).
    length = hi === 0 && lo <= 0x7fffffff ? lo : hi * 0x100000000 + lo;
    if (length <= 0xffff) throw nonMinimalLength(length);
  }
  out.length = length;
  if (out.masked) {
    out.maskKey = packMask(bytes, pos);
  }
  return size;
}

function nonMinimalLength(length: number): ProtocolError {
  return new ProtocolError(
    'WS_ERR_INVALID_LENGTH',
    1002,
    `payload length ${length} not encoded in the minimal number of bytes`,
  );
}

/** Size of the header for a payload of `length` bytes. */
export function headerSizeFor(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length <= 0xffff ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Writes a frame header at `target[offset]`, which must have room for headerSizeFor(length,
 * mask !== undefined) bytes. `firstByte` is FIN | RSV1-3 | opcode. Returns the offset after it.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  firstByte: number,
  length: number,
  mask?: Uint8Array,
): number {
  target[offset] = firstByte;
  const maskBit = mask ? 0x80 : 0;
  let pos = offset + 2;
  if (length < 126) {
    target[offset + 1] = maskBit | length;
  } else if (length <= 0xffff) {
    target[offset + 1] = maskBit | 126;
    target[pos] = length >>> 8;
    target[pos + 1] = length & 0xff;
    pos += 2;
  } else {
    target[offset + 1] = maskBit | 127;
    const hi = Math.floor(length / 0x100000000);
    const lo = length >>> 0;
    target[pos] = hi >>> 24;
    target[pos + 1] = (hi >>> 16) & 0xff;
    target[pos + 2] = (hi >>> 8) & 0xff;
    target[pos + 3] = hi & 0xff;
    target[pos + 4] = lo >>> 24;
    target[pos + 5] = (lo >>> 16) & 0xff;
    target[pos + 6] = (lo >>> 8) & 0xff;
    target[pos + 7] = lo & 0xff;
    pos += 8;
  }
  if (mask) {
    target[pos] = mask[0]!;
    target[pos + 1] = mask[1]!;
    target[pos + 2] = mask[2]!;
    target[pos + 3] = mask[3]!;
    pos += 4;
  }
  return pos;
}

/** The first header byte: FIN, RSV1-3 and the opcode. */
export function firstHeaderByte(
  fin: boolean,
  opcode: number,
  rsv1 = false,
  rsv2 = false,
  rsv3 = false,
): number {
  return (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (rsv2 ? 0x20 : 0) | (rsv3 ? 0x10 : 0) | opcode;
}

export interface FrameSpec {
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  opcode: number;
  payload?: Uint8Array;
  /** A 4-byte masking key: the payload is masked with it (client-to-server frames, 5.3). */
  mask?: Uint8Array;
}

/**
 * Serializes any frame, valid or not, into a new buffer; the payload passed in is left as it is.
 * This is the general-purpose serializer (tests, tools, clients); connections use FrameWriter,
 * which batches frames without a buffer per frame.
 */
export function encodeFrame(frame: FrameSpec): Uint8Array {
  const payload = frame.payload ?? new Uint8Array(0);
  const size = headerSizeFor(payload.length, frame.mask !== undefined);
  const out = new Uint8Array(size + payload.length);
  writeFrameHeader(
    out,
    0,
    firstHeaderByte(frame.fin ?? true, frame.opcode, frame.rsv1, frame.rsv2, frame.rsv3),
    payload.length,
    frame.mask,
  );
  out.set(payload, size);
  if (frame.mask) applyMask(out, size, out.length, frame.mask);
  return out;
}
