import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Opcode, firstHeaderByte } from '../../src/protocol/frame.js';
import { FrameWriter, ReservedFrame, Slab, standardTextEncoding, type TextEncoding } from '../../src/protocol/writer.js';
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


/** Two writers on one slab, their frames interleaved in it: a1, b1, a2 (a's two ranges apart). */
function interleaved(): { slab: Slab; a: FrameWriter; b: FrameWriter } {
  const slab = new Slab();
  const a = new FrameWriter({ slab });
  const b = new FrameWriter({ slab });
  a.writeTextFrame(FIN_TEXT, 'a1');
  b.writeTextFrame(FIN_TEXT, 'b1');
  a.writeTextFrame(FIN_TEXT, 'a2');
  return { slab, a, b };
}

/** A random step of the property tests with three writers: which writer, what, and how large. */
function writerOp<K extends string>(kinds: readonly [K, ...K[]]) {
  return fc.record({
    writer: fc.integer({ min: 0, max: 2 }),
    kind: fc.constantFrom(...kinds),
    size: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 300 })),
    text: unicodeString({ maxLength: 60 }),
  });
}

/** Writes a 'text', 'raw' or (any other kind) binary step to `w`; records the frame it must produce. */
function writeOp(w: FrameWriter, o: { readonly kind: string; readonly size: number; readonly text: string }, i: number, expected: Uint8Array[]): void {
  if (o.kind === 'text') {
    w.writeTextFrame(FIN_TEXT, o.text);
    expected.push(frame({ opcode: 1, payload: utf8(o.text) }));
    return;
  }
  const payload = patternBytes(o.size, i);
  if (o.kind === 'raw') w.writeRaw(frame({ opcode: 2, payload }));
  else w.writeFrame(FIN_BINARY, payload);
  expected.push(frame({ opcode: 2, payload }));
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
    const { a, b } = interleaved();
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
    const op = writerOp(['text', 'binary', 'take'] as const);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.integer({ min: 16, max: 512 }), (ops, slabSize) => {
        const slab = new Slab(undefined, slabSize);
        const writers = [0, 1, 2].map(() => new FrameWriter({ slab, copyThreshold: 128 }));
        const expected: Uint8Array[][] = [[], [], []];
        const taken: Uint8Array[][] = [[], [], []];
        ops.forEach((o, i) => {
          const w = writers[o.writer]!;
          if (o.kind === 'take') taken[o.writer]!.push(...w.take());
          else writeOp(w, o, i, expected[o.writer]!);
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

// ---- Reserved frames (messages still being compressed), raw frames, idle ------------------------

const FIN_TEXT_RSV1 = firstHeaderByte(true, Opcode.TEXT, true);
const FIN_BINARY_RSV1 = firstHeaderByte(true, Opcode.BINARY, true);

describe('FrameWriter: reserved frames', () => {
  it('holds the place of a frame: what is written after it waits until it is filled', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeTextFrame(FIN_TEXT, 'a');
    const reserved = writer.reserve();
    writer.writeTextFrame(FIN_TEXT, 'b');
    expect(writer.reserved).toBe(1);
    expect(writer.pendingBytes).toBe(3 + 3);
    expect(writer.take().map(hex)).toEqual(['810161']);
    expect(writer.pendingBytes).toBe(3);
    expect(writer.take()).toEqual([]);
    expect(writer.idle).toBe(false);

    // RFC 7692 7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00, sent with RSV1.
    expect(writer.fill(reserved, FIN_TEXT_RSV1, fromHex('f248cdc9c90700'))).toBe(true);
    expect(writer.reserved).toBe(0);
    expect(writer.pendingBytes).toBe(3 + 9);
    expect(hex(output(writer))).toBe('c107f248cdc9c90700' + '810162');
    expect(writer.pendingBytes).toBe(0);
    expect(writer.idle).toBe(true);
  });

  it('an unmasked filled frame carries its payload by reference, behind a header of its own', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    const reserved = writer.reserve();
    const payload = patternBytes(300, 7);
    writer.fill(reserved, FIN_BINARY_RSV1, payload);
    const chunks = writer.take();
    expect(chunks.length).toBe(2);
    expect(hex(chunks[0]!)).toBe('c27e012c');
    expect(chunks[1]).toBe(payload);
  });

  it('take() stops at the first frame not filled yet, even when later ones are', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    const first = writer.reserve();
    writer.writeFrame(FIN_BINARY, Uint8Array.of(1));
    const second = writer.reserve();
    writer.writeFrame(FIN_BINARY, Uint8Array.of(2));
    expect(writer.fill(second, FIN_BINARY_RSV1, Uint8Array.of(0xbb))).toBe(true);
    expect(writer.reserved).toBe(1);
    expect(writer.take()).toEqual([]);
    expect(writer.pendingBytes).toBe(3 + 3 + 3);
    expect(writer.fill(first, FIN_BINARY_RSV1, Uint8Array.of(0xaa))).toBe(true);
    expect(hex(output(writer))).toBe('c201aa' + '820101' + 'c201bb' + '820102');
    expect(writer.idle).toBe(true);
  });

  it('fill() refuses a frame already filled, and keeps the first bytes', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    const reserved = writer.reserve();
    expect(writer.fill(reserved, FIN_BINARY_RSV1, Uint8Array.of(1))).toBe(true);
    expect(writer.fill(reserved, FIN_BINARY_RSV1, Uint8Array.of(2, 3))).toBe(false);
    expect(writer.pendingBytes).toBe(3);
    expect(hex(output(writer))).toBe('c20101');
    // Taken already: still refused, nothing more is written.
    expect(writer.fill(reserved, FIN_BINARY_RSV1, Uint8Array.of(4))).toBe(false);
    expect(writer.take()).toEqual([]);
  });

  it('fills an empty payload and payloads at the 7/16/64-bit length boundaries', () => {
    for (const length of [0, 125, 126, 65535, 65536]) {
      const writer = new FrameWriter({ slab: new Slab() });
      const payload = patternBytes(length, length);
      writer.fill(writer.reserve(), FIN_BINARY_RSV1, payload);
      expect(writer.pendingBytes).toBe(length + (length < 126 ? 2 : length < 65536 ? 4 : 10));
      expect(Buffer.compare(output(writer), frame({ opcode: 2, rsv1: true, payload })), `length ${length}`).toBe(0);
    }
  });

  it('masks a filled frame with a key drawn when it is filled (client role), leaving the payload intact', () => {
    const mask = deterministicMask();
    const writer = new FrameWriter({ slab: new Slab(), randomMask: mask.fill });
    writer.writeTextFrame(FIN_TEXT, 'a'); // key 0
    const reserved = writer.reserve(); // draws no key
    writer.writeTextFrame(FIN_TEXT, 'b'); // key 1
    expect(mask.calls()).toBe(2);
    const payload = fromHex('f248cdc9c90700');
    expect(writer.fill(reserved, FIN_TEXT_RSV1, payload)).toBe(true); // key 2
    expect(mask.calls()).toBe(3);
    expect(hex(payload)).toBe('f248cdc9c90700');
    expect(writer.pendingBytes).toBe(7 + 13 + 7);
    expect(hex(output(writer))).toBe(
      hex(
        concat(
          frame({ opcode: 1, payload: utf8('a'), mask: RFC_MASK }),
          frame({ opcode: 1, rsv1: true, payload, mask: fromHex('02030405') }),
          frame({ opcode: 1, payload: utf8('b'), mask: fromHex('01020304') }),
        ),
      ),
    );
  });

  it('produces masked frames, filled ones included, that a server-role parser reads back in order', () => {
    const mask = deterministicMask();
    const writer = new FrameWriter({ slab: new Slab(), randomMask: mask.fill });
    const reserved = writer.reserve();
    writer.writeFrame(FIN_PING, utf8('p'));
    writer.fill(reserved, FIN_BINARY, patternBytes(70000, 1));
    const { parser, handler } = makeParser();
    for (const chunk of writer.take()) parser.push(chunk.slice());
    expect(handler.events).toEqual([binaryEvent(patternBytes(70000, 1)), controlEvent(9, utf8('p'))]);
  });
});

describe('FrameWriter: dropReserved and takeDropped', () => {
  it('drops every unfilled frame and everything written after the first of them, keeping what came before', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeTextFrame(FIN_TEXT, 'a');
    const filled = writer.reserve();
    const lost = writer.reserve();
    writer.writeTextFrame(FIN_TEXT, 'b');
    const lostFilled = writer.reserve();
    const lostToo = writer.reserve();
    writer.writeTextFrame(FIN_TEXT, 'c');
    writer.fill(filled, FIN_BINARY_RSV1, Uint8Array.of(0xf1));
    writer.fill(lostFilled, FIN_BINARY_RSV1, Uint8Array.of(0xf2));
    expect(writer.reserved).toBe(2);

    expect(writer.dropReserved()).toBe(true);
    expect(writer.reserved).toBe(0);
    expect([filled.dropped, lost.dropped, lostFilled.dropped, lostToo.dropped]).toEqual([false, true, true, true]);
    expect(writer.pendingBytes).toBe(3 + 3);
    expect(writer.fill(lost, FIN_BINARY_RSV1, Uint8Array.of(1))).toBe(false);
    expect(writer.fill(lostToo, FIN_BINARY_RSV1, Uint8Array.of(1))).toBe(false);
    expect(writer.pendingBytes).toBe(6);

    // What follows the drop (the close frame of a failing connection) goes out at once.
    writer.writeFrame(firstHeaderByte(true, Opcode.CLOSE), fromHex('03f3'));
    expect(hex(output(writer))).toBe('810161' + 'c201f1' + '880203f3');
    expect(writer.idle).toBe(true);
    expect(writer.takeDropped()).toBe(true);
    expect(writer.takeDropped()).toBe(false);
  });

  it('drops the open slab range and frames by reference written after the reserved frame', () => {
    const writer = new FrameWriter({ slab: new Slab(), copyThreshold: 100 });
    writer.reserve();
    writer.writeFrame(FIN_BINARY, patternBytes(100, 1)); // by reference
    writer.writeRaw(fromHex('810178'));
    writer.writeTextFrame(FIN_TEXT, 'in the open range');
    expect(writer.dropReserved()).toBe(true);
    expect(writer.pendingBytes).toBe(0);
    expect(writer.idle).toBe(true);
    expect(writer.take()).toEqual([]);
  });

  it('drops nothing, and reports nothing dropped, when no frame is waiting to be filled', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    expect(writer.dropReserved()).toBe(false);
    writer.writeTextFrame(FIN_TEXT, 'a');
    const reserved = writer.reserve();
    writer.writeTextFrame(FIN_TEXT, 'b');
    writer.fill(reserved, FIN_BINARY_RSV1, Uint8Array.of(0xf1));
    expect(writer.dropReserved()).toBe(false);
    expect(reserved.dropped).toBe(false);
    expect(writer.takeDropped()).toBe(false);
    expect(writer.pendingBytes).toBe(9);
    expect(hex(output(writer))).toBe('810161' + 'c201f1' + '810162');
  });

  it('keeps reserved frames filled before the first unfilled one through a drop, and hands them out', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    const first = writer.reserve();
    writer.fill(first, FIN_BINARY_RSV1, Uint8Array.of(1));
    const second = writer.reserve();
    writer.writeFrame(FIN_BINARY, Uint8Array.of(2));
    expect(writer.dropReserved()).toBe(true);
    expect(second.dropped).toBe(true);
    // The kept filled frame is still counted as reserved-in-queue: take() must pass it and end empty.
    expect(hex(output(writer))).toBe('c20101');
    expect(writer.idle).toBe(true);
    writer.writeFrame(FIN_BINARY, Uint8Array.of(3));
    expect(hex(output(writer))).toBe('820103');
  });
});

describe('FrameWriter: writeRaw and idle', () => {
  it('writeRaw queues a complete frame by reference, in order between slab frames (issue 15: never copied)', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    const raw = fromHex('810548656c6c6f');
    writer.writeTextFrame(FIN_TEXT, 'a');
    writer.writeRaw(raw);
    writer.writeTextFrame(FIN_TEXT, 'b');
    expect(writer.pendingBytes).toBe(3 + 7 + 3);
    const chunks = writer.take();
    expect(chunks.map(hex)).toEqual(['810161', '810548656c6c6f', '810162']);
    expect(chunks[1]).toBe(raw);
    expect(writer.lastTakenBytes).toBe(13);
    expect(writer.pendingBytes).toBe(0);
  });

  it('writeRaw of several frames in a row: each by reference, the slab untouched', () => {
    const slab = new Slab();
    const writer = new FrameWriter({ slab });
    const first = fromHex('810178');
    const second = fromHex('810179');
    writer.writeRaw(first);
    writer.writeRaw(second);
    writer.writeRaw(first);
    expect(writer.pendingBytes).toBe(9);
    const chunks = writer.take();
    expect(chunks).toEqual([first, second, first]);
    expect(chunks[0]).toBe(first);
    expect(chunks[1]).toBe(second);
    expect(writer.lastTakenBytes).toBe(9);
    expect(slab.position).toBe(0);
    expect(slab.rangesOut).toBe(0);
  });

  it('writeRaw of small frames for two writers interleaved on one slab (a broadcast): each frame by reference, no copy', () => {
    const slab = new Slab();
    const a = new FrameWriter({ slab });
    const b = new FrameWriter({ slab });
    const frame = fromHex('810178');
    a.writeRaw(frame);
    b.writeRaw(frame);
    expect(slab.position).toBe(0);
    const [takenA, takenB] = [a.take(), b.take()];
    expect(takenA).toHaveLength(1);
    expect(takenA[0]).toBe(frame);
    expect(takenB[0]).toBe(frame);
  });

  it('writeRaw queues a frame over 512 bytes by reference, in order between slab frames', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    const big = frame({ opcode: 2, payload: patternBytes(600) });
    const small = fromHex('8100');
    writer.writeTextFrame(FIN_TEXT, 'a');
    writer.writeRaw(big);
    writer.writeRaw(small);
    writer.writeTextFrame(FIN_TEXT, 'b');
    expect(writer.pendingBytes).toBe(3 + big.length + 2 + 3);
    const chunks = writer.take();
    expect(chunks.map(hex)).toEqual(['810161', hex(big), '8100', '810162']);
    expect(chunks[1]).toBe(big);
    expect(chunks[2]).toBe(small);
    expect(writer.lastTakenBytes).toBe(3 + big.length + 2 + 3);
    expect(writer.pendingBytes).toBe(0);
  });

  it('writeRaw behind a reserved frame waits for it', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    const reserved = writer.reserve();
    writer.writeRaw(fromHex('8100'));
    expect(writer.take()).toEqual([]);
    writer.fill(reserved, FIN_TEXT_RSV1, fromHex('0300'));
    expect(hex(output(writer))).toBe('c1020300' + '8100');
  });

  it('idle: nothing pending and no reserved frame, filled or not, left to hand out', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    expect(writer.idle).toBe(true);
    writer.writeFrame(FIN_PING, new Uint8Array(0));
    expect(writer.idle).toBe(false);
    writer.take();
    expect(writer.idle).toBe(true);
    writer.writeRaw(fromHex('8a00'));
    expect(writer.idle).toBe(false);
    writer.take();
    expect(writer.idle).toBe(true);
    const reserved = writer.reserve();
    expect(writer.idle).toBe(false);
    expect(writer.pendingBytes).toBe(0);
    writer.fill(reserved, FIN_BINARY_RSV1, new Uint8Array(0));
    expect(writer.idle).toBe(false);
    expect(hex(output(writer))).toBe('c200');
    expect(writer.idle).toBe(true);
  });
});

describe('FrameWriter: random interleavings with reserved frames (property)', () => {
  type Op =
    | { kind: 'text'; writer: number; text: string }
    | { kind: 'binary'; writer: number; size: number }
    | { kind: 'raw'; writer: number; size: number }
    | { kind: 'reserve'; writer: number }
    | { kind: 'fill'; writer: number; pick: number; size: number; isText: boolean }
    | { kind: 'take'; writer: number }
    | { kind: 'drop'; writer: number };

  const writerIndex = fc.integer({ min: 0, max: 1 });
  const size = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 400 }));
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('text' as const), writer: writerIndex, text: unicodeString({ maxLength: 50 }) }),
    fc.record({ kind: fc.constant('binary' as const), writer: writerIndex, size }),
    fc.record({ kind: fc.constant('raw' as const), writer: writerIndex, size }),
    fc.record({ kind: fc.constant('reserve' as const), writer: writerIndex }),
    fc.record({ kind: fc.constant('fill' as const), writer: writerIndex, pick: fc.nat(), size, isText: fc.boolean() }),
    fc.record({ kind: fc.constant('take' as const), writer: writerIndex }),
    fc.record({ kind: fc.constant('drop' as const), writer: writerIndex }),
  );

  /** What one writer should hold: its frames in call order, reserved ones filled later. */
  interface Entry {
    bytes: Uint8Array | null;
    reserved: ReservedFrame | null;
  }
  interface Model {
    writer: FrameWriter;
    queue: Entry[];
    /** Reserved frames not filled yet, dropped or not (a drop must make fill() refuse them). */
    open: { reserved: ReservedFrame; dropped: boolean }[];
    dropped: boolean;
    taken: Uint8Array[];
    expected: Uint8Array[];
    nextKey: () => Uint8Array | undefined;
  }

  function check(model: Model): void {
    const w = model.writer;
    let pending = 0;
    let unfilled = 0;
    for (const entry of model.queue) {
      if (entry.bytes === null) unfilled++;
      else pending += entry.bytes.length;
    }
    expect(w.pendingBytes).toBe(pending);
    expect(w.reserved).toBe(unfilled);
    expect(w.idle).toBe(model.queue.length === 0);
  }

  function takeModel(model: Model): void {
    const got = model.writer.take();
    const want: Uint8Array[] = [];
    while (model.queue.length > 0 && model.queue[0]!.bytes !== null) want.push(model.queue.shift()!.bytes!);
    // Exactly the frames up to the first unfilled reservation, in call order.
    expect(hex(concat(...got))).toBe(hex(concat(...want)));
    model.taken.push(...got);
    model.expected.push(...want);
  }

  for (const role of ['server', 'client'] as const) {
    it(`${role} role: every interleaving of writes, reserves, fills, drops and takes yields the frames in call order`, () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 50 }), fc.integer({ min: 16, max: 256 }), (ops, slabSize) => {
          const slab = new Slab(undefined, slabSize);
          const models: Model[] = [0, 1].map(() => {
            let n = 0;
            let current: Uint8Array | undefined;
            const mask =
              role === 'client'
                ? (key: Uint8Array): void => {
                    key.set([n & 0xff, (n * 7 + 1) & 0xff, (n * 13 + 2) & 0xff, 0x80 | n]);
                    current = key.slice();
                    n++;
                  }
                : undefined;
            return {
              writer: new FrameWriter({ slab, copyThreshold: 64, randomMask: mask }),
              queue: [],
              open: [],
              dropped: false,
              taken: [],
              expected: [],
              // The key the writer drew for the frame just written (the test mirrors the mask function).
              nextKey: () => current,
            };
          });
          ops.forEach((o, i) => {
            const model = models[o.writer]!;
            const w = model.writer;
            const masked = role === 'client';
            switch (o.kind) {
              case 'text': {
                w.writeTextFrame(FIN_TEXT, o.text);
                const bytes = frame({ opcode: 1, payload: utf8(o.text), mask: masked ? model.nextKey() : undefined });
                model.queue.push({ bytes, reserved: null });
                break;
              }
              case 'binary': {
                const payload = patternBytes(o.size, i);
                w.writeFrame(FIN_BINARY, payload);
                model.queue.push({ bytes: frame({ opcode: 2, payload, mask: masked ? model.nextKey() : undefined }), reserved: null });
                break;
              }
              case 'raw': {
                if (masked) break; // writeRaw is for unmasked frames only
                const bytes = frame({ opcode: 2, payload: patternBytes(o.size, i) });
                w.writeRaw(bytes);
                model.queue.push({ bytes, reserved: null });
                break;
              }
              case 'reserve': {
                const reserved = w.reserve();
                model.queue.push({ bytes: null, reserved });
                model.open.push({ reserved, dropped: false });
                break;
              }
              case 'fill': {
                if (model.open.length === 0) break;
                const [target] = model.open.splice(o.pick % model.open.length, 1);
                const payload = patternBytes(o.size, i);
                const ok = w.fill(target!.reserved, o.isText ? FIN_TEXT_RSV1 : FIN_BINARY_RSV1, payload);
                expect(ok).toBe(!target!.dropped);
                if (!ok) break;
                const entry = model.queue.find((e) => e.reserved === target!.reserved)!;
                entry.bytes = frame({ opcode: o.isText ? 1 : 2, rsv1: true, payload, mask: masked ? model.nextKey() : undefined });
                break;
              }
              case 'take':
                takeModel(model);
                break;
              case 'drop': {
                const first = model.queue.findIndex((e) => e.bytes === null);
                expect(w.dropReserved()).toBe(first >= 0);
                if (first >= 0) {
                  for (const e of model.queue.slice(first)) {
                    const open = model.open.find((x) => x.reserved === e.reserved);
                    if (open) open.dropped = true;
                  }
                  model.queue.length = first;
                  model.dropped = true;
                }
                break;
              }
            }
            check(model);
          });
          for (const model of models) {
            expect(model.writer.takeDropped()).toBe(model.dropped);
            expect(model.writer.takeDropped()).toBe(false);
            // The compressor finishes: every reservation still open is filled, then all is taken.
            for (const { reserved, dropped } of model.open) {
              expect(model.writer.fill(reserved, FIN_BINARY_RSV1, Uint8Array.of(0xee))).toBe(!dropped);
              if (dropped) continue;
              const entry = model.queue.find((e) => e.reserved === reserved)!;
              entry.bytes = frame({ opcode: 2, rsv1: true, payload: Uint8Array.of(0xee), mask: role === 'client' ? model.nextKey() : undefined });
            }
            check(model);
            takeModel(model);
            expect(model.queue).toEqual([]);
            check(model);
            // Compared at the end too: chunks handed out early were not overwritten since.
            expect(hex(concat(...model.taken))).toBe(hex(concat(...model.expected)));
          }
        }),
        { seed: 42, numRuns: 300 },
      );
    });
  }
});

describe('Slab: ranges given back (issue 15)', () => {
  it('is written over from its start once every range handed out has come back; not while one is out', () => {
    const { slab, a, b } = interleaved();
    const aChunks = a.take();
    const bChunks = b.take();
    expect(slab.rangesOut).toBe(3);
    const first = slab.buffer;
    a.release(aChunks);
    expect(slab.rangesOut).toBe(1);
    // b's range is still out: only a's latest range, at the top, is taken back.
    expect(slab.position).toBe(8);
    b.writeTextFrame(FIN_TEXT, 'b2');
    expect(bChunks.map(hex)).toEqual(['81026231']);
    b.release(bChunks);
    b.release(b.take());
    expect(slab.rangesOut).toBe(0);
    expect(slab.position).toBe(0);
    a.writeTextFrame(FIN_TEXT, 'a3');
    const again = a.take();
    expect(slab.buffer).toBe(first);
    expect(again[0]!.byteOffset).toBe(first.byteOffset);
    expect(again.map(hex)).toEqual(['81026133']);
  });

  it('ignores views of other memory, and counts a range given back once', () => {
    const slab = new Slab();
    const writer = new FrameWriter({ slab, copyThreshold: 100 });
    const payload = patternBytes(100, 1); // by reference: not the slab's
    writer.writeFrame(FIN_BINARY, payload);
    const chunks = writer.take();
    expect(chunks[1]).toBe(payload);
    expect(slab.rangesOut).toBe(1);
    writer.release([chunks[1]!, new Uint8Array(4)]);
    expect(slab.rangesOut).toBe(1);
    writer.release([chunks[0]!]);
    expect(slab.rangesOut).toBe(0);
  });

  it('sets a full buffer aside while ranges of it are out, and takes it as the next one once they have come back', () => {
    const slab = new Slab(undefined, 32);
    const writer = new FrameWriter({ slab });
    writer.writeFrame(FIN_BINARY, patternBytes(20, 1));
    const first = slab.buffer;
    const held = writer.take(); // out, in `first`
    writer.writeFrame(FIN_BINARY, patternBytes(20, 2)); // does not fit: a new buffer
    const second = slab.buffer;
    expect(second).not.toBe(first);
    const next = writer.take();
    writer.release(next); // `second` is rewound
    writer.release(held); // `first` is free: a spare
    writer.writeFrame(FIN_BINARY, patternBytes(20, 3));
    writer.writeFrame(FIN_BINARY, patternBytes(20, 4)); // does not fit in `second`: the spare
    expect(slab.buffer).toBe(first);
    expect(hex(output(writer))).toBe(hex(concat(frame({ opcode: 2, payload: patternBytes(20, 3) }), frame({ opcode: 2, payload: patternBytes(20, 4) }))));
  });

  it('gather(): the chunks copied in order into one range, and given back', () => {
    const { slab, a, b } = interleaved();
    const chunks = a.take();
    expect(chunks.length).toBe(2);
    const gathered = a.gather(chunks, a.lastTakenBytes);
    expect(hex(gathered)).toBe('81026131' + '81026132');
    expect(gathered.buffer).toBe(slab.buffer.buffer);
    expect(slab.rangesOut).toBe(2); // b's range and the gathered one
    a.release([gathered]);
    b.release(b.take());
    expect(slab.position).toBe(0);
  });

  it('never changes a chunk that was not given back, whatever is written and given back meanwhile (property)', () => {
    const op = writerOp(['text', 'binary', 'raw', 'take-release', 'take-gather', 'take-hold'] as const);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 16, max: 512 }), (ops, slabSize) => {
        const slab = new Slab(undefined, slabSize);
        const writers = [0, 1, 2].map(() => new FrameWriter({ slab, copyThreshold: 128 }));
        const expected: Uint8Array[][] = [[], [], []];
        const written: Uint8Array[][] = [[], [], []];
        // Chunks kept without being given back, and the bytes they held when taken.
        const held: { chunk: Uint8Array; bytes: string }[] = [];
        const take = (n: number, how: string): void => {
          const w = writers[n]!;
          let chunks = w.take();
          if (chunks.length === 0) return;
          if (how === 'take-gather') chunks = [w.gather(chunks, w.lastTakenBytes)];
          for (const chunk of chunks) written[n]!.push(chunk.slice());
          if (how === 'take-hold') for (const chunk of chunks) held.push({ chunk, bytes: hex(chunk) });
          else w.release(chunks);
        };
        ops.forEach((o, i) => {
          const w = writers[o.writer]!;
          if (o.kind.startsWith('take')) take(o.writer, o.kind);
          else writeOp(w, o, i, expected[o.writer]!);
          for (const { chunk, bytes } of held) expect(hex(chunk)).toBe(bytes);
        });
        writers.forEach((_, n) => {
          take(n, 'take-release');
          expect(hex(concat(...written[n]!))).toBe(hex(concat(...expected[n]!)));
        });
        for (const { chunk, bytes } of held) expect(hex(chunk)).toBe(bytes);
      }),
      { seed: 15, numRuns: 500 },
    );
  });
});

describe('FrameWriter: fragmented messages (RFC 6455 5.4)', () => {
  it('writeFragmented splits a message: first frame with the opcode, continuations, FIN on the last', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeFragmented(FIN_TEXT, utf8('Hello'), 2);
    // RFC 6455 5.7: "Hel" + "lo" is 01 03 48 65 6c 80 02 6c 6f; in pieces of 2: He, ll, o.
    expect(hex(output(writer))).toBe('01024865' + '00026c6c' + '80016f');
  });

  it('a message no larger than the fragment size stays one frame', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    writer.writeFragmented(FIN_BINARY, Uint8Array.of(1, 2), 2);
    expect(hex(output(writer))).toBe('82020102');
  });

  it('a filled (compressed) frame fragments with RSV1 on the first frame only (RFC 7692 6.1)', () => {
    const writer = new FrameWriter({ slab: new Slab() });
    const reserved = writer.reserve();
    // RFC 7692 7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00.
    writer.fill(reserved, firstHeaderByte(true, Opcode.TEXT, true), fromHex('f248cdc9c90700'), 3);
    expect(hex(output(writer))).toBe('4103f248cd' + '0003c9c907' + '800100');
  });

  it('masks every fragment with its own key in the client role', () => {
    const mask = deterministicMask();
    const writer = new FrameWriter({ slab: new Slab(), randomMask: mask.fill });
    writer.writeFragmented(FIN_TEXT, utf8('Hello'), 3);
    expect(hex(output(writer))).toBe(
      hex(frame({ opcode: 1, fin: false, payload: utf8('Hel'), mask: RFC_MASK })) +
        hex(frame({ opcode: 0, payload: utf8('lo'), mask: fromHex('01020304') })),
    );
    expect(mask.calls()).toBe(2);
  });
});
