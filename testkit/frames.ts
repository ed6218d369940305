/**
 * Building WebSocket frames byte by byte (RFC 6455 5.2), valid or not, for tests, the benchmark's
 * load generator and the soak script. Written against the RFC directly and sharing nothing with
 * src/: it is the oracle the library's own bytes are compared against.
 */

import { randomBytes } from 'node:crypto';

const EMPTY = new Uint8Array(0);

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

export interface FrameFields {
  readonly opcode: number;
  /** A string is sent as UTF-8. */
  readonly payload?: Uint8Array | string;
  /** Default true. */
  readonly fin?: boolean;
  /** RSV1-3 as the three bits 0b0RRR (RSV1 = 4: permessage-deflate), OR'd with rsv1-rsv3. */
  readonly rsv?: number;
  /** The RSV bits one by one, as src/protocol's FrameSpec names them. */
  readonly rsv1?: boolean;
  readonly rsv2?: boolean;
  readonly rsv3?: boolean;
  /** The 4-byte masking key (client frames, RFC 6455 5.3), 'random' for a fresh one; absent: unmasked. */
  readonly mask?: Uint8Array | 'random';
  /** Forces the length form, for non-minimal encodings (RFC 6455 5.2): 7, 16 or 64 bits; the shortest by default. */
  readonly lengthBits?: 7 | 16 | 64;
  /** The length the header declares, when it must differ from the payload's (header-only frames). */
  readonly declaredLength?: number;
}

// Masks need not be unpredictable here (no proxy caches to poison, RFC 6455 10.3): they come from
// a pool of random bytes, refilled when used up, so that a frame costs no call into OpenSSL.
let maskPool = randomBytes(64 * 1024);
let maskOffset = 0;

/** A fresh random 4-byte masking key (a view into a pool: copy it to keep it). */
export function randomMask(): Buffer {
  if (maskOffset + 4 > maskPool.length) {
    maskPool = randomBytes(maskPool.length);
    maskOffset = 0;
  }
  maskOffset += 4;
  return maskPool.subarray(maskOffset - 4, maskOffset);
}

/**
 * The bytes of one frame: any opcode, FIN and RSV bits, masked or not; the shortest length form
 * (7, 16 or 64 bits, RFC 6455 5.2) for the payload's size unless told otherwise. The payload
 * passed in is not changed.
 */
export function buildFrame(fields: FrameFields): Buffer {
  const payload = fields.payload ?? EMPTY;
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const length = body.length;
  const declared = fields.declaredLength ?? length;
  const key = fields.mask === 'random' ? randomMask() : fields.mask;
  const bits = fields.lengthBits ?? (declared < 126 ? 7 : declared < 65536 ? 16 : 64);
  const header = 2 + (bits === 7 ? 0 : bits === 16 ? 2 : 8) + (key === undefined ? 0 : 4);
  const frame = Buffer.allocUnsafe(header + length);
  const rsv = ((fields.rsv ?? 0) & 7) | (fields.rsv1 === true ? 4 : 0) | (fields.rsv2 === true ? 2 : 0) | (fields.rsv3 === true ? 1 : 0);
  frame[0] = (fields.fin === false ? 0 : 0x80) | (rsv << 4) | (fields.opcode & 0x0f);
  const maskBit = key === undefined ? 0 : 0x80;
  if (bits === 7) frame[1] = maskBit | (declared & 0x7f);
  else if (bits === 16) {
    frame[1] = maskBit | 126;
    frame.writeUInt16BE(declared & 0xffff, 2);
  } else {
    frame[1] = maskBit | 127;
    frame.writeBigUInt64BE(BigInt(declared), 2);
  }
  if (key === undefined) {
    frame.set(body, header);
    return frame;
  }
  if (key.length !== 4) throw new Error(`a masking key is 4 bytes, got ${key.length}`);
  frame.set(key, header - 4);
  for (let i = 0; i < length; i++) frame[header + i] = body[i]! ^ key[i & 3]!;
  return frame;
}


/** A client frame (FIN set, masked with `mask` or a random key); RSV1 with `rsv1`. */
export function maskedFrame(
  opcode: number,
  payload: Uint8Array | string,
  options: { readonly rsv1?: boolean; readonly mask?: Uint8Array } = {},
): Buffer {
  return buildFrame({ opcode, payload, rsv: options.rsv1 === true ? 4 : 0, mask: options.mask ?? 'random' });
}

/** A server frame: unmasked. */
export function unmaskedFrame(opcode: number, payload: Uint8Array | string = EMPTY, fin = true): Buffer {
  return buildFrame({ opcode, payload, fin });
}

/** The payload of a close frame: the code in network byte order, then the UTF-8 reason (RFC 6455 5.5.1). */
export function closePayload(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2, 'utf8');
  return payload;
}

/** A close frame's payload as code and reason (1005 when there is no code, RFC 6455 7.1.5). */
export function parseClose(payload: Buffer): { code: number; reason: string } {
  if (payload.length < 2) return { code: 1005, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}

/** `copies` copies of `frame` back to back, so that n frames go out in one write. */
export function repeatFrame(frame: Buffer, copies: number): Buffer {
  const out = Buffer.allocUnsafe(frame.length * copies);
  for (let i = 0; i < copies; i++) frame.copy(out, i * frame.length);
  return out;
}
