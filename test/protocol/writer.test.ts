import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Opcode, firstHeaderByte } from '../../src/protocol/frame.js';
import { FrameWriter, Slab, standardTextEncoding, type TextEncoding } from '../../src/protocol/writer.js';
import {
  RFC_MASK,
  binaryEvent,
  concat,
  controlEvent,
  frame,
  fromHex,
  hex,
  makeParser,
  patternBytes,
  textEvent,
  unicodeString,
  utf8,
} from './helpers.js';

const FIN_TEXT = firstHeaderByte(true, Opcode.TEXT);
const FIN_BINARY = firstHeaderByte(true, Opcode.BINARY);
const FIN_PING = firstHeaderByte(true, Opcode.PING);

function output(writer: FrameWriter): Uint8Array {
  return concat(...writer.take());
}

type TextKind = 'ASCII' | 'multi-byte' | 'lone-surrogate';

/** A string whose UTF-8 is exactly `bytes` long: ASCII, mostly multi-byte characters, or mostly lone surrogates. */
function textOfBytes(bytes: number, kind: TextKind | boolean): string {
  if (kind === false || kind === 'ASCII') return 'a'.repeat(bytes);
  const pieces = kind === 'lone-surrogate' ? ['\udfff', '\udc00', 'é'] : ['€', '😀', 'é', 'ü', '中']; // 3, 3, 2 / 3, 4, 2, 2, 3 bytes
  let text = '';
  let size = 0;
  for (let i = 0; ; i++) {
    const piece = pieces[i % pieces.length]!;
    const n = Buffer.byteLength(piece);
    if (size + n > bytes) break;
    text += piece;
    size += n;
  }
  return text + 'z'.repeat(bytes - size);
}

/** Fills mask keys with 37 fa 21 3d (the RFC key), then keys counting up from 01 02 03 04. */
function deterministicMask(): { fill: (key: Uint8Array) => void; calls: () => number } {
  let n = 0;
  return {
    fill(key) {
      if (n === 0) key.set(RFC_MASK);
      else key.set([n, n + 1, n + 2, n + 3]);
      n++;
    },
    calls: () => n,
  };
}

describe('FrameWriter: RFC 6455 5.7 examples', () => {
  it('a single-frame unmasked text message "Hello"', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeTextFrame(FIN_TEXT, 'Hello');
    expect(hex(output(writer))).toBe('810548656c6c6f');
  });

  it('a fragmented unmasked text message "Hel" + "lo", as one contiguous chunk', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeTextFrame(firstHeaderByte(false, Opcode.TEXT), 'Hel');
    writer.writeTextFrame(firstHeaderByte(true, Opcode.CONTINUATION), 'lo');
    const chunks = writer.take();
    expect(chunks.map(hex)).toEqual(['010348656c' + '80026c6f']);
  });

  it('an unmasked ping "Hello" and its pong', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeFrame(FIN_PING, utf8('Hello'));
    writer.writeFrame(firstHeaderByte(true, Opcode.PONG), utf8('Hello'));
    expect(hex(output(writer))).toBe('890548656c6c6f' + '8a0548656c6c6f');
  });

  it('a masked text message "Hello" and a masked pong "Hello" (client role)', () => {
    const writer = new FrameWriter({ slab: new Slab(), randomMask: (key) => key.set(RFC_MASK) });
    writer.writeTextFrame(FIN_TEXT, 'Hello');
    writer.writeFrame(firstHeaderByte(true, Opcode.PONG), utf8('Hello'));
    expect(hex(output(writer))).toBe('818537fa213d7f9f4d5158' + '8a8537fa213d7f9f4d5158');
  });
});

describe('FrameWriter: text frames', () => {
  for (const bytes of [0, 41, 42, 125, 126, 65535, 65536]) {
    for (const kind of ['ASCII', 'multi-byte', 'lone-surrogate'] as const) {
      it(`writes a ${bytes}-byte ${kind} text frame with the right header and payload`, () => {
        const text = textOfBytes(bytes, kind);
        expect(Buffer.byteLength(text)).toBe(bytes);
        const payload = utf8(text);
        if (kind === 'lone-surrogate' && bytes >= 3) expect(hex(payload.subarray(0, 6))).toBe('efbfbdefbfbd'.slice(0, Math.min(bytes, 6) * 2));
        const expectedHeader =
          bytes < 126
            ? `81${bytes.toString(16).padStart(2, '0')}`
            : bytes <= 0xffff
              ? `817e${bytes.toString(16).padStart(4, '0')}`
              : `817f${bytes.toString(16).padStart(16, '0')}`;
        // Default copyThreshold (large text in a buffer of its own) and none (all in the slab).
        for (const copyThreshold of [undefined, Infinity]) {
          const writer = new FrameWriter({ slab: new Slab(), copyThreshold });
          writer.writeTextFrame(FIN_TEXT, text);
          expect(writer.pendingBytes).toBe(expectedHeader.length / 2 + bytes);
          const out = output(writer);
          expect(hex(out.subarray(0, expectedHeader.length / 2))).toBe(expectedHeader);
          expect(Buffer.compare(out, frame({ opcode: 1, payload }))).toBe(0);
          expect(writer.pendingBytes).toBe(0);
        }
      });
    }
  }

  it('writes "Hello" as the RFC 6455 5.7 unmasked frame', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeTextFrame(FIN_TEXT, 'Hello');
    expect(hex(output(writer))).toBe('810548656c6c6f');
  });

  it('writes 41 three-byte characters (123 bytes, the short-text limit) with a 7-bit length', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeTextFrame(FIN_TEXT, '€'.repeat(41));
    expect(hex(output(writer))).toBe('817b' + 'e282ac'.repeat(41));
  });

  it('writes 42 three-byte characters (126 bytes) with a 16-bit length', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeTextFrame(FIN_TEXT, '€'.repeat(42));
    expect(hex(output(writer))).toBe('817e007e' + 'e282ac'.repeat(42));
  });

  it('writes a lone high surrogate as EF BF BD', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeTextFrame(FIN_TEXT, '\ud800');
    expect(hex(output(writer))).toBe('8103efbfbd');
  });

  it('writes lone surrogates in short and long text as EF BF BD, keeping real pairs', () => {
    const short = 'a\udc00b\ud83d\ude00\ud83d';
    const long = 'x'.repeat(60) + '\udfff\ud800' + '😀' + '\ud800';
    for (const text of [short, long]) {
      const writer = new FrameWriter({ slab: new Slab() });
      writer.writeTextFrame(FIN_TEXT, text);
      const expected = frame({ opcode: 1, payload: utf8(text) });
      expect(hex(output(writer))).toBe(hex(expected));
    }
    expect(hex(utf8(short))).toBe('61efbfbd62f09f9880efbfbd');
  });

  it('gives back the slab bytes short text did not use', () => {
    const slab = new Slab();
    const writer = new FrameWriter({ slab });
    writer.writeTextFrame(FIN_TEXT, 'abc');
    expect(slab.position).toBe(5);
    expect(writer.pendingBytes).toBe(5);
    writer.writeTextFrame(FIN_TEXT, 'de');
    expect(slab.position).toBe(9);
    expect(hex(output(writer))).toBe('8103616263' + '81026465');
  });

  it('uses the injected TextEncoding for long text', () => {
    const calls: string[] = [];
    const encoding: TextEncoding = {
      byteLength(text) {
        calls.push('byteLength');
        return standardTextEncoding.byteLength(text);
      },
      encodeInto(text, target, offset) {
        calls.push('encodeInto');
        return standardTextEncoding.encodeInto(text, target, offset);
      },
    };
    const writer = new FrameWriter({ slab: new Slab(), textEncoding: encoding });
    writer.writeTextFrame(FIN_TEXT, 'y'.repeat(50));
    expect(calls).toEqual(['byteLength', 'encodeInto']);
    expect(hex(output(writer))).toBe('8132' + '79'.repeat(50));
  });
});

describe('FrameWriter: binary frames, batching and slabs', () => {
  it('writes binary frames of boundary lengths like the reference builder', () => {
    for (const length of [0, 1, 125, 126, 65535, 65536]) {
      const payload = patternBytes(length, length);
      const writer = new FrameWriter({ slab: new Slab(), copyThreshold: Infinity });
      writer.writeFrame(FIN_BINARY, payload);
      expect(Buffer.compare(output(writer), frame({ opcode: 2, payload })), `length ${length}`).toBe(0);
    }
  });

  it('writes the RFC 6455 5.7 256-byte and 64 KiB binary headers', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeFrame(FIN_BINARY, patternBytes(256));
    writer.writeFrame(FIN_BINARY, patternBytes(65536));
    const out = output(writer);
    expect(hex(out.subarray(0, 4))).toBe('827e0100');
    expect(hex(out.subarray(260, 270))).toBe('827f0000000000010000');
  });

  it('emits consecutive frames of one writer as one contiguous chunk', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeTextFrame(FIN_TEXT, 'Hello');
    writer.writeFrame(FIN_BINARY, Uint8Array.of(1, 2, 3));
    writer.writeFrame(FIN_PING, utf8('p'));
    writer.writeTextFrame(FIN_TEXT, 'z'.repeat(200));
    const chunks = writer.take();
    expect(chunks.length).toBe(1);
    expect(hex(chunks[0]!)).toBe(
      '810548656c6c6f' + '8203010203' + '890170' + '817e00c8' + '7a'.repeat(200),
    );
    expect(writer.take()).toEqual([]);
  });

  it('keeps each writer\'s output correct and ordered when two writers interleave on one slab', () => {
    const slab = new Slab();
    const a = new FrameWriter({ slab });
    const b = new FrameWriter({ slab });
    a.writeTextFrame(FIN_TEXT, 'a1');
    b.writeTextFrame(FIN_TEXT, 'b1');
    a.writeTextFrame(FIN_TEXT, 'a2');
    a.writeTextFrame(FIN_TEXT, 'a3');
    b.writeFrame(FIN_BINARY, Uint8Array.of(0xb2));
    a.writeTextFrame(FIN_TEXT, 'a4');
    const aChunks = a.take();
    const bChunks = b.take();
    expect(aChunks.map(hex)).toEqual(['81026131', '81026132' + '81026133', '81026134']);
    expect(bChunks.map(hex)).toEqual(['81026231', '8201b2']);
  });

  it('moves to a new slab buffer when one is full, without disturbing chunks already handed out', () => {
    const slab = new Slab(undefined, 32);
    const writer = new FrameWriter({ slab });
    writer.writeFrame(FIN_BINARY, patternBytes(20, 1));
    const first = writer.take();
    writer.writeFrame(FIN_BINARY, patternBytes(20, 2)); // does not fit: a new buffer
    writer.writeFrame(FIN_BINARY, patternBytes(100, 3)); // larger than the slab size
    const second = writer.take();
    expect(first.map(hex)).toEqual([hex(frame({ opcode: 2, payload: patternBytes(20, 1) }))]);
    expect(hex(concat(...second))).toBe(
      hex(concat(frame({ opcode: 2, payload: patternBytes(20, 2) }), frame({ opcode: 2, payload: patternBytes(100, 3) }))),
    );
    expect(second.length).toBe(2); // the slab was replaced between the two frames
  });

  it('passes binary payloads of at least copyThreshold bytes by reference', () => {
    const writer = new FrameWriter({ slab: new Slab(), copyThreshold: 100 });
    const big = patternBytes(100, 1);
    const small = patternBytes(99, 2);
    writer.writeTextFrame(FIN_TEXT, 'hi');
    writer.writeFrame(FIN_BINARY, big);
    writer.writeFrame(FIN_BINARY, small);
    expect(writer.pendingBytes).toBe(4 + 2 + 100 + 2 + 99);
    const chunks = writer.take();
    expect(chunks.length).toBe(3);
    expect(hex(chunks[0]!)).toBe('81026869' + '8264');
    expect(chunks[1]).toBe(big); // the same object
    expect(chunks[2]).not.toBe(small);
    expect(hex(chunks[2]!)).toBe(hex(frame({ opcode: 2, payload: small })));
  });

  it('passes a payload of the default copyThreshold (16 KiB) by reference, and copies one byte less', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    const big = patternBytes(16 * 1024, 1);
    writer.writeFrame(FIN_BINARY, big);
    const chunks = writer.take();
    expect(hex(chunks[0]!)).toBe('827e4000');
    expect(chunks[1]).toBe(big);
    const copy = patternBytes(16 * 1024 - 1, 1);
    writer.writeFrame(FIN_BINARY, copy);
    const copied = writer.take();
    expect(copied.length).toBe(1);
    expect(copied[0]).not.toBe(copy);
  });

  it('writes long text of at least copyThreshold bytes into its own buffer, correctly', () => {
    const writer = new FrameWriter({ slab: new Slab(), copyThreshold: 64 });
    const text = textOfBytes(500, true);
    writer.writeTextFrame(FIN_TEXT, text);
    const chunks = writer.take();
    expect(chunks.length).toBe(2);
    expect(hex(concat(...chunks))).toBe(hex(frame({ opcode: 1, payload: utf8(text) })));
  });

  it('keeps every writer correct under random interleavings, small slabs and reference payloads (property)', () => {
    const op = fc.record({
      writer: fc.integer({ min: 0, max: 2 }),
      kind: fc.constantFrom('text', 'binary', 'take'),
      size: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 300 })),
      text: unicodeString({ maxLength: 60 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.integer({ min: 16, max: 512 }), (ops, slabSize) => {
        const slab = new Slab(undefined, slabSize);
        const writers = [0, 1, 2].map(() => new FrameWriter({ slab, copyThreshold: 128 }));
        const expected: Uint8Array[][] = [[], [], []];
        const taken: Uint8Array[][] = [[], [], []];
        ops.forEach((o, i) => {
          const w = writers[o.writer]!;
          if (o.kind === 'take') {
            taken[o.writer]!.push(...w.take());
          } else if (o.kind === 'text') {
            w.writeTextFrame(FIN_TEXT, o.text);
            expected[o.writer]!.push(frame({ opcode: 1, payload: utf8(o.text) }));
          } else {
            const payload = patternBytes(o.size, i);
            w.writeFrame(FIN_BINARY, payload);
            expected[o.writer]!.push(frame({ opcode: 2, payload }));
          }
        });
        // Compared only at the end: chunks handed out early must not have been overwritten.
        writers.forEach((w, n) => {
          taken[n]!.push(...w.take());
          expect(hex(concat(...taken[n]!))).toBe(hex(concat(...expected[n]!)));
        });
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});

describe('FrameWriter: client role (masking)', () => {
  it('masks "Hello" with the injected key: the RFC 6455 5.7 masked frame', () => {
    const mask = deterministicMask();
    const writer = new FrameWriter({ slab: new Slab(), randomMask: mask.fill });
    writer.writeTextFrame(FIN_TEXT, 'Hello');
    expect(hex(output(writer))).toBe('818537fa213d7f9f4d5158');
    expect(mask.calls()).toBe(1);
  });

  it('draws a fresh key for every frame and masks binary, text and ping payloads', () => {
    const mask = deterministicMask();
    const writer = new FrameWriter({ slab: new Slab(), randomMask: mask.fill });
    const bin = patternBytes(300, 1);
    const copyOfBin = bin.slice();
    writer.writeFrame(FIN_BINARY, bin);
    writer.writeTextFrame(FIN_TEXT, 'short €');
    writer.writeTextFrame(FIN_TEXT, 'long '.repeat(20));
    writer.writeFrame(FIN_PING, utf8('ping'));
    expect(mask.calls()).toBe(4);
    expect(hex(output(writer))).toBe(
      hex(
        concat(
          frame({ opcode: 2, payload: bin, mask: RFC_MASK }),
          frame({ opcode: 1, payload: utf8('short €'), mask: fromHex('01020304') }),
          frame({ opcode: 1, payload: utf8('long '.repeat(20)), mask: fromHex('02030405') }),
          frame({ opcode: 9, payload: utf8('ping'), mask: fromHex('03040506') }),
        ),
      ),
    );
    expect(hex(bin)).toBe(hex(copyOfBin)); // the caller's payload is not masked in place
  });

  it('copies and masks payloads above copyThreshold (never by reference when masking)', () => {
    const mask = deterministicMask();
    const writer = new FrameWriter({ slab: new Slab(), randomMask: mask.fill, copyThreshold: 10 });
    const payload = patternBytes(70000, 5);
    writer.writeFrame(FIN_BINARY, payload);
    const text = textOfBytes(20000, true);
    writer.writeTextFrame(FIN_TEXT, text);
    const chunks = writer.take();
    expect(chunks).not.toContain(payload);
    expect(Buffer.compare(concat(...chunks), concat(
      frame({ opcode: 2, payload, mask: RFC_MASK }),
      frame({ opcode: 1, payload: utf8(text), mask: fromHex('01020304') }),
    ))).toBe(0);
  });

  it('produces frames a server-role parser reads back', () => {
    const mask = deterministicMask();
    const writer = new FrameWriter({ slab: new Slab(), randomMask: mask.fill });
    const payload = patternBytes(66000, 3);
    writer.writeTextFrame(FIN_TEXT, 'κόσμε');
    writer.writeFrame(FIN_BINARY, payload);
    writer.writeFrame(FIN_PING, utf8('?'));
    const { parser, handler } = makeParser();
    for (const chunk of writer.take()) parser.push(chunk.slice());
    expect(handler.events).toEqual([textEvent('κόσμε'), binaryEvent(payload), controlEvent(9, utf8('?'))]);
  });
});

describe('standardTextEncoding', () => {
  const unit = fc.oneof(
    unicodeString({ minLength: 1, maxLength: 1 }),
    fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
    fc.integer({ min: 0x80, max: 0x7ff }).map((c) => String.fromCharCode(c)),
  );

  it('byteLength equals Buffer.byteLength for random strings, lone surrogates included (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 80 }), (text) => {
        expect(standardTextEncoding.byteLength(text)).toBe(Buffer.byteLength(text, 'utf8'));
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  it('encodeInto writes what Buffer.from writes and returns the byte count (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 80 }), fc.integer({ min: 0, max: 7 }), (text, offset) => {
        const expected = Buffer.from(text, 'utf8');
        const target = new Uint8Array(offset + text.length * 3 + 1);
        const written = standardTextEncoding.encodeInto(text, target, offset);
        expect(written).toBe(expected.length);
        expect(hex(target.subarray(offset, offset + written))).toBe(expected.toString('hex'));
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('byteLength of edge cases', () => {
    expect(standardTextEncoding.byteLength('')).toBe(0);
    expect(standardTextEncoding.byteLength('\u007f\u0080\u07ff\u0800\uffff')).toBe(1 + 2 + 2 + 3 + 3);
    expect(standardTextEncoding.byteLength('\ud83d\ude00')).toBe(4);
    expect(standardTextEncoding.byteLength('\ud83d')).toBe(3);
    expect(standardTextEncoding.byteLength('\ude00\ud83d')).toBe(6);
    expect(standardTextEncoding.byteLength('\ud83d\ud83d\ude00')).toBe(7);
  });
});
