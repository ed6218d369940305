import { describe, expect, it } from 'vitest';
import type { BrokerMessage } from '../../src/hub/broker.js';
import { StreamRing } from '../../src/hub/stream-ring.js';

const message = (n: number, size: number, extra: Partial<BrokerMessage> = {}): BrokerMessage => ({
  topic: 't',
  payload: new Uint8Array(size).fill(n & 0xff),
  opcode: n % 2 === 0 ? 0x1 : 0x2,
  key: undefined,
  ...extra,
});

/** The kept messages' first byte, length and opcode, oldest first. */
function contents(ring: StreamRing): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let i = 0; i < ring.length; i++) {
    const kept = ring.at(i, 't', { epoch: 'e', offset: i + 1 });
    expect(kept.payload.every((byte) => byte === kept.payload[0])).toBe(true);
    out.push([kept.payload[0] ?? -1, kept.payload.byteLength, kept.opcode]);
  }
  return out;
}

describe('StreamRing', () => {
  it('keeps the last messages, oldest first, with their bytes, opcode, key and except, across moves and growth', () => {
    const ring = new StreamRing();
    const expected: [number, number, number][] = [];
    // Sizes from 0 to 700 bytes, 10 kept: the 1 KiB buffer is outgrown and payloads move to its front many times.
    for (let n = 0; n < 1000; n++) {
      const size = (n * 37) % 701;
      ring.push(message(n, size), undefined);
      expected.push([size === 0 ? -1 : n & 0xff, size, n % 2 === 0 ? 0x1 : 0x2]);
      if (ring.length > 10) ring.shift();
      if (expected.length > 10) expected.shift();
      expect(contents(ring)).toEqual(expected);
    }
    const keyed = new StreamRing();
    keyed.push(message(1, 3, { key: 'k', except: 'c7' }), 'u:1');
    expect(keyed.at(0, 'room', { epoch: 'e', offset: 9 })).toEqual({
      topic: 'room',
      payload: new Uint8Array([1, 1, 1]),
      opcode: 0x2,
      key: 'k',
      except: 'c7',
      position: { epoch: 'e', offset: 9 },
    });
  });

  it('returns each forgotten message’s idempotency key, in order, and empties', () => {
    const ring = new StreamRing();
    for (let n = 0; n < 200; n++) ring.push(message(n, 5), n % 3 === 0 ? `id${n}` : undefined);
    const forgotten: (string | undefined)[] = [];
    while (ring.length > 0) forgotten.push(ring.shift());
    expect(forgotten).toEqual(Array.from({ length: 200 }, (_, n) => (n % 3 === 0 ? `id${n}` : undefined)));
    // Nothing kept: shift() forgets nothing and the ring stays empty.
    expect(ring.shift()).toBe(undefined);
    expect(ring.length).toBe(0);
    ring.push(message(7, 2), 'again');
    expect(contents(ring)).toEqual([[7, 2, 0x2]]);
  });

  it('gives a copy of the bytes: the appender reusing its buffer changes nothing kept, nor a reader its copy', () => {
    const ring = new StreamRing();
    const payload = new Uint8Array([1, 2, 3]);
    ring.push({ topic: 't', payload, opcode: 0x2, key: undefined }, undefined);
    payload.fill(9);
    const first = ring.at(0, 't', { epoch: 'e', offset: 1 });
    first.payload.fill(8);
    expect([...ring.at(0, 't', { epoch: 'e', offset: 1 }).payload]).toEqual([1, 2, 3]);
  });
});

describe('StreamRing buffer', () => {
  it('grows for a large message and gives the room back once it is trimmed', () => {
    const ring = new StreamRing();
    expect(ring.byteCapacity).toBe(1024);
    ring.push(message(1, 100_000), undefined);
    expect(ring.byteCapacity).toBe(262_144);
    expect(ring.shift()).toBe(undefined);
    // Small messages, 3 kept: once the end is reached, the buffer shrinks to what they need.
    for (let n = 0; n < 3000; n++) {
      ring.push(message(n, 100), undefined);
      if (ring.length > 3) ring.shift();
    }
    expect(ring.byteCapacity).toBe(1024);
    expect(contents(ring)).toEqual([2997, 2998, 2999].map((n) => [n & 0xff, 100, n % 2 === 0 ? 0x1 : 0x2]));
  });
});

describe('StreamRing table', () => {
  it('keeps one table while the number kept stays put, doubles it when full, and halves it at a quarter used', () => {
    const ring = new StreamRing();
    expect(ring.slotCapacity).toBe(16);
    // A stream at its history's size (100): the table is sized once, then nothing is replaced.
    const seen = new Set<number>();
    for (let n = 0; n < 5000; n++) {
      ring.push(message(n, 20), n % 7 === 0 ? `k${n}` : undefined);
      if (ring.length > 100) expect(ring.shift()).toBe((n - 100) % 7 === 0 ? `k${n - 100}` : undefined);
      seen.add(ring.slotCapacity);
    }
    expect([...seen]).toEqual([16, 32, 64, 128]);
    expect(contents(ring).map(([first]) => first)).toEqual(Array.from({ length: 100 }, (_, i) => (4900 + i) & 0xff));
    // The history made shorter: the table follows it down, never below 16 slots.
    const sizes: number[] = [];
    while (ring.length > 1) {
      ring.shift();
      if (sizes.at(-1) !== ring.slotCapacity) sizes.push(ring.slotCapacity);
    }
    expect(sizes).toEqual([128, 64, 32, 16]);
    expect(contents(ring)).toEqual([[4999 & 0xff, 20, 0x2]]);
  });
});
