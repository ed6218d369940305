import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { deflateFresh } from '../../src/hub/encoder.js';
import { Hub } from '../../src/hub/hub.js';
import type { DeflateAgreement } from '../../src/protocol/permessage-deflate.js';
import { FakeConnection, decodeFrame } from './fake-connection.js';

const LONG = 'the quick brown fox jumps over the lazy dog; '.repeat(50); // 2250 bytes, compressible

/** Incompressible bytes, the same on every run (seeded). */
function noise(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function subscriber(hub: Hub<FakeConnection>, deflate?: Partial<DeflateAgreement>): FakeConnection {
  const conn = new FakeConnection(deflate === undefined ? { fast: true } : { fast: true, deflate });
  hub.add(conn);
  hub.subscribe(conn, 't');
  return conn;
}

describe('deflateFresh', () => {
  it('compresses "Hello" to RFC 7692 7.2.3.1\'s bytes: fresh context, sync flush, 00 00 ff ff removed', () => {
    expect(hexOf(deflateFresh(Buffer.from('Hello'), 15, 6, 8)!)).toBe('f248cdc9c90700');
  });

  it('compresses the same bytes the same way each time: no context is carried over (RFC 7692 7.2.3.2 would shrink a repeat)', () => {
    const first = deflateFresh(Buffer.from('Hello'), 15, 6, 8)!;
    const second = deflateFresh(Buffer.from('Hello'), 15, 6, 8)!;
    expect(hexOf(second)).toBe(hexOf(first));
  });

  it('window bits 8: Node compresses with zlib\'s 9-bit window, which refers at most 250 bytes back, so an 8-bit peer decodes it', () => {
    // A random block repeated at distance d compresses to about d bytes if the repeat is matched,
    // and to about 2d if it is not. zlib's longest distance is its window minus 262 (MIN_LOOKAHEAD).
    const repeatedAt = (distance: number, bits: number): number => {
      const block = noise(distance, distance * 31 + bits);
      return deflateFresh(Buffer.concat([block, block]), bits, 6, 8)!.length / distance;
    };
    expect(repeatedAt(200, 8)).toBeLessThan(1.3);
    expect(repeatedAt(250, 8)).toBeLessThan(1.3);
    for (const distance of [251, 256, 300, 400, 511]) expect(repeatedAt(distance, 8), `distance ${distance}`).toBeGreaterThan(1.9);
    // The same check sees matches where the window allows them: 1024 - 262 = 762 for 10 bits.
    expect(repeatedAt(300, 10)).toBeLessThan(1.3);
    expect(repeatedAt(762, 10)).toBeLessThan(1.3);
    expect(repeatedAt(763, 10)).toBeGreaterThan(1.9);
    // And Node does upgrade 8 to 9 rather than throw (zlib >= 1.2.9 rejects 8 for raw deflate).
    expect(() => deflateRawSync(Buffer.from('x'), { windowBits: 8 })).not.toThrow();
  });
});

describe('publish with permessage-deflate: compressed once per window size', () => {
  it('groups subscribers by their window bits; every group decodes the same text; no-compression peers get the plain frame', () => {
    const hub = new Hub<FakeConnection>();
    const plain = subscriber(hub);
    const wide = [subscriber(hub, { ourNoContextTakeover: true }), subscriber(hub, { ourNoContextTakeover: true })];
    const ten = subscriber(hub, { ourNoContextTakeover: true, ourMaxWindowBits: 10 });
    const eight = [
      subscriber(hub, { ourNoContextTakeover: true, ourMaxWindowBits: 8 }),
      subscriber(hub, { ourNoContextTakeover: true, ourMaxWindowBits: 8, theirMaxWindowBits: 9 }),
    ];
    const result = hub.publish('t', LONG);
    expect(result).toEqual({ recipients: 6, queued: 6, dropped: 0, closed: 0 });

    const plainFrame = plain.frames[0]!;
    expect(plainFrame.deflateWindowBits).toBeUndefined();
    expect(decodeFrame(plainFrame, null)).toMatchObject({ compressed: false, text: LONG, opcode: 1 });

    // One compression per window size: the same frame object for every member of a group.
    expect(wide[1]!.frames[0]).toBe(wide[0]!.frames[0]);
    expect(eight[1]!.frames[0]).toBe(eight[0]!.frames[0]);
    const groups = [wide[0]!, ten, eight[0]!].map((c) => c.frames[0]!);
    expect(new Set(groups).size).toBe(3);
    expect(groups.map((f) => f.deflateWindowBits)).toEqual([15, 10, 8]);
    for (const conn of [...wide, ten, ...eight]) {
      const decoded = decodeFrame(conn.frames[0]!, conn.deflateAgreement);
      expect(decoded.compressed).toBe(true);
      expect(decoded.opcode).toBe(1);
      expect(decoded.text).toBe(LONG);
      expect(conn.frames[0]!.frame.length).toBeLessThan(LONG.length / 5);
    }
  });

  it('the frames it hands over, plain and compressed, are Buffers: a socket writes them as they are, with no view made per write', () => {
    const hub = new Hub<FakeConnection>();
    const plain = subscriber(hub);
    const compressed = subscriber(hub, { ourNoContextTakeover: true });
    hub.publish('t', LONG);
    hub.publish('t', 'short');
    for (const frame of [...plain.frames, ...compressed.frames]) expect(Buffer.isBuffer(frame.frame)).toBe(true);
    expect(compressed.frames[0]!.deflateWindowBits).toBe(15);
    expect(compressed.frames[1]).toBe(plain.frames[1]);
  });

  it('topic option noContextTakeover: false (default): a connection that keeps context takeover compresses the broadcast itself (send())', () => {
    const hub = new Hub<FakeConnection>();
    const takeover = [subscriber(hub, { ourNoContextTakeover: false }), subscriber(hub, { ourNoContextTakeover: false })];
    const noTakeover = subscriber(hub, { ourNoContextTakeover: true });
    const result = hub.publish('t', LONG);
    expect(result).toEqual({ recipients: 3, queued: 3, dropped: 0, closed: 0 });
    for (const conn of takeover) {
      // Through the connection's own path, as text, the UTF-8 bytes the hub encoded once.
      expect(conn.frames[0]!.own).toBe(true);
      expect(decodeFrame(conn.frames[0]!, conn.deflateAgreement)).toMatchObject({ opcode: 1, text: LONG });
    }
    expect(takeover[0]!.frames[0]!.payload).toEqual(takeover[1]!.frames[0]!.payload);
    expect(noTakeover.frames[0]!.own).toBeUndefined();
    expect(decodeFrame(noTakeover.frames[0]!, noTakeover.deflateAgreement)).toMatchObject({ compressed: true, text: LONG });
  });

  it('binary broadcasts go through the own path as binary; messages under the threshold still share the plain frame', () => {
    const hub = new Hub<FakeConnection>();
    const takeover = subscriber(hub, {});
    const plain = subscriber(hub);
    hub.publish('t', Buffer.from(LONG));
    hub.publish('t', 'short');
    expect(takeover.frames[0]!.own).toBe(true);
    expect(decodeFrame(takeover.frames[0]!, takeover.deflateAgreement)).toMatchObject({ opcode: 2, text: LONG });
    // Under deflateThreshold nothing is compressed: the one plain frame serves everyone.
    expect(takeover.frames[1]).toBe(plain.frames[1]);
    expect(hexOf(takeover.frames[1]!.frame)).toBe('8105' + Buffer.from('short').toString('hex'));
  });

  it('keeps call order on one connection across its own-compressor sends and shared frames', () => {
    const hub = new Hub<FakeConnection>();
    hub.configure('shared', { noContextTakeover: true });
    const conn = subscriber(hub, {});
    hub.subscribe(conn, 'shared');
    const texts = ['a', 'b', 'c', 'd'].map((letter) => letter + LONG);
    hub.publish('t', texts[0]!);
    hub.publish('shared', texts[1]!);
    hub.send(conn, texts[2]!);
    hub.publish('t', texts[3]!);
    expect(conn.frames.map((frame) => (frame.own === true ? 'own' : frame.deflateWindowBits))).toEqual(['own', 15, 'own', 'own']);
    expect(conn.receivedTexts()).toEqual(texts);
  });

  it("counts a message the connection compresses itself at its uncompressed frame size in the queue and in drop events", () => {
    const hub = new Hub<FakeConnection>({ lowWatermark: 1, maxQueuedBytes: 2 * (LONG.length + 4) });
    hub.configure('t', { policy: 'drop-new' });
    const conn = new FakeConnection({ deflate: {} });
    hub.add(conn);
    hub.subscribe(conn, 't');
    const drops: number[] = [];
    hub.on('drop', ({ bytes }) => drops.push(bytes));
    hub.publish('t', LONG); // written: bufferedAmount is now above the watermark
    hub.publish('t', LONG);
    hub.publish('t', LONG);
    expect(hub.queued(conn)).toEqual({ messages: 2, bytes: 2 * (LONG.length + 4) });
    expect(hub.publish('t', LONG)).toEqual({ recipients: 1, queued: 0, dropped: 1, closed: 0 });
    // 2250 bytes of payload: a 4-byte header (RFC 6455 5.2, 16-bit length).
    expect(drops).toEqual([LONG.length + 4]);
    conn.flush();
  });

  it('topic option noContextTakeover: true gives them the shared fresh-context frame too', () => {
    const hub = new Hub<FakeConnection>();
    hub.configure('t', { noContextTakeover: true });
    const takeover = subscriber(hub, { ourNoContextTakeover: false });
    const noTakeover = subscriber(hub, { ourNoContextTakeover: true });
    hub.publish('t', LONG);
    expect(takeover.frames[0]).toBe(noTakeover.frames[0]);
    expect(decodeFrame(takeover.frames[0]!, takeover.deflateAgreement)).toMatchObject({ compressed: true, text: LONG });
  });

  it('the hub-wide topic default applies to every topic', () => {
    const hub = new Hub<FakeConnection>({ topic: { noContextTakeover: true } });
    const takeover = subscriber(hub, {});
    hub.publish('t', LONG);
    expect(takeover.frames[0]!.deflateWindowBits).toBe(15);
  });

  it('leaves messages under deflateThreshold (default 1024) uncompressed', () => {
    const hub = new Hub<FakeConnection>();
    const a = subscriber(hub, { ourNoContextTakeover: true });
    hub.publish('t', 'a'.repeat(1023));
    hub.publish('t', 'a'.repeat(1024));
    expect(a.frames.map((f) => f.deflateWindowBits)).toEqual([undefined, 15]);
    const low = new Hub<FakeConnection>({ deflateThreshold: 5 });
    const b = subscriber(low, { ourNoContextTakeover: true });
    low.publish('t', 'a'.repeat(20));
    expect(b.frames[0]!.deflateWindowBits).toBe(15);
    expect(decodeFrame(b.frames[0]!, b.deflateAgreement)).toMatchObject({ compressed: true, text: 'a'.repeat(20) });
    // "Hello" deflates to 7 bytes (RFC 7692 7.2.3.1), more than its 5: it goes uncompressed.
    low.publish('t', 'Hello');
    expect(hexOf(b.frames[1]!.frame)).toBe('810548656c6c6f');
  });

  it('sends a message uncompressed when compressing would not make it smaller', () => {
    const hub = new Hub<FakeConnection>();
    const a = subscriber(hub, { ourNoContextTakeover: true });
    const data = noise(4096, 1);
    hub.publish('t', data);
    expect(a.frames[0]!.deflateWindowBits).toBeUndefined();
    expect(Buffer.compare(decodeFrame(a.frames[0]!, a.deflateAgreement).data, data)).toBe(0);
  });

  it('compresses binary messages too, keeping opcode 2', () => {
    const hub = new Hub<FakeConnection>();
    const a = subscriber(hub, { ourNoContextTakeover: true, ourMaxWindowBits: 9 });
    const data = Buffer.from(LONG);
    hub.publish('t', data);
    const decoded = decodeFrame(a.frames[0]!, a.deflateAgreement);
    expect(decoded).toMatchObject({ compressed: true, opcode: 2 });
    expect(Buffer.compare(decoded.data, data)).toBe(0);
  });

  it("send() gives a connection without context takeover the fresh-context frame, and one with it its own compressor", () => {
    const hub = new Hub<FakeConnection>();
    const [noTakeover, takeover] = [
      new FakeConnection({ fast: true, deflate: { ourNoContextTakeover: true } }),
      new FakeConnection({ fast: true, deflate: {} }),
    ];
    hub.add(noTakeover);
    hub.add(takeover);
    expect(hub.send(noTakeover, LONG)).toBe('queued');
    expect(hub.send(takeover, LONG)).toBe('queued');
    expect(noTakeover.frames[0]!.deflateWindowBits).toBe(15);
    expect(decodeFrame(noTakeover.frames[0]!, noTakeover.deflateAgreement)).toMatchObject({ compressed: true, text: LONG });
    expect(takeover.frames[0]!.own).toBe(true);
    expect(decodeFrame(takeover.frames[0]!, takeover.deflateAgreement)).toMatchObject({ opcode: 1, text: LONG });
  });
});
