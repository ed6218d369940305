import { afterAll, describe, expect, it } from 'vitest';
import { assemble } from '../../scripts/mask-wasm.js';
import { SIMD_WINDOW, maskSimd, simdKernel, unmaskWasmBytes } from '../../src/protocol/mask-simd.js';
import { applyMaskKey, copyMaskKey, packMask, setMaskKernel } from '../../src/protocol/mask.js';
import { RFC_MASK, fromHex, hex, patternBytes } from './helpers.js';

/** The obvious byte-at-a-time XOR (RFC 6455 5.3), into a fresh array. */
function referenceMask(source: Uint8Array, start: number, end: number, mask: Uint8Array, phase: number): Uint8Array {
  const out = new Uint8Array(end - start);
  for (let i = 0; i < out.length; i++) out[i] = source[start + i]! ^ mask[(i + phase) & 3]!;
  return out;
}

// Keys with and without the high bit (packMask above 2^31), with distinct bytes.
const MASKS = [RFC_MASK, fromHex('fe dc ba 98'), fromHex('01 80 ff 7f')];

const kernel = simdKernel();

afterAll(() => {
  setMaskKernel('auto');
});

describe('the WebAssembly SIMD masking kernel', () => {
  it('is exactly the module that scripts/mask-wasm.ts assembles from its WAT', () => {
    expect(hex(unmaskWasmBytes())).toBe(hex(assemble()));
  });

  it('compiles on every Node.js the package supports (20 and later have WebAssembly SIMD)', () => {
    expect(kernel).not.toBeNull();
    expect(setMaskKernel('auto')).toBe(true);
  });

  it('unmasks in place: every length 0..130 at every offset 0..15 and every phase, nothing else touched', () => {
    for (const mask of MASKS) {
      const key = packMask(mask);
      for (let length = 0; length <= 130; length++) {
        for (let offset = 0; offset < 16; offset++) {
          for (let phase = 0; phase < 4; phase++) {
            const backing = patternBytes(offset + length + 8, length * 16 + offset);
            const view = backing.subarray(3); // a view whose byteOffset is not 0
            const start = offset;
            const expected = backing.slice();
            expected.set(referenceMask(view, start, start + length, mask, phase), 3 + start);
            maskSimd(kernel!, view, start, start + length, view, start, key, phase);
            if (hex(backing) !== hex(expected)) {
              expect(hex(backing), `length ${length}, offset ${offset}, phase ${phase}`).toBe(hex(expected));
            }
          }
        }
      }
    }
  });

  it('copies masked: every length 0..130, every source and target alignment, every phase; the source untouched', () => {
    const mask = fromHex('a1 b2 c3 d4');
    const key = packMask(mask);
    for (let length = 0; length <= 130; length++) {
      for (let from = 0; from < 8; from++) {
        for (let to = 0; to < 8; to++) {
          for (let phase = 0; phase < 4; phase++) {
            const source = patternBytes(from + length + 5, length + 7 * from);
            const original = source.slice();
            const target = new Uint8Array(to + length + 70).fill(0xee); // 63 bytes of scratch past the end untouched
            maskSimd(kernel!, source, from, from + length, target, to, key, phase);
            const expected = new Uint8Array(target.length).fill(0xee);
            expected.set(referenceMask(source, from, from + length, mask, phase), to);
            if (hex(target) !== hex(expected) || hex(source) !== hex(original)) {
              expect(hex(target), `length ${length}, from ${from}, to ${to}, phase ${phase}`).toBe(hex(expected));
              expect(hex(source)).toBe(hex(original));
            }
          }
        }
      }
    }
  });

  it('goes through its memory one window at a time: lengths around the window and several windows', () => {
    const mask = fromHex('5a 0f f0 a5');
    const key = packMask(mask);
    for (const length of [SIMD_WINDOW - 1, SIMD_WINDOW, SIMD_WINDOW + 1, 2 * SIMD_WINDOW + 13, 5 * SIMD_WINDOW + 64]) {
      for (const [from, to, phase] of [
        [0, 0, 0],
        [14, 0, 2],
        [3, 9, 1],
        [1, 15, 3],
      ] as const) {
        const source = patternBytes(from + length, length + from);
        const target = new Uint8Array(to + length + 3);
        maskSimd(kernel!, source, from, from + length, target, to, key, phase);
        const expected = new Uint8Array(target.length);
        expected.set(referenceMask(source, from, from + length, mask, phase), to);
        expect(Buffer.from(target).equals(Buffer.from(expected)), `length ${length}, ${from} -> ${to}, phase ${phase}`).toBe(true);
        // In place, the same bytes.
        const inPlace = source.slice();
        maskSimd(kernel!, inPlace, from, from + length, inPlace, from, key, phase);
        expect(Buffer.from(inPlace.subarray(from)).equals(Buffer.from(expected.subarray(to, to + length)))).toBe(true);
      }
    }
  });
});

describe.each(['auto', 'typescript'] as const)('applyMaskKey and copyMaskKey, %s kernel', (kind) => {
  it('equal the reference XOR around the SIMD threshold and for large ranges, at every alignment', () => {
    setMaskKernel(kind);
    for (const mask of MASKS) {
      const key = packMask(mask);
      for (const length of [0, 1, 31, 32, 200, 254, 255, 256, 257, 258, 300, 4099, SIMD_WINDOW + 5]) {
        for (let offset = 0; offset < 4; offset++) {
          for (const phase of [0, 1, 3]) {
            const source = patternBytes(offset + length + 4, length + offset);
            const expected = referenceMask(source, offset, offset + length, mask, phase);

            const inPlace = source.slice();
            applyMaskKey(inPlace, offset, offset + length, key, phase);
            expect(Buffer.from(inPlace.subarray(offset, offset + length)).equals(expected)).toBe(true);
            expect(hex(inPlace.subarray(0, offset))).toBe(hex(source.subarray(0, offset)));
            expect(hex(inPlace.subarray(offset + length))).toBe(hex(source.subarray(offset + length)));

            const original = source.slice();
            const target = new Uint8Array(length + 7);
            copyMaskKey(source, offset, offset + length, target, 3 - (offset % 3), key, phase);
            const at = 3 - (offset % 3);
            expect(Buffer.from(target.subarray(at, at + length)).equals(expected)).toBe(true);
            expect(hex(target.subarray(0, at))).toBe('00'.repeat(at));
            expect(hex(source)).toBe(hex(original));
          }
        }
      }
    }
  });
});
