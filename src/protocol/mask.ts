/**
 * Masking (RFC 6455 5.3): byte i of the payload is XORed with byte (i mod 4) of the masking key.
 * The same operation masks and unmasks.
 *
 * Large ranges go to a WebAssembly SIMD kernel (mask-simd.ts) where the runtime has one. Otherwise,
 * and for short ranges, `ws` without its native addon does this a byte at a time; here the aligned
 * middle of the buffer is XORed a 32-bit word at a time, which V8 compiles to plain integer
 * instructions. Only the few bytes before the first 4-byte boundary and after the last one go
 * byte by byte.
 */

import { type SimdKernel, maskSimd, simdKernel } from './mask-simd.js';

// Below this many bytes a view allocation costs more than it saves.
const WORD_THRESHOLD = 32;

// From this many bytes on, the SIMD kernel (its copies in and out included) beats the TypeScript
// one (bench/mask-micro.ts).
const SIMD_THRESHOLD = 256;

// Which kernel large ranges use: the SIMD one when available (undefined: not looked up yet).
let simd: SimdKernel | null | undefined;

/**
 * @internal Chooses the kernel: 'auto' (SIMD where available, the default) or 'typescript' (for
 * the tests and benchmarks of each). Returns whether SIMD is now in use.
 */
export function setMaskKernel(kind: 'auto' | 'typescript'): boolean {
  simd = kind === 'auto' ? simdKernel() : null;
  return simd !== null;
}

function largeKernel(): SimdKernel | null {
  if (simd === undefined) simd = simdKernel();
  return simd;
}

const maskBytes = new Uint8Array(4);
const maskWordView = new Int32Array(maskBytes.buffer);

/**
 * The 4 bytes of a masking key (at `offset` in `bytes`) as one number, first byte in the high
 * bits (as on the wire).
 */
export function packMask(bytes: Uint8Array, offset = 0): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/**
 * XORs `data[start..end)` in place with `mask`, where `phase` is the index of the mask byte that
 * applies to `data[start]` (non-zero when a payload is processed in pieces).
 */
export function applyMask(
  data: Uint8Array,
  start: number,
  end: number,
  mask: Uint8Array,
  phase = 0,
): void {
  applyMaskKey(data, start, end, packMask(mask), phase);
}

/**
 * applyMask with the key packed by packMask: a connection keeps its peer's key as a number, not as
 * a typed array (a Uint8Array and its ArrayBuffer cost about 200 bytes of heap each).
 */
export function applyMaskKey(data: Uint8Array, start: number, end: number, key: number, phase = 0): void {
  if (end - start >= SIMD_THRESHOLD) {
    const kernel = largeKernel();
    if (kernel !== null) {
      maskSimd(kernel, data, start, end, data, start, key, phase);
      return;
    }
  }
  maskWords(data, start, end, key, phase);
}

/**
 * Writes `source[start..end)` masked to `target[at..)`, in one pass where it can (copy and XOR
 * fused): how a payload that spans socket chunks is unmasked into its message buffer. `source`
 * is left as it was. The two ranges must not overlap.
 */
export function copyMaskKey(
  source: Uint8Array,
  start: number,
  end: number,
  target: Uint8Array,
  at: number,
  key: number,
  phase = 0,
): void {
  if (end - start >= SIMD_THRESHOLD) {
    const kernel = largeKernel();
    if (kernel !== null) {
      maskSimd(kernel, source, start, end, target, at, key, phase);
      return;
    }
  }
  target.set(source.subarray(start, end), at);
  maskWords(target, at, at + end - start, key, phase);
}

/** The TypeScript kernel: applyMaskKey without SIMD. */
function maskWords(data: Uint8Array, start: number, end: number, key: number, phase: number): void {
  let i = start;
  let p = phase & 3;
  if (end - start >= WORD_THRESHOLD) {
    // Head: byte by byte until the absolute address is 4-byte aligned.
    while (((data.byteOffset + i) & 3) !== 0) {
      data[i] = data[i]! ^ maskByte(key, p);
      p = (p + 1) & 3;
      i++;
    }
    const words = (end - i) >>> 2;
    // The key rotated so that its byte p comes first, read back in the platform's byte order:
    // whatever the endianness, word w then covers exactly data[i + 4w .. i + 4w + 4).
    maskBytes[0] = maskByte(key, p);
    maskBytes[1] = maskByte(key, (p + 1) & 3);
    maskBytes[2] = maskByte(key, (p + 2) & 3);
    maskBytes[3] = maskByte(key, (p + 3) & 3);
    const m = maskWordView[0]!;
    // Int32Array, not Uint32Array: its elements are always small integers to V8, never boxed
    // doubles; and 8 words per iteration halve the loop overhead (measured: 3.3 -> 4.5-6.5 GB/s).
    const view = new Int32Array(data.buffer, data.byteOffset + i, words);
    const unrolled = words & ~7;
    let w = 0;
    while (w < unrolled) {
      view[w] = view[w]! ^ m;
      view[w + 1] = view[w + 1]! ^ m;
      view[w + 2] = view[w + 2]! ^ m;
      view[w + 3] = view[w + 3]! ^ m;
      view[w + 4] = view[w + 4]! ^ m;
      view[w + 5] = view[w + 5]! ^ m;
      view[w + 6] = view[w + 6]! ^ m;
      view[w + 7] = view[w + 7]! ^ m;
      w += 8;
    }
    while (w < words) {
      view[w] = view[w]! ^ m;
      w++;
    }
    i += words << 2; // a whole number of words leaves the phase unchanged
  }
  while (i < end) {
    data[i] = data[i]! ^ maskByte(key, p);
    p = (p + 1) & 3;
    i++;
  }
}

/** Byte `index` (0-3) of a packed key. */
function maskByte(key: number, index: number): number {
  return (key >>> (24 - (index << 3))) & 0xff;
}
