/**
 * testkit's incremental frame reader: every way of cutting a stream into chunks gives the same
 * frames, at every length form (RFC 6455 5.2), masked or not, and nothing it hands out shares
 * memory with the chunks (the benchmark generator reuses one read buffer for every socket).
 */

import { describe, expect, it } from 'vitest';
import { FrameCollector, FrameReader, OP, buildFrame, readFrames, type Frame } from '../../testkit/index.js';

const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

const STREAM = [
  buildFrame({ opcode: OP.TEXT, payload: 'Hel', fin: false, mask: MASK }),
  buildFrame({ opcode: OP.PING, payload: '' }),
  buildFrame({ opcode: OP.CONT, payload: 'lo', mask: MASK }),
  buildFrame({ opcode: OP.BINARY, payload: Buffer.alloc(300, 0xab), rsv: 0b100 }),
  buildFrame({ opcode: OP.BINARY, payload: Buffer.alloc(70_000, 0xcd), mask: MASK }),
  buildFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe8]) }),
];
const BYTES = Buffer.concat(STREAM);

function summary(frame: Frame): string {
  return `${frame.fin} ${frame.rsv} ${frame.opcode} ${frame.masked} ${frame.mask.toString('hex')} ${frame.payload.length}:${frame.payload.subarray(0, 8).toString('hex')}`;
}

/** Feeds `bytes` in chunks of `size`, each chunk a reused buffer overwritten after the push. */
function readInChunks(bytes: Buffer, size: number): Frame[] {
  const frames: Frame[] = [];
  const reader = new FrameCollector((frame) => frames.push(frame));
  const scratch = Buffer.alloc(size);
  for (let at = 0; at < bytes.length; at += size) {
    const n = bytes.copy(scratch, 0, at, at + size);
    reader.push(scratch.subarray(0, n));
    scratch.fill(0xee);
  }
  expect(reader.inFrame).toBe(false);
  return frames;
}

describe('FrameCollector', () => {
  it('reads every frame whole: header bits, key, unmasked payload, the raw bytes', () => {
    const { frames, complete } = readFrames(BYTES);
    expect(complete).toBe(true);
    // Buffer.equals: toEqual walks 70 KB byte by byte.
    expect(frames.map((frame, i) => frame.raw.equals(STREAM[i]!))).toEqual(STREAM.map(() => true));
    expect(frames[0]).toMatchObject({ fin: false, rsv: 0, opcode: OP.TEXT, masked: true, mask: MASK });
    expect(frames[0]!.payload.toString()).toBe('Hel');
    expect(frames[1]).toMatchObject({ fin: true, opcode: OP.PING, masked: false, mask: Buffer.alloc(0), payload: Buffer.alloc(0) });
    expect(frames[2]!.payload.toString()).toBe('lo');
    expect(frames[3]).toMatchObject({ rsv: 0b100, opcode: OP.BINARY, payload: Buffer.alloc(300, 0xab) });
    expect(frames[4]!.payload.equals(Buffer.alloc(70_000, 0xcd))).toBe(true);
    expect(frames[5]!.payload).toEqual(Buffer.from([0x03, 0xe8]));
  });

  it.each([1, 2, 3, 5, 13, 14, 127, 4096, 65536])('the same frames from chunks of %i bytes, with the chunks reused', (size) => {
    expect(readInChunks(BYTES, size).map(summary)).toEqual(readFrames(BYTES).frames.map(summary));
  });

  it('every split point of a 64-bit masked header gives the same frame', () => {
    const frame = buildFrame({ opcode: OP.BINARY, payload: Buffer.alloc(65536, 1), mask: MASK });
    for (let cut = 1; cut < 15; cut++) {
      const frames: Frame[] = [];
      const reader = new FrameCollector((f) => frames.push(f));
      reader.push(frame.subarray(0, cut));
      expect(frames).toEqual([]);
      expect(reader.inFrame).toBe(true);
      reader.push(frame.subarray(cut));
      expect(frames).toHaveLength(1);
      expect(frames[0]!.raw.equals(frame)).toBe(true);
      expect(frames[0]!.payload.equals(Buffer.alloc(65536, 1))).toBe(true);
    }
  });

  it('readFrames stops at a frame the bytes end inside', () => {
    const { frames, complete } = readFrames(BYTES.subarray(0, BYTES.length - 1));
    expect(frames).toHaveLength(STREAM.length - 1);
    expect(complete).toBe(false);
    expect(readFrames(Buffer.from([0x81])).complete).toBe(false);
  });
});

describe('FrameReader', () => {
  it('copies only what onHeader() asks to keep, and hands the rest over as null', () => {
    const seen: Array<string> = [];
    class Counter extends FrameReader {
      protected onHeader(): boolean {
        return this.opcode >= 0x8;
      }
      protected onFrame(payload: Buffer | null): void {
        seen.push(`${this.opcode}:${this.length}:${payload === null ? 'null' : this.unmask(payload).toString('hex')}`);
      }
    }
    new Counter().push(BYTES);
    expect(seen).toEqual(['1:3:null', '9:0:', '0:2:null', '2:300:null', '2:70000:null', '8:2:03e8']);
  });
});
