import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyMask } from '../../src/protocol/mask.js';
import { RFC_MASK, fromHex, hex, patternBytes, utf8 } from './helpers.js';

/** The obvious byte-at-a-time XOR, as RFC 6455 5.3 states it. */
function naiveMask(data: Uint8Array, start: number, end: number, mask: Uint8Array, phase: number): void {
  for (let i = start; i < end; i++) data[i] = data[i]! ^ mask[(i - start + phase) & 3]!;
}

describe('applyMask', () => {
  it('masks "Hello" with the RFC 6455 5.7 key', () => {
    const data = utf8('Hello');
    applyMask(data, 0, data.length, RFC_MASK);
    expect(hex(data)).toBe('7f9f4d5158');
    applyMask(data, 0, data.length, RFC_MASK);
    expect(hex(data)).toBe('48656c6c6f');
  });

  it('touches only data[start..end)', () => {
    const data = new Uint8Array(80);
    applyMask(data, 3, 77, fromHex('ffffffff'));
    expect(hex(data)).toBe('000000' + 'ff'.repeat(74) + '000000');
  });

  it('starts at mask byte `phase` (a payload processed in pieces)', () => {
    const whole = patternBytes(100, 7);
    const pieces = whole.slice();
    const mask = fromHex('01 02 04 08');
    applyMask(whole, 0, 100, mask);
    // Same payload in pieces of 1, 6, 40 and 53 bytes: the phase carries the position.
    let at = 0;
    for (const n of [1, 6, 40, 53]) {
      applyMask(pieces, at, at + n, mask, at);
      at += n;
    }
    expect(hex(pieces)).toBe(hex(whole));
  });

  it('uses only the two low bits of phase', () => {
    const a = patternBytes(64, 1);
    const b = a.slice();
    applyMask(a, 0, 64, RFC_MASK, 1);
    applyMask(b, 0, 64, RFC_MASK, 5);
    expect(hex(a)).toBe(hex(b));
  });

  it('works on an empty range and on the word-path threshold lengths', () => {
    for (const length of [0, 1, 31, 32, 33, 35, 36, 37, 64, 1000]) {
      for (let offset = 0; offset < 4; offset++) {
        const backing = patternBytes(length + 8, length);
        const expected = backing.slice();
        naiveMask(expected, offset, offset + length, RFC_MASK, 0);
        applyMask(backing, offset, offset + length, RFC_MASK);
        expect(hex(backing), `length ${length}, offset ${offset}`).toBe(hex(expected));
      }
    }
  });

  it('works on a Node Buffer from the shared pool (unaligned byteOffset)', () => {
    const a = Buffer.from('x'.repeat(3) + 'y'.repeat(100));
    const view = a.subarray(3);
    const expected = new Uint8Array(view);
    naiveMask(expected, 0, expected.length, RFC_MASK, 2);
    applyMask(view, 0, view.length, RFC_MASK, 2);
    expect(hex(view)).toBe(hex(expected));
    expect(a.subarray(0, 3).toString()).toBe('xxx');
  });

  it('equals the naive XOR for random lengths, offsets, unaligned views and phases (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 7 }), // byteOffset of the view in its ArrayBuffer
        fc.integer({ min: 0, max: 5 }), // start inside the view
        fc.integer({ min: 0, max: 5 }), // slack after the end
        fc.integer({ min: 0, max: 7 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 1000 }),
        (length, byteOffset, start, slack, phase, mask, seed) => {
          const backing = patternBytes(byteOffset + start + length + slack + 3, seed);
          const original = backing.slice();
          const view = backing.subarray(byteOffset, byteOffset + start + length + slack);
          const expectedBacking = backing.slice();
          naiveMask(expectedBacking.subarray(byteOffset), start, start + length, mask, phase);

          applyMask(view, start, start + length, mask, phase);
          expect(hex(backing)).toBe(hex(expectedBacking));

          applyMask(view, start, start + length, mask, phase);
          expect(hex(backing)).toBe(hex(original));
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });
});
