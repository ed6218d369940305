/**
 * Masking large payloads with WebAssembly SIMD: 16 bytes per instruction, where the TypeScript
 * kernel of mask.ts does 4 (about 3 to 4 times its speed on 64 KiB, bench/mask-micro.ts).
 *
 * WebAssembly code sees only its own memory, so a range is copied in, XORed there, and copied out
 * to where it goes: two memcpy and a fast XOR, which costs less than one TypeScript XOR pass. When
 * a payload is assembled from socket chunks, the copy in from the chunk and the copy out into the
 * message buffer are the copy the parser makes anyway (chunk to message), so the XOR comes almost
 * for free. Nothing here is needed: without WebAssembly SIMD (an old engine, a runtime that forbids
 * compiling code) mask.ts keeps its TypeScript kernel.
 *
 * The module is 157 bytes, assembled from its text (WAT) by scripts/mask-wasm.ts; a test checks
 * that these bytes are exactly the script's. The kernel XORs whole blocks of 64 bytes, four 128-bit
 * XORs per iteration:
 *
 *   (func (export "unmask") (param $ptr i32) (param $len i32) (param $key i32)
 *     k = i32x4.splat(key); end = ptr + len
 *     while ptr < end: v128.store(ptr + i, v128.xor(v128.load(ptr + i), k)) for i in 0, 16, 32, 48
 *                      ptr += 64)
 */

const UNMASK_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f,
  0x00, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x02, 0x07, 0x13, 0x02, 0x06, 0x6d, 0x65,
  0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x06, 0x75, 0x6e, 0x6d, 0x61, 0x73, 0x6b, 0x00, 0x00, 0x0a,
  0x6c, 0x01, 0x6a, 0x02, 0x01, 0x7f, 0x01, 0x7b, 0x20, 0x02, 0xfd, 0x11, 0x21, 0x04, 0x20, 0x00,
  0x20, 0x01, 0x6a, 0x21, 0x03, 0x02, 0x40, 0x03, 0x40, 0x20, 0x00, 0x20, 0x03, 0x4f, 0x0d, 0x01,
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x20, 0x04, 0xfd, 0x51, 0xfd, 0x0b, 0x00, 0x00,
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x00, 0x10, 0x20, 0x04, 0xfd, 0x51, 0xfd, 0x0b, 0x00, 0x10,
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x00, 0x20, 0x20, 0x04, 0xfd, 0x51, 0xfd, 0x0b, 0x00, 0x20,
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x00, 0x30, 0x20, 0x04, 0xfd, 0x51, 0xfd, 0x0b, 0x00, 0x30,
  0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x00, 0x0c, 0x00, 0x0b, 0x0b, 0x0b,
]);

/** The bytes above, for the test that compares them with the assembler's. @internal */
export const unmaskWasmBytes = (): Uint8Array => UNMASK_WASM.slice();

// The few WebAssembly declarations used here (the core's lib is ES2022, which has none).
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
};

/** The instantiated kernel: its memory and its function. */
export interface SimdKernel {
  readonly memory: Uint8Array;
  readonly unmask: (ptr: number, length: number, key: number) => void;
}

/**
 * The most bytes copied into the kernel's memory at a time. The memory (2 pages) holds a window
 * at an offset below 16 plus the 63 scratch bytes that rounding up to a block may touch. A
 * multiple of 16, so each window starts where the previous one did, modulo 16 (see maskSimd).
 */
export const SIMD_WINDOW = 64 * 1024;

let kernel: SimdKernel | null | undefined;

/** The kernel, compiled on first use; null where WebAssembly SIMD is not available. */
export function simdKernel(): SimdKernel | null {
  if (kernel === undefined) kernel = instantiate();
  return kernel;
}

function instantiate(): SimdKernel | null {
  try {
    if (typeof WebAssembly !== 'object' || !WebAssembly.validate(UNMASK_WASM)) return null;
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(UNMASK_WASM), {});
    const memory = exports['memory'] as { readonly buffer: ArrayBuffer };
    return { memory: new Uint8Array(memory.buffer), unmask: exports['unmask'] as SimdKernel['unmask'] };
  } catch {
    // A runtime that refuses to compile WebAssembly (a content security policy, --jitless).
    return null;
  }
}

/**
 * Writes `source[start..end)` XORed with the mask to `target[at..)`; `key` is packed as packMask
 * packs it and `phase` is the mask byte that applies to source[start]. Source and target may be
 * the same range (unmasking in place), but must not otherwise overlap.
 */
export function maskSimd(
  simd: SimdKernel,
  source: Uint8Array,
  start: number,
  end: number,
  target: Uint8Array,
  at: number,
  key: number,
  phase: number,
): void {
  const memory = simd.memory;
  // The key rotated to start at mask byte `phase`, then as WebAssembly reads 4 bytes of memory
  // (little-endian, whatever the platform): the first mask byte in the low bits.
  const shift = (phase & 3) << 3;
  const rotated = shift === 0 ? key : (key << shift) | (key >>> (32 - shift));
  const word = ((rotated >>> 24) | ((rotated >>> 8) & 0xff00) | ((rotated & 0xff00) << 8) | (rotated << 24)) | 0;
  // Where the window sits in the kernel's memory: at the target's address modulo 16. memcpy
  // (glibc's, on x86-64 at least) runs 10 times slower when the destination is 1 to 15 bytes past
  // the source modulo 4096; the kernel's memory starts on a page, and so does a large Buffer (plus
  // malloc's 16 bytes), so a window at offset 0 would hit that for every target that is not
  // 16-byte aligned (a 1 MiB payload after its 14-byte header). Unmasking in place, this also
  // aligns the copy in. Windows are multiples of 16, so one offset serves them all.
  const offset = (target.byteOffset + at) & 15;
  const buffer = memory.buffer;
  while (start < end) {
    const length = Math.min(SIMD_WINDOW, end - start);
    memory.set(new Uint8Array(source.buffer, source.byteOffset + start, length), offset);
    simd.unmask(offset, length, word);
    target.set(new Uint8Array(buffer, offset, length), at);
    start += length;
    at += length;
  }
}
