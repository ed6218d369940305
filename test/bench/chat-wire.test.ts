/**
 * The chat generator's frame scanner (bench/lib/chat-wire.ts): server frames of every length form
 * (7, 16 and 64 bits), cut anywhere across reads, come out whole and in order, wherever they lie;
 * and what it refuses (masked, fragmented or RSV frames from a server).
 */

import { describe, expect, it } from 'vitest';
import { TextFrameScanner, type TextFrameSink } from '../../bench/lib/chat-wire.js';
import { OP, buildFrame, unmaskedFrame } from '../../testkit/index.js';

function collector(): { sink: TextFrameSink; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    sink: {
      text: (buf, start, end) => void seen.push(`text:${buf.toString('latin1', start, end)}`),
      control: (opcode, payload) => void seen.push(`control ${opcode}:${payload.toString('latin1')}`),
    },
  };
}

const texts = ['2', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(300), 'w'.repeat(70_000), '42["chat",{"content":"~t000000000001~u000002~"}]'];
const stream = Buffer.concat([
  ...texts.slice(0, 3).map((text) => unmaskedFrame(OP.TEXT, text)),
  unmaskedFrame(OP.PING, 'ping!'),
  ...texts.slice(3).map((text) => unmaskedFrame(OP.TEXT, text)),
]);
const expected = [...texts.slice(0, 3).map((t) => `text:${t}`), `control ${OP.PING}:ping!`, ...texts.slice(3).map((t) => `text:${t}`)];

describe('TextFrameScanner', () => {
  it('reads every frame of one chunk in place', () => {
    const { sink, seen } = collector();
    new TextFrameScanner(sink).push(stream);
    expect(seen).toEqual(expected);
  });

  it('reads the same frames from two chunks cut at any byte', () => {
    // Every cut in the small frames' region, and a spread of cuts across the large ones.
    const cuts = [...Array.from({ length: 700 }, (_, i) => i), ...Array.from({ length: 200 }, (_, i) => 700 + i * 353)];
    for (const cut of cuts.filter((c) => c <= stream.length)) {
      const { sink, seen } = collector();
      const scanner = new TextFrameScanner(sink);
      scanner.push(stream.subarray(0, cut));
      scanner.push(stream.subarray(cut));
      expect(seen, `cut at ${cut}`).toEqual(expected);
      expect(scanner.inFrame).toBe(false);
    }
  });

  it('reads the same frames from one-byte chunks, and from a reused read buffer', () => {
    const { sink, seen } = collector();
    const scanner = new TextFrameScanner(sink);
    const shared = Buffer.alloc(7);
    for (let i = 0; i < stream.length; i += 7) {
      const n = stream.copy(shared, 0, i, Math.min(i + 7, stream.length));
      scanner.push(shared.subarray(0, n));
      shared.fill(0xff); // the generator's read buffer is overwritten by the next read
    }
    expect(seen).toEqual(expected);
    const single = collector();
    const bytewise = new TextFrameScanner(single.sink);
    for (let i = 0; i < stream.length - 1; i++) bytewise.push(stream.subarray(i, i + 1));
    expect(single.seen).toEqual(expected.slice(0, -1));
    expect(bytewise.inFrame).toBe(true);
    bytewise.push(stream.subarray(stream.length - 1));
    expect(single.seen).toEqual(expected);
    expect(bytewise.inFrame).toBe(false);
  });

  it('refuses what a server must not send', () => {
    const refuse = (frame: Buffer): void => new TextFrameScanner(collector().sink).push(frame);
    expect(() => refuse(buildFrame({ opcode: OP.TEXT, payload: 'a', mask: 'random' }))).toThrow(/masked/);
    expect(() => refuse(buildFrame({ opcode: OP.TEXT, payload: 'a', fin: false }))).toThrow(/fragmented/);
    expect(() => refuse(buildFrame({ opcode: OP.TEXT, payload: 'a', rsv1: true }))).toThrow(/RSV/);
    expect(() => refuse(buildFrame({ opcode: OP.BINARY, payload: 'a' }))).toThrow(/opcode 2/);
  });
});
