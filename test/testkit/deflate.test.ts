/**
 * testkit's permessage-deflate helpers against the examples of RFC 7692 7.2.3.
 */

import { describe, expect, it } from 'vitest';
import { DEFLATE_TAIL, MessageDeflater, MessageInflater, compressMessage, deflateBomb, inflateMessage } from '../../testkit/index.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');

describe('permessage-deflate on the test side (RFC 7692 7.2.3)', () => {
  it('"Hello" from a fresh context is f2 48 cd c9 c9 07 00, and inflates back (7.2.3.1)', () => {
    expect(compressMessage('Hello')).toEqual(hex('f2 48 cd c9 c9 07 00'));
    expect(inflateMessage(hex('f2 48 cd c9 c9 07 00')).toString()).toBe('Hello');
    expect(DEFLATE_TAIL).toEqual(hex('00 00 ff ff'));
  });

  it('with context takeover the second "Hello" is f2 00 11 00 00 (7.2.3.2)', async () => {
    const deflater = new MessageDeflater();
    const inflater = new MessageInflater();
    try {
      const first = await deflater.deflate('Hello');
      const second = await deflater.deflate('Hello');
      expect(first).toEqual(hex('f2 48 cd c9 c9 07 00'));
      expect(second).toEqual(hex('f2 00 11 00 00'));
      expect((await inflater.inflate(first)).toString()).toBe('Hello');
      expect((await inflater.inflate(second)).toString()).toBe('Hello');
    } finally {
      deflater.close();
      inflater.close();
    }
  });

  it('refuses window bits zlib cannot honour for raw deflate', () => {
    expect(() => compressMessage('x', { windowBits: 8 })).toThrow('unsupported window bits 8');
    expect(inflateMessage(compressMessage('x'.repeat(1000), { windowBits: 9 }), 9).toString()).toBe('x'.repeat(1000));
  });

  it('an inflater rejects bytes that are not DEFLATE', async () => {
    const inflater = new MessageInflater();
    try {
      await expect(inflater.inflate(hex('ff ff ff ff'))).rejects.toThrow();
    } finally {
      inflater.close();
    }
  });

  it('a bomb of 2 MiB: about 1 KiB a MiB, no sync-flush tail, inflates to zeros', () => {
    const bomb = deflateBomb(2);
    expect(bomb.length).toBeLessThan(2 * 1100);
    expect(bomb.subarray(-4).equals(DEFLATE_TAIL)).toBe(false);
    expect(inflateMessage(bomb).equals(Buffer.alloc(2 * 1024 * 1024))).toBe(true);
  });
});
