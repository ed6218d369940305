/**
 * testkit's frame builder against the examples of RFC 6455 5.7 and the length forms of 5.2: the
 * oracle the library's bytes are compared against must itself be right.
 */

import { describe, expect, it } from 'vitest';
import { OP, buildFrame, closePayload, maskedFrame, parseClose, randomMask, repeatFrame, unmaskedFrame } from '../../testkit/index.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');
const RFC_MASK = hex('37fa213d');

describe('buildFrame (RFC 6455 5.7)', () => {
  it('a single-frame unmasked text message', () => {
    expect(unmaskedFrame(OP.TEXT, 'Hello')).toEqual(hex('81 05 48 65 6c 6c 6f'));
  });

  it('a single-frame masked text message', () => {
    expect(maskedFrame(OP.TEXT, 'Hello', { mask: RFC_MASK })).toEqual(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'));
  });

  it('a fragmented unmasked text message', () => {
    expect(buildFrame({ opcode: OP.TEXT, payload: 'Hel', fin: false })).toEqual(hex('01 03 48 65 6c'));
    expect(buildFrame({ opcode: OP.CONT, payload: 'lo' })).toEqual(hex('80 02 6c 6f'));
  });

  it('an unmasked ping and a masked pong', () => {
    expect(unmaskedFrame(OP.PING, 'Hello')).toEqual(hex('89 05 48 65 6c 6c 6f'));
    expect(buildFrame({ opcode: OP.PONG, payload: 'Hello', mask: RFC_MASK })).toEqual(hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'));
  });

  it('256 bytes take the 16-bit length, 64 KiB the 64-bit one', () => {
    const small = buildFrame({ opcode: OP.BINARY, payload: Buffer.alloc(256, 7) });
    expect(small.subarray(0, 4)).toEqual(hex('82 7e 01 00'));
    expect(small.length).toBe(4 + 256);
    const large = buildFrame({ opcode: OP.BINARY, payload: Buffer.alloc(65536, 7) });
    expect(large.subarray(0, 10)).toEqual(hex('82 7f 00 00 00 00 00 01 00 00'));
    expect(large.length).toBe(10 + 65536);
  });

  it('the boundaries of each length form: 125, 126, 65535, 65536', () => {
    const header = (n: number, mask?: Buffer): Buffer =>
      buildFrame({ opcode: OP.BINARY, payload: Buffer.alloc(n), ...(mask ? { mask } : {}) }).subarray(0, mask ? 14 : 10);
    expect(header(125).subarray(0, 2)).toEqual(hex('82 7d'));
    expect(header(126).subarray(0, 4)).toEqual(hex('82 7e 00 7e'));
    expect(header(65535).subarray(0, 4)).toEqual(hex('82 7e ff ff'));
    expect(header(65536).subarray(0, 10)).toEqual(hex('82 7f 0000000000010000'));
    expect(header(65536, RFC_MASK)).toEqual(hex('82 ff 0000000000010000 37fa213d'));
  });

  it('any FIN, RSV and opcode bits, and masking leaves the payload passed in unchanged', () => {
    const payload = Buffer.from('abc');
    const frame = buildFrame({ opcode: 0xf, payload, fin: false, rsv: 0b101, mask: RFC_MASK });
    expect(frame[0]).toBe(0x5f);
    expect(frame[1]).toBe(0x83);
    expect(payload.toString()).toBe('abc');
    expect(frame.subarray(6)).toEqual(Buffer.from([0x61 ^ 0x37, 0x62 ^ 0xfa, 0x63 ^ 0x21]));
  });

  it('forced length forms and declared lengths, for non-minimal and lying headers', () => {
    expect(buildFrame({ opcode: OP.BINARY, payload: 'ab', lengthBits: 16 })).toEqual(hex('82 7e 0002 6162'));
    expect(buildFrame({ opcode: OP.BINARY, lengthBits: 64, declaredLength: 126 })).toEqual(hex('82 7f 000000000000007e'));
    expect(buildFrame({ opcode: OP.BINARY, declaredLength: 2 ** 40, mask: RFC_MASK })).toEqual(hex('82 ff 0000010000000000 37fa213d'));
    expect(buildFrame({ opcode: OP.TEXT, payload: 'Hello', declaredLength: 1 })).toEqual(hex('81 01 48 65 6c 6c 6f'));
  });

  it('RSV bits one by one (src FrameSpec names) or as 0b0RRR, OR-ed', () => {
    expect(buildFrame({ opcode: OP.TEXT, rsv1: true })[0]).toBe(0xc1);
    expect(buildFrame({ opcode: OP.TEXT, rsv2: true, rsv3: true })[0]).toBe(0xb1);
    expect(buildFrame({ opcode: OP.TEXT, rsv: 0b010, rsv1: true })[0]).toBe(0xe1);
  });

  it('refuses a masking key that is not 4 bytes', () => {
    expect(() => buildFrame({ opcode: OP.TEXT, mask: Buffer.alloc(3) })).toThrow('a masking key is 4 bytes, got 3');
  });

  it("'random' masks with a fresh key from the pool, and RSV1 with rsv1", () => {
    const a = maskedFrame(OP.TEXT, 'x', { rsv1: true });
    const b = maskedFrame(OP.TEXT, 'x');
    expect(a[0]).toBe(0xc1);
    expect(b[0]).toBe(0x81);
    expect(a[1]).toBe(0x81);
    expect(a[6]! ^ a[2]!).toBe(0x78);
    expect(randomMask()).toHaveLength(4);
  });
});

describe('close payloads and repeated frames', () => {
  it('code and reason in, code and reason out; 1005 without a code (RFC 6455 7.1.5)', () => {
    expect(closePayload(1000, 'é')).toEqual(hex('03 e8 c3 a9'));
    expect(parseClose(closePayload(4000, 'bye'))).toEqual({ code: 4000, reason: 'bye' });
    expect(parseClose(Buffer.alloc(0))).toEqual({ code: 1005, reason: '' });
  });

  it('repeatFrame puts copies back to back', () => {
    expect(repeatFrame(hex('81 01 61'), 3)).toEqual(hex('810161 810161 810161'));
  });
});
