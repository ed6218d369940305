/**
 * What the protocol core takes from outside, provided by Node: the SHA-1 for the handshake,
 * allocation as Buffers (so payloads reach the application as Buffers with no conversion), the
 * simdutf-backed UTF-8 check, and Buffer's UTF-8 encoder, which writes straight into the slab.
 */

import { Buffer, isUtf8 } from 'node:buffer';
import * as crypto from 'node:crypto';
import { Slab, type TextEncoding } from '../protocol/writer.js';

// crypto.hash (Node 20.12+) hashes in one call, without a Hash object per handshake; the input
// is the validated Sec-WebSocket-Key plus the GUID, all ASCII, so its UTF-8 bytes are its bytes.
const oneShot = typeof crypto.hash === 'function' ? crypto.hash : null;

export function sha1Base64(input: string): string {
  if (oneShot !== null) return oneShot('sha1', input, 'base64');
  return crypto.createHash('sha1').update(input, 'latin1').digest('base64');
}

export function allocBuffer(size: number): Uint8Array {
  return Buffer.allocUnsafe(size);
}

export function isUtf8Buffer(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}

export const bufferTextEncoding: TextEncoding = {
  byteLength: (text) => Buffer.byteLength(text, 'utf8'),
  // The slab is made of Buffers (see sharedSlab), so Buffer's own encoder can write into it.
  encodeInto: (text, target, offset) => (target as Buffer).write(text, offset, 'utf8'),
};

/** One slab for every connection in the process (see FrameWriter for why sharing is safe). */
export const sharedSlab = new Slab((size) => Buffer.allocUnsafeSlow(size));

// Masking keys for client frames (RFC 6455 5.3: "derived from a strong source of entropy", fresh
// for every frame) come from a pool filled by the CSPRNG 4 KiB at a time, not one system call per
// frame; each key is used once.
const MASK_POOL_SIZE = 4096;
const maskPool = Buffer.allocUnsafe(MASK_POOL_SIZE);
let maskOffset = MASK_POOL_SIZE;

export function randomMask(key: Uint8Array): void {
  if (maskOffset + 4 > MASK_POOL_SIZE) refillPool();
  key[0] = maskPool[maskOffset]!;
  key[1] = maskPool[maskOffset + 1]!;
  key[2] = maskPool[maskOffset + 2]!;
  key[3] = maskPool[maskOffset + 3]!;
  maskOffset += 4;
}

function refillPool(): void {
  crypto.randomFillSync(maskPool);
  maskOffset = 0;
}

/**
 * 16 fresh random bytes for a Sec-WebSocket-Key (RFC 6455 4.1: a randomly selected nonce), from
 * the same CSPRNG pool: one system call per 256 connects, not one each.
 */
export function randomKeyBytes(): Uint8Array {
  if (maskOffset + 16 > MASK_POOL_SIZE) refillPool();
  const bytes = maskPool.subarray(maskOffset, maskOffset + 16);
  maskOffset += 16;
  return bytes;
}
