import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_CONTROL_PAYLOAD,
  MAX_HEADER_SIZE,
  Opcode,
  createFrameHeader,
  encodeFrame,
  firstHeaderByte,
  frameHeaderSize,
  headerSizeFor,
  isControlOpcode,
  isKnownOpcode,
  readFrameHeader,
  writeFrameHeader,
} from '../../src/protocol/frame.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import {
  RFC_MASK,
  expectProtocolError,
  frame,
  fromHex,
  hex,
  patternBytes,
  utf8,
} from './helpers.js';

const HELLO = utf8('Hello');

// RFC 6455 section 5.7, byte for byte.
const RFC = {
  unmaskedText: '810548656c6c6f',
  maskedText: '818537fa213d7f9f4d5158',
  fragment1: '010348656c',
  fragment2: '80026c6f',
  unmaskedPing: '890548656c6c6f',
  maskedPong: '8a8537fa213d7f9f4d5158',
  maskedPing: '898537fa213d7f9f4d5158',
  binary256Header: '827e0100',
  binary64kHeader: '827f0000000000010000',
};

describe('opcodes', () => {
  it('has the RFC 6455 5.2 values', () => {
    expect(Opcode).toEqual({ CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 });
    expect(MAX_CONTROL_PAYLOAD).toBe(125);
    expect(MAX_HEADER_SIZE).toBe(14);
  });

  it('isControlOpcode is true exactly for 0x8-0xF', () => {
    for (let op = 0; op < 16; op++) expect(isControlOpcode(op)).toBe(op >= 8);
  });

  it('isKnownOpcode is false exactly for the reserved 0x3-0x7 and 0xB-0xF', () => {
    const known = [0x0, 0x1, 0x2, 0x8, 0x9, 0xa];
    for (let op = 0; op < 16; op++) expect(isKnownOpcode(op)).toBe(known.includes(op));
  });
});

describe('encodeFrame: RFC 6455 5.7 examples', () => {
  it('a single-frame unmasked text message "Hello"', () => {
    expect(hex(encodeFrame({ opcode: Opcode.TEXT, payload: HELLO }))).toBe(RFC.unmaskedText);
  });

  it('a single-frame masked text message "Hello"', () => {
    expect(hex(encodeFrame({ opcode: Opcode.TEXT, payload: HELLO, mask: RFC_MASK }))).toBe(RFC.maskedText);
  });

  it('a fragmented unmasked text message "Hel" + "lo"', () => {
    expect(hex(encodeFrame({ fin: false, opcode: Opcode.TEXT, payload: utf8('Hel') }))).toBe(RFC.fragment1);
    expect(hex(encodeFrame({ fin: true, opcode: Opcode.CONTINUATION, payload: utf8('lo') }))).toBe(
      RFC.fragment2,
    );
  });

  it('an unmasked ping "Hello"', () => {
    expect(hex(encodeFrame({ opcode: Opcode.PING, payload: HELLO }))).toBe(RFC.unmaskedPing);
  });

  it('a masked pong "Hello" and a masked ping "Hello"', () => {
    expect(hex(encodeFrame({ opcode: Opcode.PONG, payload: HELLO, mask: RFC_MASK }))).toBe(RFC.maskedPong);
    expect(hex(encodeFrame({ opcode: Opcode.PING, payload: HELLO, mask: RFC_MASK }))).toBe(RFC.maskedPing);
  });

  it('256 bytes of binary data in a single unmasked frame: 16-bit length', () => {
    const payload = patternBytes(256, 1);
    const out = encodeFrame({ opcode: Opcode.BINARY, payload });
    expect(out.length).toBe(4 + 256);
    expect(hex(out.subarray(0, 4))).toBe(RFC.binary256Header);
    expect(hex(out.subarray(4))).toBe(hex(payload));
  });

  it('64 KiB of binary data in a single unmasked frame: 64-bit length', () => {
    const payload = patternBytes(65536, 2);
    const out = encodeFrame({ opcode: Opcode.BINARY, payload });
    expect(out.length).toBe(10 + 65536);
    expect(hex(out.subarray(0, 10))).toBe(RFC.binary64kHeader);
    expect(Buffer.compare(out.subarray(10), payload)).toBe(0);
  });
});

describe('encodeFrame', () => {
  it('leaves the caller\'s payload unmasked', () => {
    const payload = utf8('Hello');
    encodeFrame({ opcode: Opcode.TEXT, payload, mask: RFC_MASK });
    expect(hex(payload)).toBe('48656c6c6f');
  });

  it('encodes an empty frame with no payload given', () => {
    expect(hex(encodeFrame({ opcode: Opcode.CLOSE }))).toBe('8800');
    expect(hex(encodeFrame({ opcode: Opcode.PING, mask: RFC_MASK }))).toBe('898037fa213d');
  });

  it('sets RSV bits when asked (it serializes invalid frames too)', () => {
    expect(hex(encodeFrame({ opcode: 1, rsv1: true }))).toBe('c100');
    expect(hex(encodeFrame({ opcode: 1, rsv2: true }))).toBe('a100');
    expect(hex(encodeFrame({ opcode: 1, rsv3: true, fin: false }))).toBe('1100');
    expect(hex(encodeFrame({ opcode: 0xb }))).toBe('8b00');
  });

  it('masks payloads at the 125/126 and 65535/65536 length boundaries like the reference builder', () => {
    for (const length of [0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 70001]) {
      const payload = patternBytes(length, length);
      const mask = fromHex('a1 b2 c3 d4');
      const ours = encodeFrame({ opcode: Opcode.BINARY, payload, mask });
      const reference = frame({ opcode: Opcode.BINARY, payload, mask });
      expect(Buffer.compare(ours, reference), `length ${length}`).toBe(0);
    }
  });
});

describe('headerSizeFor / writeFrameHeader', () => {
  it('headerSizeFor picks 2, 4 or 10 bytes, plus 4 for a mask', () => {
    expect(headerSizeFor(0, false)).toBe(2);
    expect(headerSizeFor(125, false)).toBe(2);
    expect(headerSizeFor(126, false)).toBe(4);
    expect(headerSizeFor(65535, false)).toBe(4);
    expect(headerSizeFor(65536, false)).toBe(10);
    expect(headerSizeFor(0, true)).toBe(6);
    expect(headerSizeFor(126, true)).toBe(8);
    expect(headerSizeFor(65536, true)).toBe(14);
  });

  it.each([
    [0, '8200'],
    [125, '827d'],
    [126, '827e007e'],
    [256, '827e0100'],
    [65535, '827effff'],
    [65536, '827f0000000000010000'],
    [0x1_0000_0005, '827f0000000100000005'],
    [Number.MAX_SAFE_INTEGER, '827f001fffffffffffff'],
  ])('writes the minimal length encoding for %i', (length, expected) => {
    const target = new Uint8Array(10);
    const end = writeFrameHeader(target, 0, 0x82, length);
    expect(end).toBe(expected.length / 2);
    expect(hex(target.subarray(0, end))).toBe(expected);
  });

  it('writes at an offset, returns the offset after the header, and leaves other bytes alone', () => {
    const target = new Uint8Array(20).fill(0xee);
    const end = writeFrameHeader(target, 3, 0x81, 300, RFC_MASK);
    expect(end).toBe(3 + 4 + 4);
    expect(hex(target)).toBe('eeeeee' + '81fe012c' + '37fa213d' + 'ee'.repeat(9));
  });

  it('RFC 6455 5.7 headers: masked "Hello", 256-byte and 64 KiB binary', () => {
    const t = new Uint8Array(14);
    expect(hex(t.subarray(0, writeFrameHeader(t, 0, 0x81, 5, RFC_MASK)))).toBe('818537fa213d');
    expect(hex(t.subarray(0, writeFrameHeader(t, 0, 0x82, 256)))).toBe(RFC.binary256Header);
    expect(hex(t.subarray(0, writeFrameHeader(t, 0, 0x82, 65536)))).toBe(RFC.binary64kHeader);
  });

  it('firstHeaderByte combines FIN, RSV1-3 and the opcode', () => {
    expect(firstHeaderByte(true, Opcode.TEXT)).toBe(0x81);
    expect(firstHeaderByte(false, Opcode.TEXT)).toBe(0x01);
    expect(firstHeaderByte(true, Opcode.CONTINUATION)).toBe(0x80);
    expect(firstHeaderByte(true, Opcode.BINARY, true)).toBe(0xc2);
    expect(firstHeaderByte(false, Opcode.PING, false, true, true)).toBe(0x39);
    expect(firstHeaderByte(true, 0xf, true, true, true)).toBe(0xff);
  });
});

describe('frameHeaderSize', () => {
  it('is 0 with fewer than two bytes', () => {
    expect(frameHeaderSize(new Uint8Array(0), 0, 0)).toBe(0);
    expect(frameHeaderSize(fromHex('81'), 0, 1)).toBe(0);
    expect(frameHeaderSize(fromHex('8105'), 1, 2)).toBe(0);
  });

  it('counts the extended length and the mask from the second byte', () => {
    expect(frameHeaderSize(fromHex('8105'), 0, 2)).toBe(2);
    expect(frameHeaderSize(fromHex('8185'), 0, 2)).toBe(6);
    expect(frameHeaderSize(fromHex('827e'), 0, 2)).toBe(4);
    expect(frameHeaderSize(fromHex('82fe'), 0, 2)).toBe(8);
    expect(frameHeaderSize(fromHex('827f'), 0, 2)).toBe(10);
    expect(frameHeaderSize(fromHex('82ff'), 0, 2)).toBe(14);
    expect(frameHeaderSize(fromHex('00 00 82ff'), 2, 4)).toBe(14);
  });
});

describe('readFrameHeader', () => {
  function read(bytes: Uint8Array, offset = 0) {
    const h = createFrameHeader();
    const size = readFrameHeader(bytes, offset, bytes.length, h);
    return { size, ...h, maskKey: undefined, mask: h.maskKey.toString(16).padStart(8, '0') };
  }

  it('reads the RFC 6455 5.7 unmasked "Hello" header', () => {
    expect(read(fromHex(RFC.unmaskedText))).toEqual({
      size: 2,
      fin: true,
      rsv1: false,
      rsv2: false,
      rsv3: false,
      opcode: 1,
      masked: false,
      length: 5,
      mask: '00000000',
    });
  });

  it('reads the RFC 6455 5.7 masked "Hello" header and its key', () => {
    expect(read(fromHex(RFC.maskedText))).toMatchObject({
      size: 6,
      fin: true,
      opcode: 1,
      masked: true,
      length: 5,
      mask: '37fa213d',
    });
  });

  it('reads the fragment headers, the ping, and the masked pong', () => {
    expect(read(fromHex(RFC.fragment1))).toMatchObject({ size: 2, fin: false, opcode: 1, length: 3 });
    expect(read(fromHex(RFC.fragment2))).toMatchObject({ size: 2, fin: true, opcode: 0, length: 2 });
    expect(read(fromHex(RFC.unmaskedPing))).toMatchObject({ fin: true, opcode: 9, masked: false, length: 5 });
    expect(read(fromHex(RFC.maskedPong))).toMatchObject({ fin: true, opcode: 10, masked: true, length: 5 });
  });

  it('reads the 16-bit and 64-bit lengths of the 256-byte and 64 KiB examples', () => {
    expect(read(fromHex(RFC.binary256Header))).toMatchObject({ size: 4, opcode: 2, length: 256 });
    expect(read(fromHex(RFC.binary64kHeader))).toMatchObject({ size: 10, opcode: 2, length: 65536 });
  });

  it('reads RSV bits and reserved opcodes without judging them (the parser does)', () => {
    expect(read(fromHex('f300'))).toMatchObject({ rsv1: true, rsv2: true, rsv3: true, opcode: 3 });
    expect(read(fromHex('4f00'))).toMatchObject({ fin: false, rsv1: true, rsv2: false, opcode: 0xf });
  });

  it('reads the largest 64-bit length with the MSB clear below 2^53 exactly', () => {
    expect(read(fromHex('827f001fffffffffffff')).length).toBe(Number.MAX_SAFE_INTEGER);
    expect(read(fromHex('827f0000000100000000')).length).toBe(2 ** 32);
  });

  it('reads at an offset', () => {
    expect(read(fromHex('ffff' + RFC.maskedText), 2)).toMatchObject({ size: 6, length: 5, mask: '37fa213d' });
  });

  it('returns 0 for every incomplete prefix of a header', () => {
    const full = fromHex('82ff0000000000010000' + 'a1b2c3d4');
    for (let n = 0; n < full.length; n++) {
      const h = createFrameHeader();
      expect(readFrameHeader(full, 0, n, h), `prefix of ${n} bytes`).toBe(0);
    }
    expect(readFrameHeader(full, 0, full.length, createFrameHeader())).toBe(14);
  });

  it('rejects a 16-bit length below 126: WS_ERR_INVALID_LENGTH, 1002', () => {
    for (const len of ['0000', '007d']) {
      expectProtocolError(() => read(fromHex('827e' + len)), 'WS_ERR_INVALID_LENGTH', 1002);
    }
    expect(read(fromHex('827e007e')).length).toBe(126);
  });

  it('rejects a 64-bit length up to 65535: WS_ERR_INVALID_LENGTH, 1002', () => {
    for (const len of ['0000000000000000', '000000000000007d', '000000000000007e', '000000000000ffff']) {
      expectProtocolError(() => read(fromHex('827f' + len)), 'WS_ERR_INVALID_LENGTH', 1002);
    }
    expect(read(fromHex('827f0000000000010000')).length).toBe(65536);
  });

  it('rejects a 64-bit length with the most significant bit set: WS_ERR_INVALID_LENGTH, 1002', () => {
    for (const len of ['8000000000000000', 'ffffffffffffffff', '8000000000010000']) {
      expectProtocolError(() => read(fromHex('827f' + len)), 'WS_ERR_INVALID_LENGTH', 1002);
    }
  });

  it('round-trips any header written by writeFrameHeader (property)', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.constantFrom(0, 1, 2, 8, 9, 10),
        fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 70000 }), fc.maxSafeNat()),
        fc.option(fc.uint8Array({ minLength: 4, maxLength: 4 }), { nil: undefined }),
        (fin, opcode, length, mask) => {
          const bytes = new Uint8Array(14);
          const end = writeFrameHeader(bytes, 0, firstHeaderByte(fin, opcode), length, mask);
          expect(end).toBe(headerSizeFor(length, mask !== undefined));
          const h = createFrameHeader();
          expect(readFrameHeader(bytes, 0, end, h)).toBe(end);
          expect(frameHeaderSize(bytes, 0, end)).toBe(end);
          expect(h.fin).toBe(fin);
          expect(h.opcode).toBe(opcode);
          expect(h.length).toBe(length);
          expect(h.masked).toBe(mask !== undefined);
          if (mask) expect(h.maskKey.toString(16).padStart(8, '0')).toBe(hex(mask));
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  it('errors are ProtocolErrors carrying their close code', () => {
    const error = expectProtocolError(() => read(fromHex('827e0001')), 'WS_ERR_INVALID_LENGTH', 1002);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.name).toBe('ProtocolError');
  });
});
