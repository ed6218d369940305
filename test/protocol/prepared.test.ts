import { describe, expect, it } from 'vitest';
import { WebSocketError } from '../../src/protocol/errors.js';
import { prepareFrame } from '../../src/protocol/prepared.js';
import { frame, fromHex, hex, patternBytes, utf8 } from './helpers.js';

describe('prepareFrame', () => {
  it('frames "Hello" as RFC 6455 5.7\'s single-frame unmasked text message', () => {
    const prepared = prepareFrame(true, utf8('Hello'));
    expect(hex(prepared.frame)).toBe('810548656c6c6f');
    expect(prepared.firstByte).toBe(0x81);
    expect(hex(prepared.payload)).toBe('48656c6c6f');
    expect(prepared.deflateWindowBits).toBeUndefined();
    expect('deflateWindowBits' in prepared).toBe(false);
  });

  it('frames RFC 7692 7.2.3.1\'s compressed "Hello" with RSV1 set and keeps the window bits', () => {
    const prepared = prepareFrame(true, fromHex('f2 48 cd c9 c9 07 00'), 15);
    expect(hex(prepared.frame)).toBe('c107f248cdc9c90700');
    expect(prepared.firstByte).toBe(0xc1);
    expect(hex(prepared.payload)).toBe('f248cdc9c90700');
    expect(prepared.deflateWindowBits).toBe(15);
  });

  it('frames binary with opcode 2', () => {
    expect(hex(prepareFrame(false, fromHex('00 ff')).frame)).toBe('820200ff');
    expect(hex(prepareFrame(false, fromHex('00 ff'), 9).frame)).toBe('c20200ff');
    expect(hex(prepareFrame(false, new Uint8Array(0)).frame)).toBe('8200');
  });

  it('uses 16- and 64-bit lengths at the RFC 6455 5.2 boundaries, like the reference builder', () => {
    for (const length of [125, 126, 65535, 65536]) {
      const payload = patternBytes(length, length);
      const prepared = prepareFrame(false, payload);
      expect(Buffer.compare(prepared.frame, frame({ opcode: 2, payload })), `length ${length}`).toBe(0);
      expect(prepared.payload.length).toBe(length);
    }
  });

  it('copies the payload, and the payload view shares the frame\'s memory', () => {
    const source = utf8('Hello');
    const prepared = prepareFrame(true, source);
    source[0] = 0x4a;
    expect(hex(prepared.frame)).toBe('810548656c6c6f');
    expect(prepared.payload.buffer).toBe(prepared.frame.buffer);
    expect(prepared.payload.byteOffset).toBe(prepared.frame.byteOffset + 2);
  });

  it('rejects window bits outside RFC 7692 7.1.2.1\'s 8-15 and a payload that is not bytes', () => {
    for (const bits of [7, 16, 8.5, Number.NaN]) {
      expect(() => prepareFrame(true, utf8('x'), bits)).toThrow(WebSocketError);
      try {
        prepareFrame(true, utf8('x'), bits);
      } catch (error) {
        expect((error as WebSocketError).code).toBe('WS_ERR_INVALID_ARGUMENT');
      }
    }
    expect(() => prepareFrame(true, 'Hello' as unknown as Uint8Array)).toThrow(/Uint8Array/);
    expect(prepareFrame(true, utf8('x'), 8).deflateWindowBits).toBe(8);
  });
});
