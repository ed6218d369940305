import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UTF8_ACCEPT, UTF8_REJECT, isValidUtf8, validateUtf8, validateUtf8Bulk } from '../../src/protocol/utf8.js';
import { fromHex, hex, unicodeString } from './helpers.js';

function whole(bytes: Uint8Array): number {
  return validateUtf8(bytes, 0, bytes.length, UTF8_ACCEPT);
}

/** Feeds the bytes one at a time, carrying the state; returns the index that rejected, or -1. */
function rejectIndex(bytes: Uint8Array): number {
  let state = UTF8_ACCEPT;
  for (let i = 0; i < bytes.length; i++) {
    state = validateUtf8(bytes, i, i + 1, state);
    if (state === UTF8_REJECT) return i;
  }
  return -1;
}

/** Feeds the bytes in pieces split at `cuts`, carrying the state. */
function validateInPieces(bytes: Uint8Array, cuts: readonly number[]): number {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let state = UTF8_ACCEPT;
  let start = 0;
  for (const p of [...points, bytes.length]) {
    if (p < start) continue;
    state = validateUtf8(bytes, start, p, state);
    if (state === UTF8_REJECT) return state;
    start = p;
  }
  return state;
}

function cp(codePoint: number): Uint8Array {
  return new Uint8Array(Buffer.from(String.fromCodePoint(codePoint), 'utf8'));
}

describe('validateUtf8: accepted code points', () => {
  const boundaries = [
    0x0, 0x1, 0x7f, // 1 byte
    0x80, 0x7ff, // 2 bytes
    0x800, 0xfff, 0x1000, 0xcfff, 0xd000, 0xd7ff, 0xe000, 0xfffd, 0xfffe, 0xffff, // 3 bytes
    0x10000, 0x3ffff, 0x40000, 0xfffff, 0x100000, 0x10fffe, 0x10ffff, // 4 bytes
  ];

  it.each(boundaries.map((c) => [c.toString(16).toUpperCase().padStart(4, '0'), c]))(
    'accepts U+%s whole and byte by byte',
    (_name, c) => {
      const bytes = cp(c as number);
      expect(whole(bytes)).toBe(UTF8_ACCEPT);
      expect(isValidUtf8(bytes)).toBe(true);
      expect(rejectIndex(bytes)).toBe(-1);
    },
  );

  it('encodes the boundaries as expected (sanity of the fixtures)', () => {
    expect(hex(cp(0x7f))).toBe('7f');
    expect(hex(cp(0x80))).toBe('c280');
    expect(hex(cp(0x7ff))).toBe('dfbf');
    expect(hex(cp(0x800))).toBe('e0a080');
    expect(hex(cp(0xd7ff))).toBe('ed9fbf');
    expect(hex(cp(0xe000))).toBe('ee8080');
    expect(hex(cp(0xffff))).toBe('efbfbf');
    expect(hex(cp(0x10000))).toBe('f0908080');
    expect(hex(cp(0x10ffff))).toBe('f48fbfbf');
  });

  it('accepts the empty range and every ASCII byte', () => {
    expect(whole(new Uint8Array(0))).toBe(UTF8_ACCEPT);
    const ascii = Uint8Array.from({ length: 128 }, (_, i) => i);
    expect(whole(ascii)).toBe(UTF8_ACCEPT);
  });

  it('accepts every code point of the BMP outside the surrogates and a sample of the planes above', () => {
    let text = '';
    for (let c = 0; c < 0x10000; c++) if (c < 0xd800 || c > 0xdfff) text += String.fromCharCode(c);
    for (let c = 0x10000; c <= 0x10ffff; c += 0x3ff) text += String.fromCodePoint(c);
    expect(whole(new Uint8Array(Buffer.from(text, 'utf8')))).toBe(UTF8_ACCEPT);
  });

  it('returns a non-accept, non-reject state inside a character, and ACCEPT once it is complete', () => {
    const euro = fromHex('e2 82 ac');
    const s1 = validateUtf8(euro, 0, 1, UTF8_ACCEPT);
    expect(s1).not.toBe(UTF8_ACCEPT);
    expect(s1).not.toBe(UTF8_REJECT);
    const s2 = validateUtf8(euro, 1, 2, s1);
    expect(s2).not.toBe(UTF8_ACCEPT);
    expect(s2).not.toBe(UTF8_REJECT);
    expect(validateUtf8(euro, 2, 3, s2)).toBe(UTF8_ACCEPT);
  });

  it('validates only bytes[start..end)', () => {
    const bytes = fromHex('ff 41 42 ff');
    expect(validateUtf8(bytes, 1, 3, UTF8_ACCEPT)).toBe(UTF8_ACCEPT);
    expect(validateUtf8(bytes, 0, 3, UTF8_ACCEPT)).toBe(UTF8_REJECT);
  });

  it('stays rejected once rejected', () => {
    expect(validateUtf8(fromHex('41'), 0, 1, UTF8_REJECT)).toBe(UTF8_REJECT);
  });
});

describe('validateUtf8: rejected sequences, at the first byte no valid text can continue with', () => {
  // [name, bytes, index of the byte that must be rejected]
  const cases: [string, string, number][] = [
    ['lone continuation 80', '80', 0],
    ['lone continuation BF', 'bf', 0],
    ['continuation after ASCII', '41 80', 1],
    ['overlong 2-byte C0 80 (U+0000)', 'c0 80', 0],
    ['overlong 2-byte C0 AF ("/")', 'c0 af', 0],
    ['overlong 2-byte C1 BF', 'c1 bf', 0],
    ['overlong 3-byte E0 80 80', 'e0 80 80', 1],
    ['overlong 3-byte E0 9F BF (U+07FF)', 'e0 9f bf', 1],
    ['overlong 4-byte F0 80 80 80', 'f0 80 80 80', 1],
    ['overlong 4-byte F0 8F BF BF (U+FFFF)', 'f0 8f bf bf', 1],
    ['surrogate ED A0 80 (U+D800)', 'ed a0 80', 1],
    ['surrogate ED AD BF (U+DB7F)', 'ed ad bf', 1],
    ['surrogate ED B0 80 (U+DC00)', 'ed b0 80', 1],
    ['surrogate ED BF BF (U+DFFF)', 'ed bf bf', 1],
    ['paired surrogates in CESU-8', 'ed a0 80 ed b0 80', 1],
    ['above U+10FFFF: F4 90 80 80', 'f4 90 80 80', 1],
    ['above U+10FFFF: F4 BF BF BF', 'f4 bf bf bf', 1],
    ['2-byte lead then ASCII', 'c2 41', 1],
    ['3-byte lead then ASCII at byte 2', 'e2 82 41', 2],
    ['4-byte lead then ASCII at byte 3', 'f0 90 80 41', 3],
    ['lead then lead', 'e2 e2 82 ac', 1],
    ['invalid after valid text', '48 65 6c 6c 6f ce ba e1 bd b9 ed a0 80', 11],
    ['5-byte form F8 88 80 80 80', 'f8 88 80 80 80', 0],
    ['6-byte form FC 84 80 80 80 80', 'fc 84 80 80 80 80', 0],
  ];
  for (let b = 0xf5; b <= 0xff; b++) cases.push([`byte ${b.toString(16).toUpperCase()}`, b.toString(16), 0]);

  it.each(cases)('rejects %s', (_name, bytesHex, index) => {
    const bytes = fromHex(bytesHex);
    expect(whole(bytes)).toBe(UTF8_REJECT);
    expect(isValidUtf8(bytes)).toBe(false);
    expect(rejectIndex(bytes)).toBe(index);
    expect(isUtf8(bytes)).toBe(false); // Node agrees
  });

  it.each([
    ['c2', 'a 2-byte lead'],
    ['e2 82', 'a 3-byte sequence missing its last byte'],
    ['f0 9f 98', 'a 4-byte sequence missing its last byte'],
    ['41 42 f4', 'a 4-byte lead at the end'],
  ])('does not accept truncated %s (%s): not ACCEPT, and not REJECT yet', (bytesHex) => {
    const state = whole(fromHex(bytesHex));
    expect(state).not.toBe(UTF8_ACCEPT);
    expect(state).not.toBe(UTF8_REJECT);
    expect(isValidUtf8(fromHex(bytesHex))).toBe(false);
  });

  it('agrees with Node on every 1- and 2-byte sequence', () => {
    const two = new Uint8Array(2);
    for (let a = 0; a < 256; a++) {
      expect(isValidUtf8(Uint8Array.of(a))).toBe(isUtf8(Uint8Array.of(a)));
      for (let b = 0; b < 256; b++) {
        two[0] = a;
        two[1] = b;
        if (isValidUtf8(two) !== isUtf8(two)) throw new Error(`disagree on ${hex(two)}`);
      }
    }
  });

  it('agrees with Node on every 3- and 4-byte lead with every second byte and boundary tails', () => {
    const tails = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xff];
    const lastTails = [0x41, 0x80, 0xbf, 0xc0];
    const three = new Uint8Array(3);
    const four = new Uint8Array(4);
    for (let a = 0xe0; a <= 0xff; a++) {
      for (let b = 0; b < 256; b++) {
        for (const c of tails) {
          three[0] = a;
          three[1] = b;
          three[2] = c;
          if (isValidUtf8(three) !== isUtf8(three)) throw new Error(`disagree on ${hex(three)}`);
          for (const d of lastTails) {
            four[0] = a;
            four[1] = b;
            four[2] = c;
            four[3] = d;
            if (isValidUtf8(four) !== isUtf8(four)) throw new Error(`disagree on ${hex(four)}`);
          }
        }
      }
    }
  });
});

describe('validateUtf8 against Node buffer.isUtf8 (property)', () => {
  const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

  it('agrees on random bytes, whole and fed in random pieces', () => {
    // Bias towards bytes that form (or almost form) multi-byte sequences.
    const byte = fc.oneof(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0x80, max: 0xbf }),
      fc.constantFrom(0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0x41),
    );
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 64 }).map((a) => Uint8Array.from(a)), cutsArb, (bytes, cuts) => {
        const expected = isUtf8(bytes);
        expect(whole(bytes) === UTF8_ACCEPT).toBe(expected);
        expect(isValidUtf8(bytes)).toBe(expected);
        expect(validateInPieces(bytes, cuts) === UTF8_ACCEPT).toBe(expected);
      }),
      { seed: 42, numRuns: 1000 },
    );
  });

  it('accepts the UTF-8 of any string, whole and in pieces, and agrees after corrupting one byte', () => {
    fc.assert(
      fc.property(
        unicodeString({ maxLength: 40 }),
        cutsArb,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        (text, cuts, where, value) => {
          const bytes = new Uint8Array(Buffer.from(text, 'utf8'));
          expect(isUtf8(bytes)).toBe(true);
          expect(whole(bytes)).toBe(UTF8_ACCEPT);
          expect(validateInPieces(bytes, cuts)).toBe(UTF8_ACCEPT);
          if (bytes.length > 0) {
            bytes[where % bytes.length] = value;
            const expected = isUtf8(bytes);
            expect(whole(bytes) === UTF8_ACCEPT).toBe(expected);
            expect(validateInPieces(bytes, cuts) === UTF8_ACCEPT).toBe(expected);
          }
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });
});

describe('validateUtf8Bulk: the same states as validateUtf8, range by range', () => {
  // Long texts (the bulk path starts at 64 bytes), mostly valid, with multi-byte characters
  // that the cuts split, and sometimes one corrupted byte.
  const textArb = fc
    .array(fc.constantFrom('a', 'é', '€', '😀', '\u07ff', '\ud7ff', '\u{10ffff}', ' '), { minLength: 0, maxLength: 200 })
    .map((chars) => new Uint8Array(Buffer.from(chars.join(''), 'utf8')));
  const rawArb = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 300 }).map((a) => Uint8Array.from(a));

  it('agrees after every range, on valid text, corrupted text and random bytes, with either whole-buffer check', () => {
    fc.assert(
      fc.property(
        fc.oneof(textArb, rawArb),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))),
        (bytes, cuts, corruption) => {
          if (corruption !== null && bytes.length > 0) bytes[corruption[0] % bytes.length] = corruption[1];
          const points = [...new Set([0, ...cuts.map((c) => c % (bytes.length + 1)), bytes.length])].sort((a, b) => a - b);
          for (const check of [isUtf8, isValidUtf8]) {
            let expected = UTF8_ACCEPT;
            let actual = UTF8_ACCEPT;
            for (let k = 1; k < points.length; k++) {
              expected = validateUtf8(bytes, points[k - 1]!, points[k]!, expected);
              actual = validateUtf8Bulk(bytes, points[k - 1]!, points[k]!, actual, check);
              expect(actual).toBe(expected);
              if (expected === UTF8_REJECT) break;
            }
          }
        },
      ),
      { seed: 7, numRuns: 2000 },
    );
  });

  it('rejects a bad byte in the bulk of a long range, and a character cut off at its end is carried over', () => {
    const text = new Uint8Array(Buffer.from('x'.repeat(100) + '€', 'utf8')); // € = e2 82 ac
    expect(validateUtf8Bulk(text, 0, text.length - 1, UTF8_ACCEPT, isUtf8)).not.toBe(UTF8_ACCEPT);
    const carried = validateUtf8Bulk(text, 0, text.length - 1, UTF8_ACCEPT, isUtf8);
    expect(validateUtf8Bulk(text, text.length - 1, text.length, carried, isUtf8)).toBe(UTF8_ACCEPT);
    const bad = new Uint8Array(200).fill(0x61);
    bad[50] = 0xff;
    expect(validateUtf8Bulk(bad, 0, 200, UTF8_ACCEPT, isUtf8)).toBe(UTF8_REJECT);
  });
});
