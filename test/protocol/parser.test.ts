import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Opcode } from '../../src/protocol/frame.js';
import { setMaskKernel } from '../../src/protocol/mask.js';
import { FrameParser } from '../../src/protocol/parser.js';
import {
  RFC_MASK,
  RecordingHandler,
  binaryEvent,
  byteChunks,
  concat,
  controlEvent,
  expectProtocolError,
  fromHex,
  hex,
  makeParser,
  masked,
  patternBytes,
  splitAt,
  textEvent,
  thrown,
  unicodeString,
  utf8,
  type ParserEvent,
} from './helpers.js';

const HELLO = utf8('Hello');

function feed(parser: FrameParser, ...chunks: Uint8Array[]): void {
  for (const chunk of chunks) parser.push(chunk);
}

describe('FrameParser: RFC 6455 5.7 examples', () => {
  it('client role: a single-frame unmasked text message "Hello"', () => {
    const { parser, handler } = makeParser({ role: 'client' });
    parser.push(fromHex('0x81 0x05 0x48 0x65 0x6c 0x6c 0x6f'));
    expect(handler.events).toEqual([textEvent('Hello')]);
  });

  it('server role: a single-frame masked text message "Hello"', () => {
    const { parser, handler } = makeParser({ role: 'server' });
    parser.push(fromHex('0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58'));
    expect(handler.events).toEqual([textEvent('Hello')]);
  });

  it('client role: a fragmented unmasked text message "Hel" + "lo" is one message', () => {
    const { parser, handler } = makeParser({ role: 'client' });
    parser.push(fromHex('0x01 0x03 0x48 0x65 0x6c'));
    expect(handler.events).toEqual([]);
    parser.push(fromHex('0x80 0x02 0x6c 0x6f'));
    expect(handler.events).toEqual([textEvent('Hello')]);
  });

  it('server role: the fragmented "Hel" + "lo", masked, in one chunk', () => {
    const { parser, handler } = makeParser();
    parser.push(concat(masked({ fin: false, opcode: 1, payload: utf8('Hel') }), masked({ opcode: 0, payload: utf8('lo') })));
    expect(handler.events).toEqual([textEvent('Hello')]);
  });

  it('client role: an unmasked ping "Hello"', () => {
    const { parser, handler } = makeParser({ role: 'client' });
    parser.push(fromHex('0x89 0x05 0x48 0x65 0x6c 0x6c 0x6f'));
    expect(handler.events).toEqual([controlEvent(Opcode.PING, HELLO)]);
  });

  it('server role: a masked pong "Hello" and a masked ping "Hello"', () => {
    const { parser, handler } = makeParser();
    parser.push(fromHex('0x8a 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58'));
    parser.push(fromHex('0x89 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58'));
    expect(handler.events).toEqual([controlEvent(Opcode.PONG, HELLO), controlEvent(Opcode.PING, HELLO)]);
  });

  it('client role: 256 bytes of binary data in a single unmasked frame (0x82 0x7E 0x0100)', () => {
    const payload = patternBytes(256, 3);
    const { parser, handler } = makeParser({ role: 'client' });
    parser.push(concat(fromHex('0x82 0x7E 0x01 0x00'), payload));
    expect(handler.events).toEqual([binaryEvent(payload)]);
  });

  it('client role: 64 KiB of binary data in a single unmasked frame (0x82 0x7F 0x0000000000010000)', () => {
    const payload = patternBytes(65536, 4);
    const { parser, handler } = makeParser({ role: 'client' });
    parser.push(concat(fromHex('0x82 0x7F 0x00 0x00 0x00 0x00 0x00 0x01 0x00 0x00'), payload));
    expect(handler.events).toEqual([binaryEvent(payload)]);
  });

  it('server role: the 256-byte and 64 KiB binary frames masked', () => {
    const p256 = patternBytes(256, 5);
    const p64k = patternBytes(65536, 6);
    const { parser, handler } = makeParser();
    const f256 = masked({ opcode: 2, payload: p256 });
    const f64k = masked({ opcode: 2, payload: p64k });
    expect(hex(f256.subarray(0, 8))).toBe('82fe0100' + '37fa213d');
    expect(hex(f64k.subarray(0, 14))).toBe('82ff0000000000010000' + '37fa213d');
    parser.push(concat(f256, f64k));
    expect(handler.events).toEqual([binaryEvent(p256), binaryEvent(p64k)]);
  });

  it('server role: the masked "Hello" fed one byte at a time', () => {
    const { parser, handler } = makeParser();
    feed(parser, ...byteChunks(fromHex('818537fa213d7f9f4d5158')));
    expect(handler.events).toEqual([textEvent('Hello')]);
  });
});

describe('FrameParser: chunking and ownership', () => {
  it('hands an unfragmented payload on as a view of the chunk, unmasked in place', () => {
    const { parser, handler } = makeParser();
    const chunk = fromHex('818537fa213d7f9f4d5158');
    parser.push(chunk);
    const payload = handler.payloads[0]!;
    expect(payload.buffer).toBe(chunk.buffer);
    expect(payload.byteOffset).toBe(chunk.byteOffset + 6);
    expect(hex(chunk)).toBe('818537fa213d' + '48656c6c6f');
  });

  it('parses a 14-byte header split at every point across two chunks', () => {
    const payload = patternBytes(70000, 9);
    const bytes = masked({ opcode: 2, payload, mask: fromHex('01020304') });
    for (let cut = 0; cut <= 14; cut++) {
      const { parser, handler } = makeParser();
      feed(parser, bytes.slice(0, cut), bytes.slice(cut));
      expect(handler.events, `cut at ${cut}`).toEqual([binaryEvent(payload)]);
    }
  });

  it('parses a header split over three chunks, the first holding one byte', () => {
    const payload = patternBytes(300, 1);
    const bytes = masked({ opcode: 1, payload: utf8('x'.repeat(300)) });
    const { parser, handler } = makeParser();
    feed(parser, bytes.slice(0, 1), bytes.slice(1, 3), bytes.slice(3, 5), bytes.slice(5));
    expect(handler.events).toEqual([textEvent('x'.repeat(300))]);
    expect(payload.length).toBe(300);
  });

  it('parses a payload that arrives in pieces, with a masking phase carried across them', () => {
    const payload = patternBytes(1001, 2);
    const bytes = masked({ opcode: 2, payload, mask: fromHex('a1b2c3d4') });
    const { parser, handler } = makeParser();
    feed(parser, ...splitAt(bytes, [8, 9, 11, 14, 15, 400, 1005]));
    expect(handler.events).toEqual([binaryEvent(payload)]);
  });

  it('parses a payload that arrives whole in the chunk after its header', () => {
    const payload = patternBytes(500, 3);
    const bytes = masked({ opcode: 2, payload });
    const { parser, handler } = makeParser();
    feed(parser, bytes.slice(0, 8), bytes.slice(8));
    expect(handler.events).toEqual([binaryEvent(payload)]);
  });

  it('parses many frames in one chunk, and frames ending exactly at chunk boundaries', () => {
    const frames = [
      masked({ opcode: 1, payload: utf8('a') }),
      masked({ opcode: 2, payload: Uint8Array.of(1, 2) }),
      masked({ opcode: 9, payload: utf8('p') }),
      masked({ opcode: 1, payload: utf8('') }),
    ];
    const expected = [textEvent('a'), binaryEvent(Uint8Array.of(1, 2)), controlEvent(9, utf8('p')), textEvent('')];
    const a = makeParser();
    a.parser.push(concat(...frames));
    expect(a.handler.events).toEqual(expected);
    const b = makeParser();
    feed(b.parser, ...frames.map((f) => f.slice()));
    expect(b.handler.events).toEqual(expected);
  });

  it('delivers empty text and binary messages, unfragmented and fragmented', () => {
    const { parser, handler } = makeParser();
    parser.push(
      concat(
        masked({ opcode: 1 }),
        masked({ opcode: 2 }),
        masked({ opcode: 1, fin: false }),
        masked({ opcode: 0, fin: false }),
        masked({ opcode: 0 }),
        masked({ opcode: 2, fin: false }),
        masked({ opcode: 0 }),
      ),
    );
    expect(handler.events).toEqual([
      textEvent(''),
      binaryEvent(new Uint8Array(0)),
      textEvent(''),
      binaryEvent(new Uint8Array(0)),
    ]);
  });

  it('delivers control frames between the fragments of a message, before the message', () => {
    const { parser, handler } = makeParser();
    parser.push(
      concat(
        masked({ opcode: 1, fin: false, payload: utf8('He') }),
        masked({ opcode: 9, payload: utf8('ping') }),
        masked({ opcode: 0, fin: false, payload: utf8('l') }),
        masked({ opcode: 10, payload: utf8('pong') }),
        masked({ opcode: 0, payload: utf8('lo') }),
      ),
    );
    expect(handler.events).toEqual([
      controlEvent(9, utf8('ping')),
      controlEvent(10, utf8('pong')),
      textEvent('Hello'),
    ]);
  });

  it('parses a 125-byte control frame whose payload spans chunks', () => {
    const payload = patternBytes(125, 8);
    const bytes = masked({ opcode: 9, payload });
    const { parser, handler } = makeParser();
    feed(parser, ...splitAt(bytes, [3, 7, 50, 100]));
    expect(handler.events).toEqual([controlEvent(9, payload)]);
  });

  it('parses a fragmented message whose fragments span chunks, larger than the first buffer', () => {
    const parts = [patternBytes(20000, 1), patternBytes(30000, 2), patternBytes(5, 3)];
    const bytes = concat(
      masked({ opcode: 2, fin: false, payload: parts[0]! }),
      masked({ opcode: 0, fin: false, payload: parts[1]! }),
      masked({ opcode: 0, payload: parts[2]! }),
    );
    const { parser, handler } = makeParser();
    feed(parser, ...splitAt(bytes, [1000, 20005, 40000, 50020]));
    expect(handler.events).toEqual([binaryEvent(concat(...parts))]);
  });

  it('does not validate binary messages as UTF-8', () => {
    const { parser, handler } = makeParser();
    parser.push(masked({ opcode: 2, payload: fromHex('ff fe c0 80') }));
    expect(handler.events).toEqual([binaryEvent(fromHex('ff fe c0 80'))]);
  });

  it('uses the injected alloc for buffers it copies into', () => {
    const sizes: number[] = [];
    const { parser, handler } = makeParser({
      alloc: (n) => {
        sizes.push(n);
        return new Uint8Array(n);
      },
    });
    const bytes = masked({ opcode: 2, payload: patternBytes(100, 1) });
    feed(parser, bytes.slice(0, 50), bytes.slice(50));
    expect(handler.events).toEqual([binaryEvent(patternBytes(100, 1))]);
    expect(sizes).toEqual([100]);
  });

  it('uses the injected isUtf8 for unfragmented text frames that arrive whole', () => {
    const seen: string[] = [];
    const { parser, handler } = makeParser({
      isUtf8: (bytes) => {
        seen.push(hex(bytes));
        return true;
      },
    });
    parser.push(masked({ opcode: 1, payload: utf8('ok') }));
    expect(seen).toEqual(['6f6b']);
    expect(handler.events).toEqual([textEvent('ok')]);
  });

  it('accepts RSV1 on the first frame of a message when allowRsv1 is set', () => {
    const { parser, handler } = makeParser({ allowRsv1: true });
    parser.push(
      concat(
        masked({ opcode: 2, rsv1: true, payload: Uint8Array.of(1) }),
        masked({ opcode: 2, rsv1: true, fin: false, payload: Uint8Array.of(2) }),
        masked({ opcode: 0, payload: Uint8Array.of(3) }),
      ),
    );
    expect(handler.events).toEqual([binaryEvent(Uint8Array.of(1)), binaryEvent(Uint8Array.of(2, 3))]);
  });

  it('accepts a message of exactly maxPayload bytes and exactly maxFragments frames', () => {
    const { parser, handler } = makeParser({ maxPayload: 10, maxFragments: 3 });
    parser.push(
      concat(
        masked({ opcode: 2, fin: false, payload: patternBytes(4, 1) }),
        masked({ opcode: 9 }),
        masked({ opcode: 0, fin: false, payload: patternBytes(4, 2) }),
        masked({ opcode: 0, payload: patternBytes(2, 3) }),
        masked({ opcode: 1, payload: utf8('0123456789') }),
      ),
    );
    expect(handler.events).toEqual([
      controlEvent(9),
      binaryEvent(concat(patternBytes(4, 1), patternBytes(4, 2), patternBytes(2, 3))),
      textEvent('0123456789'),
    ]);
  });

  it('ignores everything after stop(), even the rest of the chunk being parsed', () => {
    const handler = new RecordingHandler();
    const parser: FrameParser = new FrameParser(
      {
        onMessage(payload, isText) {
          handler.onMessage(payload, isText);
          parser.stop();
        },
        onControlFrame(opcode, payload) {
          handler.onControlFrame(opcode, payload);
        },
      },
      { role: 'server', maxPayload: 1000, maxFragments: 10 },
    );
    parser.push(concat(masked({ opcode: 1, payload: utf8('a') }), masked({ opcode: 1, payload: utf8('b') })));
    parser.push(masked({ opcode: 1, payload: utf8('c') }));
    expect(handler.events).toEqual([textEvent('a')]);
  });
});

describe('FrameParser: rejections (exact code and close code)', () => {
  function rejects(bytes: Uint8Array | Uint8Array[], code: string, closeCode: number, options = {}) {
    const { parser, handler } = makeParser(options);
    const chunks = Array.isArray(bytes) ? bytes : [bytes];
    const last = chunks.pop()!;
    feed(parser, ...chunks);
    expectProtocolError(() => parser.push(last), code, closeCode);
    return handler;
  }

  it('an unmasked frame from a client: WS_ERR_UNMASKED_FRAME, 1002 (from the 2-byte header alone)', () => {
    rejects(fromHex('0x81 0x05'), 'WS_ERR_UNMASKED_FRAME', 1002);
    rejects(fromHex('810548656c6c6f'), 'WS_ERR_UNMASKED_FRAME', 1002);
  });

  it('a masked frame from a server (client role): WS_ERR_MASKED_FRAME, 1002', () => {
    rejects(fromHex('818537fa213d7f9f4d5158'), 'WS_ERR_MASKED_FRAME', 1002, { role: 'client' });
  });

  it('RSV1 with no extension: WS_ERR_RESERVED_BITS, 1002', () => {
    rejects(masked({ opcode: 1, rsv1: true, payload: HELLO }), 'WS_ERR_RESERVED_BITS', 1002);
  });

  it('RSV2 with no extension: WS_ERR_RESERVED_BITS, 1002', () => {
    rejects(masked({ opcode: 1, rsv2: true, payload: HELLO }), 'WS_ERR_RESERVED_BITS', 1002);
  });

  it('RSV3 with no extension: WS_ERR_RESERVED_BITS, 1002', () => {
    rejects(masked({ opcode: 1, rsv3: true, payload: HELLO }), 'WS_ERR_RESERVED_BITS', 1002);
  });

  it('RSV2/RSV3 even with allowRsv1: WS_ERR_RESERVED_BITS, 1002', () => {
    rejects(masked({ opcode: 2, rsv2: true }), 'WS_ERR_RESERVED_BITS', 1002, { allowRsv1: true });
    rejects(masked({ opcode: 2, rsv3: true }), 'WS_ERR_RESERVED_BITS', 1002, { allowRsv1: true });
  });

  it('RSV1 on a control frame even with allowRsv1: WS_ERR_RESERVED_BITS, 1002', () => {
    rejects(masked({ opcode: 9, rsv1: true }), 'WS_ERR_RESERVED_BITS', 1002, { allowRsv1: true });
  });

  it('RSV1 on a continuation frame even with allowRsv1: WS_ERR_RESERVED_BITS, 1002', () => {
    rejects(
      [masked({ opcode: 2, rsv1: true, fin: false }), masked({ opcode: 0, rsv1: true })],
      'WS_ERR_RESERVED_BITS',
      1002,
      { allowRsv1: true },
    );
  });

  it.each([0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf])(
    'reserved opcode 0x%s: WS_ERR_RESERVED_OPCODE, 1002',
    (opcode) => {
      rejects(masked({ opcode, payload: HELLO }), 'WS_ERR_RESERVED_OPCODE', 1002);
    },
  );

  it.each([Opcode.PING, Opcode.PONG, Opcode.CLOSE])(
    'control frame (opcode %i) with a 126-byte payload: WS_ERR_CONTROL_FRAME_TOO_LONG, 1002, from the header alone',
    (opcode) => {
      const header = masked({ opcode, declaredLength: 126 });
      expect(hex(header)).toBe((0x80 | opcode).toString(16) + 'fe007e' + '37fa213d');
      rejects(header, 'WS_ERR_CONTROL_FRAME_TOO_LONG', 1002);
    },
  );

  it.each([Opcode.PING, Opcode.PONG, Opcode.CLOSE])(
    'fragmented control frame (opcode %i, FIN clear): WS_ERR_FRAGMENTED_CONTROL_FRAME, 1002',
    (opcode) => {
      rejects(masked({ opcode, fin: false, payload: HELLO }), 'WS_ERR_FRAGMENTED_CONTROL_FRAME', 1002);
    },
  );

  it('continuation frame with no message started: WS_ERR_UNEXPECTED_CONTINUATION, 1002', () => {
    rejects(masked({ opcode: 0, payload: HELLO }), 'WS_ERR_UNEXPECTED_CONTINUATION', 1002);
  });

  it('continuation frame after a complete message: WS_ERR_UNEXPECTED_CONTINUATION, 1002', () => {
    const handler = rejects(
      [masked({ opcode: 1, payload: HELLO }), masked({ opcode: 0, fin: false, payload: HELLO })],
      'WS_ERR_UNEXPECTED_CONTINUATION',
      1002,
    );
    expect(handler.events).toEqual([textEvent('Hello')]);
  });

  it('new data frame inside a fragmented message: WS_ERR_EXPECTED_CONTINUATION, 1002', () => {
    rejects(
      [masked({ opcode: 1, fin: false, payload: utf8('Hel') }), masked({ opcode: 1, payload: utf8('lo') })],
      'WS_ERR_EXPECTED_CONTINUATION',
      1002,
    );
    rejects(
      concat(masked({ opcode: 2, fin: false, payload: utf8('a') }), masked({ opcode: 2, fin: false })),
      'WS_ERR_EXPECTED_CONTINUATION',
      1002,
    );
  });

  it('64-bit length with the most significant bit set: WS_ERR_INVALID_LENGTH, 1002', () => {
    rejects(fromHex('82ff 8000000000000000 37fa213d'), 'WS_ERR_INVALID_LENGTH', 1002);
    rejects(fromHex('82ff ffffffffffffffff 37fa213d'), 'WS_ERR_INVALID_LENGTH', 1002);
  });

  it('non-minimal 16-bit length (125 in 126+16 bits): WS_ERR_INVALID_LENGTH, 1002', () => {
    rejects(masked({ opcode: 2, lengthBits: 16, payload: patternBytes(125) }), 'WS_ERR_INVALID_LENGTH', 1002);
    rejects(masked({ opcode: 2, lengthBits: 16 }), 'WS_ERR_INVALID_LENGTH', 1002);
  });

  it('non-minimal 64-bit length (65535 and 126 in 127+64 bits): WS_ERR_INVALID_LENGTH, 1002', () => {
    rejects(masked({ opcode: 2, lengthBits: 64, declaredLength: 65535 }), 'WS_ERR_INVALID_LENGTH', 1002);
    rejects(masked({ opcode: 2, lengthBits: 64, declaredLength: 126 }), 'WS_ERR_INVALID_LENGTH', 1002);
  });

  it('non-minimal length in a header split across chunks: WS_ERR_INVALID_LENGTH, 1002', () => {
    const header = masked({ opcode: 2, lengthBits: 64, declaredLength: 1 });
    rejects([header.slice(0, 1), header.slice(1, 5), header.slice(5)], 'WS_ERR_INVALID_LENGTH', 1002);
  });

  it('invalid UTF-8 in an unfragmented text frame: WS_ERR_INVALID_UTF8, 1007', () => {
    rejects(masked({ opcode: 1, payload: fromHex('48 65 ff 6c') }), 'WS_ERR_INVALID_UTF8', 1007);
    rejects(masked({ opcode: 1, payload: fromHex('ed a0 80') }), 'WS_ERR_INVALID_UTF8', 1007);
  });

  it('maxPayload exceeded: WS_ERR_MESSAGE_TOO_BIG, 1009, from the declared length with only the header fed', () => {
    // 16-bit length, header only (8 bytes): no payload byte has arrived.
    const header = masked({ opcode: 2, declaredLength: 1001 });
    expect(header.length).toBe(8);
    rejects(header, 'WS_ERR_MESSAGE_TOO_BIG', 1009, { maxPayload: 1000 });
    // 64-bit length of 2^40 with the default limit: rejected before any allocation.
    const huge = masked({ opcode: 2, declaredLength: 2 ** 40 });
    expect(huge.length).toBe(14);
    rejects(huge, 'WS_ERR_MESSAGE_TOO_BIG', 1009);
    // A header that arrives in two pieces is rejected as soon as it is complete.
    rejects([header.slice(0, 3), header.slice(3)], 'WS_ERR_MESSAGE_TOO_BIG', 1009, { maxPayload: 1000 });
  });

  it('maxPayload exceeded by the sum of fragments: WS_ERR_MESSAGE_TOO_BIG, 1009, at the header that exceeds it', () => {
    rejects(
      [masked({ opcode: 1, fin: false, payload: utf8('x'.repeat(600)) }), masked({ opcode: 0, declaredLength: 401 })],
      'WS_ERR_MESSAGE_TOO_BIG',
      1009,
      { maxPayload: 1000 },
    );
  });

  it('maxFragments exceeded: WS_ERR_TOO_MANY_FRAGMENTS, 1008, at the header of the frame too many', () => {
    rejects(
      [
        masked({ opcode: 2, fin: false, payload: Uint8Array.of(1) }),
        masked({ opcode: 9 }), // control frames do not count
        masked({ opcode: 0, fin: false, payload: Uint8Array.of(2) }),
        masked({ opcode: 0, fin: false, payload: Uint8Array.of(3) }),
        masked({ opcode: 0, declaredLength: 1 }),
      ],
      'WS_ERR_TOO_MANY_FRAGMENTS',
      1008,
      { maxFragments: 3 },
    );
  });

  it('after an error the parser ignores all further input', () => {
    const { parser, handler } = makeParser();
    expectProtocolError(() => parser.push(fromHex('8100')), 'WS_ERR_UNMASKED_FRAME', 1002);
    parser.push(masked({ opcode: 1, payload: HELLO }));
    expect(handler.events).toEqual([]);
  });

  it('messages before the bad frame in the same chunk are delivered before the error is thrown', () => {
    const { parser, handler } = makeParser();
    const chunk = concat(
      masked({ opcode: 1, payload: utf8('one') }),
      masked({ opcode: 2, payload: Uint8Array.of(2) }),
      masked({ opcode: 9, payload: utf8('p') }),
      masked({ opcode: 1, payload: fromHex('c0 80') }),
      masked({ opcode: 1, payload: utf8('never') }),
    );
    expectProtocolError(() => parser.push(chunk), 'WS_ERR_INVALID_UTF8', 1007);
    expect(handler.events).toEqual([textEvent('one'), binaryEvent(Uint8Array.of(2)), controlEvent(9, utf8('p'))]);
  });

  it('a message before a protocol error (reserved opcode) in the same chunk is delivered first', () => {
    const { parser, handler } = makeParser();
    const chunk = concat(masked({ opcode: 1, payload: utf8('ok') }), masked({ opcode: 3 }));
    expectProtocolError(() => parser.push(chunk), 'WS_ERR_RESERVED_OPCODE', 1002);
    expect(handler.events).toEqual([textEvent('ok')]);
  });
});

describe('FrameParser: fail-fast UTF-8', () => {
  it('throws when the 2nd fragment of a text message arrives with a bad byte, before the final fragment', () => {
    const { parser, handler } = makeParser();
    parser.push(masked({ opcode: 1, fin: false, payload: utf8('Hel') }));
    const error = thrown(() => parser.push(masked({ opcode: 0, fin: false, payload: fromHex('6c ff') })));
    expect(error).toMatchObject({ code: 'WS_ERR_INVALID_UTF8', closeCode: 1007 });
    parser.push(masked({ opcode: 0, payload: utf8('lo') })); // ignored
    expect(handler.events).toEqual([]);
  });

  it('throws when a character begun in one fragment is broken in the next', () => {
    const { parser } = makeParser();
    parser.push(masked({ opcode: 1, fin: false, payload: fromHex('41 e2 82') }));
    expectProtocolError(
      () => parser.push(masked({ opcode: 0, fin: false, payload: fromHex('41') })),
      'WS_ERR_INVALID_UTF8',
      1007,
    );
  });

  it('throws on a surrogate in a middle fragment whose payload spans chunks', () => {
    const { parser } = makeParser();
    parser.push(masked({ opcode: 1, fin: false, payload: utf8('abc') }));
    const second = masked({ opcode: 0, fin: false, payload: concat(utf8('x'.repeat(50)), fromHex('ed a0 80'), utf8('y'.repeat(50))) });
    parser.push(second.slice(0, 6 + 30));
    expectProtocolError(() => parser.push(second.slice(36, 6 + 52)), 'WS_ERR_INVALID_UTF8', 1007);
  });

  it('throws on the piece of a large single frame that holds the bad byte, not before, not later', () => {
    const payload = utf8('a'.repeat(1000));
    payload[600] = 0xff;
    const bytes = masked({ opcode: 1, payload, mask: fromHex('11 22 33 44') });
    const headerSize = 8;
    const { parser, handler } = makeParser();
    expect(() => parser.push(bytes.slice(0, headerSize + 300))).not.toThrow();
    expect(() => parser.push(bytes.slice(headerSize + 300, headerSize + 600))).not.toThrow();
    expectProtocolError(
      () => parser.push(bytes.slice(headerSize + 600, headerSize + 601)),
      'WS_ERR_INVALID_UTF8',
      1007,
    );
    expect(handler.events).toEqual([]);
  });

  it('accepts characters split across payload pieces and across fragments', () => {
    const text = '€😀κόσμε€';
    const bytes = utf8(text);
    const { parser, handler } = makeParser();
    // Fragments cut inside characters, each fragment itself arriving in pieces.
    const f1 = masked({ opcode: 1, fin: false, payload: bytes.subarray(0, 2) });
    const f2 = masked({ opcode: 0, fin: false, payload: bytes.subarray(2, 9) });
    const f3 = masked({ opcode: 0, payload: bytes.subarray(9) });
    feed(parser, ...byteChunks(concat(f1, f2, f3)));
    expect(handler.events).toEqual([textEvent(text)]);
  });

  it('a truncated multi-byte sequence at the end of an unfragmented message: WS_ERR_INVALID_UTF8, 1007', () => {
    const { parser } = makeParser();
    expectProtocolError(() => parser.push(masked({ opcode: 1, payload: fromHex('48 69 e2 82') })), 'WS_ERR_INVALID_UTF8', 1007);
  });

  it('a truncated multi-byte sequence at the end of a fragmented message: WS_ERR_INVALID_UTF8, 1007 on the final frame', () => {
    const { parser } = makeParser();
    parser.push(masked({ opcode: 1, fin: false, payload: utf8('Hi') }));
    parser.push(masked({ opcode: 0, fin: false, payload: fromHex('f0 9f') }));
    expectProtocolError(() => parser.push(masked({ opcode: 0, payload: fromHex('98') })), 'WS_ERR_INVALID_UTF8', 1007);
  });

  it('a truncated multi-byte sequence at the end of a single frame arriving in pieces: 1007 on its last piece', () => {
    const bytes = masked({ opcode: 1, payload: concat(utf8('x'.repeat(200)), fromHex('e2 82')) });
    const { parser } = makeParser();
    parser.push(bytes.slice(0, 100));
    expectProtocolError(() => parser.push(bytes.slice(100)), 'WS_ERR_INVALID_UTF8', 1007);
  });

  it('a truncated sequence ending a fragment is fine when the next fragment completes it', () => {
    const { parser, handler } = makeParser();
    parser.push(masked({ opcode: 1, fin: false, payload: fromHex('e2 82') }));
    parser.push(masked({ opcode: 0, payload: fromHex('ac') }));
    expect(handler.events).toEqual([textEvent('€')]);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: any chunking of a stream of valid frames parses like the whole stream.

interface ControlSpec {
  opcode: 9 | 10;
  payload: Uint8Array;
}

interface MessageSpec {
  kind: 'message';
  isText: boolean;
  payload: Uint8Array;
  /** Byte offsets where the payload is split into fragments. */
  cuts: number[];
  /** Control frames after fragment i (index into the fragments). */
  controls: { after: number; frame: ControlSpec }[];
  maskSeed: number;
}

type Item = MessageSpec | { kind: 'control'; frame: ControlSpec; maskSeed: number };

const controlArb: fc.Arbitrary<ControlSpec> = fc.record({
  opcode: fc.constantFrom(9 as const, 10 as const),
  payload: fc.uint8Array({ maxLength: 125 }),
});

const sizeArb = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0, max: 130 }) },
  { weight: 3, arbitrary: fc.integer({ min: 126, max: 2000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 65530, max: 70000 }) },
);

const messageArb: fc.Arbitrary<MessageSpec> = fc
  .record({
    isText: fc.boolean(),
    size: sizeArb,
    text: unicodeString({ minLength: 1, maxLength: 12 }),
    seed: fc.nat(),
    cuts: fc.oneof(fc.constant([] as number[]), fc.array(fc.nat(), { maxLength: 4 })),
    controls: fc.array(fc.record({ after: fc.nat(), frame: controlArb }), { maxLength: 3 }),
    maskSeed: fc.nat(),
  })
  .map(({ isText, size, text, seed, cuts, controls, maskSeed }) => {
    let payload: Uint8Array;
    if (isText) {
      const unit = Buffer.from(text, 'utf8');
      const copies = Math.max(1, Math.ceil(size / unit.length));
      payload = new Uint8Array(Buffer.from(text.repeat(copies), 'utf8'));
    } else {
      payload = patternBytes(size, seed);
    }
    const points = [...new Set(cuts.map((c) => c % (payload.length + 1)))].sort((a, b) => a - b);
    return { kind: 'message' as const, isText, payload, cuts: points, controls, maskSeed };
  });

const itemArb: fc.Arbitrary<Item> = fc.oneof(
  { weight: 4, arbitrary: messageArb },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('control' as const), frame: controlArb, maskSeed: fc.nat() }) },
);

/** Serializes the items (masked, random keys) and returns the stream and the expected events. */
function build(items: readonly Item[]): { stream: Uint8Array; expected: ParserEvent[]; lengths: number[] } {
  const frames: Uint8Array[] = [];
  const lengths: number[] = [];
  const expected: ParserEvent[] = [];
  items.forEach((item, n) => {
    if (item.kind === 'control') {
      frames.push(masked({ opcode: item.frame.opcode, payload: item.frame.payload, mask: patternBytes(4, item.maskSeed) }));
      expected.push(controlEvent(item.frame.opcode, item.frame.payload));
      return;
    }
    const bounds = [0, ...item.cuts, item.payload.length];
    const fragments: Uint8Array[] = [];
    for (let i = 0; i + 1 < bounds.length; i++) fragments.push(item.payload.subarray(bounds[i], bounds[i + 1]));
    fragments.forEach((fragment, i) => {
      lengths.push(fragment.length);
      frames.push(
        masked({
          opcode: i === 0 ? (item.isText ? 1 : 2) : 0,
          fin: i === fragments.length - 1,
          payload: fragment,
          mask: patternBytes(4, item.maskSeed + i * 7 + n),
        }),
      );
      if (i < fragments.length - 1) {
        for (const c of item.controls) {
          if (c.after % (fragments.length - 1) !== i) continue;
          frames.push(masked({ opcode: c.frame.opcode, payload: c.frame.payload, mask: patternBytes(4, i + 99) }));
          expected.push(controlEvent(c.frame.opcode, c.frame.payload));
        }
      }
    });
    expected.push({ type: 'message', isText: item.isText, data: hex(item.payload) });
  });
  return { stream: concat(...frames), expected, lengths };
}

function parseAll(chunks: readonly Uint8Array[]): ParserEvent[] {
  const { parser, handler } = makeParser({ maxPayload: 1 << 20, maxFragments: 100 });
  for (const chunk of chunks) parser.push(chunk);
  return handler.events;
}

describe('FrameParser: chunking property', () => {
  it('parses any chunking of a valid frame stream exactly like the whole stream', () => {
    let sawLength16 = false;
    let sawLength64 = false;
    fc.assert(
      fc.property(
        fc.array(itemArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.nat(),
        fc.integer({ min: 0, max: 40 }),
        (items, cuts, oneByteStart, oneByteCount) => {
          const { stream, expected, lengths } = build(items);
          if (lengths.some((n) => n >= 126 && n <= 0xffff)) sawLength16 = true;
          if (lengths.some((n) => n > 0xffff)) sawLength64 = true;
          // Random cut points, plus a run of 1-byte chunks somewhere in the stream.
          const start = oneByteStart % (stream.length + 1);
          const allCuts = cuts.map((c) => c % (stream.length + 1));
          for (let i = 0; i <= oneByteCount; i++) allCuts.push(start + i);

          const whole = parseAll([stream.slice()]);
          expect(whole).toEqual(expected);
          const chunked = parseAll(splitAt(stream, allCuts)); // splitAt copies
          expect(chunked).toEqual(whole);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
    expect(sawLength16).toBe(true);
    expect(sawLength64).toBe(true);
  });

  it('parses a stream of small frames fed one byte at a time exactly like the whole stream', () => {
    const smallMessage = messageArb.filter((m) => m.payload.length <= 300);
    fc.assert(
      fc.property(
        fc.array(fc.oneof(smallMessage, fc.record({ kind: fc.constant('control' as const), frame: controlArb, maskSeed: fc.nat() })), {
          minLength: 1,
          maxLength: 5,
        }),
        (items) => {
          const { stream, expected } = build(items);
          expect(parseAll([stream.slice()])).toEqual(expected);
          expect(parseAll(byteChunks(stream))).toEqual(expected);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });
});

describe.each(['auto', 'typescript'] as const)('FrameParser: large masked payloads, %s masking kernel', (kind) => {
  beforeAll(() => {
    setMaskKernel(kind);
  });
  afterAll(() => {
    setMaskKernel('auto');
  });

  // A key with the high bit set, and distinct bytes: a wrong phase or byte order shows.
  const KEY = fromHex('f1 e2 d3 c4');

  it('a 70,000-byte frame (two SIMD windows) split at every offset of its header and mask, then in its payload', () => {
    const payload = patternBytes(70000, 21);
    const bytes = masked({ opcode: 2, payload, mask: KEY });
    for (let cut = 0; cut <= 14; cut++) {
      for (const second of [15, 16, 17, 270, 14 + 65536, 14 + 65537, bytes.length - 1]) {
        const { parser, handler } = makeParser();
        feed(parser, ...splitAt(bytes, [cut, second]));
        expect(handler.events, `cuts at ${cut} and ${second}`).toEqual([binaryEvent(payload)]);
      }
    }
  });

  it('a fragmented message whose fragments arrive whole in one chunk: unmasked into one buffer, control frames first', () => {
    const parts = [patternBytes(1000, 1), patternBytes(300, 2), patternBytes(0, 3), patternBytes(70001, 4), patternBytes(7, 5)];
    const frames = parts.map((part, i) =>
      masked({ fin: i === parts.length - 1, opcode: i === 0 ? 2 : 0, payload: part, mask: i % 2 === 0 ? KEY : RFC_MASK }),
    );
    const ping = masked({ opcode: 9, payload: patternBytes(125, 6), mask: KEY });
    const { parser, handler } = makeParser();
    parser.push(concat(frames[0]!, frames[1]!, ping, frames[2]!, frames[3]!, frames[4]!));
    expect(handler.events).toEqual([controlEvent(9, patternBytes(125, 6)), binaryEvent(concat(...parts))]);
  });

  it('a fragmented message split at every offset of its second fragment header and mask', () => {
    const first = patternBytes(4000, 7);
    const second = patternBytes(66000, 8);
    const bytes = concat(
      masked({ fin: false, opcode: 2, payload: first, mask: KEY }),
      masked({ fin: true, opcode: 0, payload: second, mask: RFC_MASK }),
    );
    const secondAt = 8 + first.length;
    for (let cut = secondAt; cut <= secondAt + 14; cut++) {
      const { parser, handler } = makeParser();
      feed(parser, ...splitAt(bytes, [cut, cut + 3000]));
      expect(handler.events, `cut at ${cut - secondAt}`).toEqual([binaryEvent(concat(first, second))]);
    }
  });

  it('text fragments whole in one chunk are still validated as they are copied: 1007 at the bad fragment', () => {
    const good = utf8('é'.repeat(200));
    const bad = concat(utf8('a'.repeat(299)), Uint8Array.of(0xff));
    const { parser, handler } = makeParser();
    expectProtocolError(
      () =>
        parser.push(
          concat(
            masked({ fin: false, opcode: 1, payload: good, mask: KEY }),
            masked({ fin: false, opcode: 0, payload: bad, mask: KEY }),
            masked({ fin: true, opcode: 0, payload: utf8('z'), mask: KEY }),
          ),
        ),
      'WS_ERR_INVALID_UTF8',
      1007,
    );
    expect(handler.events).toEqual([]);
  });
});
