/**
 * The Outbox (src/node/outbox.ts) with a real core Connection (src/protocol/connection.ts) and a
 * fake Compressor. The socket is a minimal Duplex that records every write operation and holds
 * each write's callback until the test releases it, so "one write per turn", "settles on the
 * write callback" and "ends only after everything was written" are observed exactly; one test
 * uses a real TCP socket pair on 127.0.0.1 to check what a destroyed socket does to a pending
 * write, and the slab's ranges given back after writes a TCP socket took at once. Frames are checked
 * byte for byte (server role: unmasked, RFC 6455 5.1).
 */

import { createServer, connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type Compressor, Outbox, type OutboxLimits } from '../../src/node/outbox.js';
import { bufferTextEncoding } from '../../src/node/runtime.js';
import { CloseCode } from '../../src/protocol/close.js';
import { Connection, type ConnectionHost } from '../../src/protocol/connection.js';
import { ConnectionClosedError, WebSocketError } from '../../src/protocol/errors.js';
import { prepareFrame } from '../../src/protocol/prepared.js';
import { Slab } from '../../src/protocol/writer.js';
import { HOST, OP, cleanup, closePayload, deadline, defer, nextTurn, serverFrame } from './helpers.js';

afterEach(cleanup);

const THRESHOLD = 16;

// ---- fakes -------------------------------------------------------------------------------------

type WriteOp = { readonly kind: 'write'; readonly chunks: Buffer[] } | { readonly kind: 'end' };

/** A Duplex that records each write operation (one per _write or _writev) and holds its callback. */
class RecordingSocket extends Duplex {
  readonly ops: WriteOp[] = [];
  private readonly held: ((error?: Error | null) => void)[] = [];
  /** Complete writes at once instead of holding them. */
  autoComplete = false;

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.record([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.record(
      chunks.map((entry) => entry.chunk),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.ops.push({ kind: 'end' });
    callback();
  }

  /** Completes the oldest held write. */
  complete(error?: Error): void {
    const callback = this.held.shift();
    if (callback === undefined) throw new Error('no write to complete');
    callback(error ?? null);
  }

  get heldWrites(): number {
    return this.held.length;
  }

  /** Everything written, in order (empty writes left out). */
  get bytes(): Buffer {
    return Buffer.concat(this.ops.flatMap((op) => (op.kind === 'write' ? op.chunks : [])));
  }

  /** The write operations that carried bytes. */
  get writes(): Buffer[] {
    return this.ops.flatMap((op) => (op.kind === 'write' && op.chunks.some((chunk) => chunk.length > 0) ? [Buffer.concat(op.chunks)] : []));
  }

  private record(chunks: Buffer[], callback: (error?: Error | null) => void): void {
    this.ops.push({ kind: 'write', chunks });
    if (this.autoComplete) callback();
    else this.held.push(callback);
  }
}

/** A Compressor whose every compress() completes when the test says; logs compressions and resets. */
class FakeCompressor implements Compressor {
  readonly log: string[] = [];
  private readonly pending: ((error: Error | null, result?: Buffer) => void)[] = [];
  keepsContext = true;

  compress(data: Buffer, callback: (error: Error | null, result?: Buffer) => void): void {
    this.log.push(`compress ${data.toString('latin1')}`);
    this.pending.push(callback);
  }

  resetContext(): void {
    this.log.push('reset');
  }

  get waiting(): number {
    return this.pending.length;
  }

  /** Completes the oldest compression with `result` (the "compressed" bytes). */
  finish(result: Buffer): void {
    this.pending.shift()!(null, result);
  }

  fail(error: Error): void {
    this.pending.shift()!(error);
  }
}

/** What Ws does for the Outbox: the core's requests go to it; the socket's close to both. */
class Harness implements ConnectionHost {
  readonly connection: Connection;
  readonly outbox: Outbox;
  readonly closeTimer: boolean[] = [];

  constructor(
    readonly socket: Duplex,
    limits: Partial<OutboxLimits> = {},
    readonly compressor: FakeCompressor | null = null,
    readonly slab: Slab = new Slab((size) => Buffer.allocUnsafe(size)),
  ) {
    this.connection = new Connection(this, {
      role: 'server',
      maxPayload: 1024 * 1024,
      maxFragments: 1024,
      allowRsv1: compressor !== null,
      slab,
      textEncoding: bufferTextEncoding,
    });
    this.outbox = new Outbox(
      this.connection,
      socket,
      { maxBufferedAmount: limits.maxBufferedAmount ?? 1024 * 1024, sendOverflow: limits.sendOverflow ?? 'close' },
      compressor,
      THRESHOLD,
    );
    socket.on('error', () => {
      // 'close' follows.
    });
    socket.on('close', () => {
      this.connection.transportClosed();
      this.outbox.transportClosed();
    });
  }

  onMessage(): void {}
  onPing(): void {}
  onPong(): void {}
  onEnd(): void {
    this.connection.proceed();
  }
  onOutput(): void {
    this.outbox.scheduleFlush();
  }
  endTransport(): void {
    this.outbox.requestEnd();
  }
  destroyTransport(): void {
    this.socket.destroy();
  }
  setCloseTimer(on: boolean): void {
    this.closeTimer.push(on);
  }
}

function setup(limits: Partial<OutboxLimits> = {}, compressed = false): { h: Harness; socket: RecordingSocket; compressor: FakeCompressor } {
  const socket = new RecordingSocket();
  const compressor = new FakeCompressor();
  defer(() => socket.destroy());
  return { h: new Harness(socket, limits, compressed ? compressor : null), socket, compressor };
}

/** A promise whose outcome can be checked without awaiting it. */
function track<T>(promise: Promise<T>): { readonly state: 'pending' | 'resolved' | 'rejected'; readonly error: unknown } {
  const out = { state: 'pending' as 'pending' | 'resolved' | 'rejected', error: undefined as unknown };
  promise.then(
    () => {
      out.state = 'resolved';
    },
    (error: unknown) => {
      out.state = 'rejected';
      out.error = error;
    },
  );
  return out;
}

/** A TCP connection on 127.0.0.1: our end, and the peer's, paused (it reads only when told). */
async function socketPair(): Promise<{ socket: Socket; peer: Socket }> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  const peer = connect(address.port, HOST);
  peer.pause();
  defer(() => peer.destroy());
  const socket = await accepted;
  defer(() => socket.destroy());
  return { socket, peer };
}

/** A server frame with RSV1 set (a compressed message, RFC 7692 6). */
function rsv1Frame(opcode: number, payload: Buffer): Buffer {
  const frame = serverFrame(opcode, payload);
  frame[0] = frame[0]! | 0x40;
  return frame;
}

const hex = (bytes: Buffer): string => bytes.toString('hex');
const big = (label: string): Buffer => Buffer.from(label.padEnd(THRESHOLD, '.'), 'latin1');

// ================================================================================================

describe('batching', () => {
  it('everything sent in one turn goes out in one write operation on the next tick, in order', async () => {
    const { h, socket } = setup();
    const a = h.outbox.send('one', true);
    const b = h.outbox.send(Buffer.from([1, 2, 3]), false);
    const c = h.outbox.send(Buffer.from('three'), true);
    h.outbox.ping(Buffer.from('p'));
    expect(socket.ops).toEqual([]);
    // The sends of a batch share one promise.
    expect(a).toBe(b);
    expect(b).toBe(c);
    await nextTurn();
    expect(socket.writes.map(hex)).toEqual([
      hex(
        Buffer.concat([
          serverFrame(OP.TEXT, 'one'),
          serverFrame(OP.BINARY, Buffer.from([1, 2, 3])),
          serverFrame(OP.TEXT, 'three'),
          serverFrame(OP.PING, 'p'),
        ]),
      ),
    ]);
    socket.complete();
    // The next turn's sends are another batch, another write.
    const d = h.outbox.send('four', true);
    expect(d).not.toBe(a);
    await nextTurn();
    expect(socket.writes.map(hex).slice(1)).toEqual([hex(serverFrame(OP.TEXT, 'four'))]);
  });

  it('several chunks of one batch are corked into one _writev', async () => {
    const { h, socket } = setup();
    // A large payload is queued by reference, so the batch has several chunks.
    const payload = Buffer.alloc(100_000, 7);
    void h.outbox.send('before', true);
    void h.outbox.send(payload, false);
    void h.outbox.send('after', true);
    await nextTurn();
    expect(socket.ops.length).toBe(1);
    const op = socket.ops[0]!;
    expect(op.kind === 'write' && op.chunks.length > 1).toBe(true);
    const expected = Buffer.concat([serverFrame(OP.TEXT, 'before'), serverFrame(OP.BINARY, payload), serverFrame(OP.TEXT, 'after')]);
    expect(hex(socket.bytes)).toBe(hex(expected));
  });

  it('the promise settles on the write callback, not before', async () => {
    const { h, socket } = setup();
    const sent = track(h.outbox.send('x', true));
    await nextTurn();
    expect([socket.heldWrites, sent.state, h.outbox.bufferedAmount]).toEqual([1, 'pending', 3]);
    socket.complete();
    await nextTurn();
    expect([sent.state, h.outbox.bufferedAmount]).toEqual(['resolved', 0]);
  });

  it('the promise rejects when the socket is destroyed before the write callback', async () => {
    const { h, socket } = setup();
    const sent = track(h.outbox.send('x', true));
    await nextTurn();
    socket.destroy();
    // Node calls back a write cut short by destroy() without an error: still a failure.
    socket.complete();
    await nextTurn();
    expect(sent.state).toBe('rejected');
    expect(sent.error).toBeInstanceOf(ConnectionClosedError);
    expect((sent.error as ConnectionClosedError).code).toBe('WS_ERR_CLOSED');
  });

  it('the promise rejects when the socket is destroyed before the flush', async () => {
    const { h, socket } = setup();
    const sent = track(h.outbox.send('x', true));
    socket.destroy();
    await nextTurn();
    expect([sent.state, socket.writes.length]).toEqual(['rejected', 0]);
    expect(sent.error).toBeInstanceOf(ConnectionClosedError);
  });

  it('a write error rejects the batch', async () => {
    const { h, socket } = setup();
    const sent = track(h.outbox.send('x', true));
    await nextTurn();
    socket.complete(new Error('EPIPE'));
    await nextTurn();
    expect(sent.state).toBe('rejected');
    expect(sent.error).toBeInstanceOf(ConnectionClosedError);
  });

  it('a real TCP socket destroyed with a write pending: the send rejects', async () => {
    // The peer never reads, so the kernel buffers fill and the write stays pending.
    const { socket } = await socketPair();
    const h = new Harness(socket, { maxBufferedAmount: 256 * 1024 * 1024 });
    const sent = track(h.outbox.send(Buffer.alloc(64 * 1024 * 1024), false));
    await deadline(
      (async () => {
        while (socket.writableLength === 0) await nextTurn();
      })(),
      5000,
      'the write to be pending',
    );
    expect(sent.state).toBe('pending');
    socket.destroy();
    await deadline(
      (async () => {
        while (sent.state === 'pending') await nextTurn();
      })(),
      5000,
      'the send to settle',
    );
    expect(sent.state).toBe('rejected');
    expect(sent.error).toBeInstanceOf(ConnectionClosedError);
  });
});

/** The socket's write() calls: whether each gave a callback, and its bytes. */
function recordWrites(socket: Socket): { callback: boolean; bytes: number }[] {
  const calls: { callback: boolean; bytes: number }[] = [];
  const write = socket.write.bind(socket) as (chunk: Uint8Array, callback?: (error?: Error | null) => void) => boolean;
  socket.write = ((chunk: Uint8Array, callback?: (error?: Error | null) => void) => {
    calls.push({ callback: typeof callback === 'function', bytes: chunk.length });
    return write(chunk, callback);
  }) as typeof socket.write;
  return calls;
}

describe('a net.Socket write the kernel takes at once is settled without its callback (issue 15)', () => {

  it('taken at once: one write, no callback, the batch written and its promise resolved in the flush itself', async () => {
    const { socket, peer } = await socketPair();
    const calls = recordWrites(socket);
    const h = new Harness(socket, {});
    const sent = track(h.outbox.send('hello', true));
    expect(h.outbox.sendNumbered(null, Buffer.from('more'), true)).toBe(1);
    h.outbox.flush();
    expect([h.outbox.writtenBatches, socket.writableLength]).toEqual([1, 0]);
    expect(calls).toEqual([{ callback: false, bytes: 13 }]);
    await nextTurn();
    expect(sent.state).toBe('resolved');
    const expected = Buffer.concat([serverFrame(OP.TEXT, 'hello'), serverFrame(OP.TEXT, 'more')]);
    const received: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => received.push(chunk));
    peer.resume();
    await deadline(
      (async () => {
        while (Buffer.concat(received).length < expected.length) await nextTurn();
      })(),
      5000,
      'the bytes at the peer',
    );
    expect(hex(Buffer.concat(received))).toBe(hex(expected));
  });

  it('not all taken (the peer does not read): settled by a write of nothing once the kernel has taken it, the next batch after it', async () => {
    const { socket, peer } = await socketPair();
    peer.pause();
    const calls = recordWrites(socket);
    const h = new Harness(socket, { maxBufferedAmount: 256 * 1024 * 1024 });
    const big = track(h.outbox.send(Buffer.alloc(64 * 1024 * 1024, 1), false));
    h.outbox.flush();
    expect(socket.writableLength).toBeGreaterThan(0);
    // The frame's header and its payload (by reference), then the write of nothing.
    expect(calls).toEqual([
      { callback: false, bytes: 10 },
      { callback: false, bytes: 64 * 1024 * 1024 },
      { callback: true, bytes: 0 },
    ]);
    // A batch behind one that waits for its callback waits too: batches settle in write order.
    const small = track(h.outbox.send('after', true));
    h.outbox.flush();
    expect(calls.slice(3)).toEqual([{ callback: true, bytes: 7 }]);
    await nextTurn();
    expect([h.outbox.writtenBatches, big.state, small.state]).toEqual([0, 'pending', 'pending']);
    peer.resume();
    peer.on('data', () => {});
    await deadline(
      (async () => {
        while (small.state === 'pending') await nextTurn();
      })(),
      10_000,
      'the sends to settle',
    );
    expect([h.outbox.writtenBatches, big.state, small.state]).toEqual([2, 'resolved', 'resolved']);
  });
});

describe('a connection written round after round keeps the write callback (issue 15)', () => {
  it('written in the previous round of flushes: the callback; after a round without it: none', async () => {
    const a = await socketPair();
    const b = await socketPair();
    const callsA = recordWrites(a.socket);
    const callsB = recordWrites(b.socket);
    const ha = new Harness(a.socket, {});
    const hb = new Harness(b.socket, {});
    // Round r: both write. Round r + 1: `a` again (under sustained load), `b` not. Round r + 2: `b`.
    ha.outbox.sendNumbered(null, Buffer.from('a1'), true);
    hb.outbox.sendNumbered(null, Buffer.from('b1'), true);
    await nextTurn();
    ha.outbox.sendNumbered(null, Buffer.from('a2'), true);
    await nextTurn();
    hb.outbox.sendNumbered(null, Buffer.from('b2'), true);
    await nextTurn();
    expect(callsA.map((call) => call.callback)).toEqual([false, true]);
    expect(callsB.map((call) => call.callback)).toEqual([false, false]);
    await deadline(
      (async () => {
        while (ha.outbox.writtenBatches < 2) await nextTurn();
      })(),
      5000,
      'the callback',
    );
    expect([ha.outbox.writtenBatches, hb.outbox.writtenBatches]).toEqual([2, 2]);
  });
});

describe('the slab given back after writes taken at once (issue 15)', () => {
  /** Everything `peer` receives, once it has `bytes` bytes. */
  async function receive(peer: Socket, bytes: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let received = 0;
    peer.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    peer.resume();
    await deadline(
      (async () => {
        while (received < bytes) await nextTurn();
      })(),
      10_000,
      `${bytes} bytes at the peer`,
    );
    return Buffer.concat(chunks);
  }

  it('a TCP socket that takes the writes at once: every range comes back, the next turn writes where the last did, and the peers get every byte', async () => {
    const slab = new Slab((size) => Buffer.allocUnsafe(size));
    const one = await socketPair();
    const two = await socketPair();
    const a = new Harness(one.socket, {}, null, slab);
    const b = new Harness(two.socket, {}, null, slab);
    // Interleaved on the slab: a's two frames are two chunks, gathered into one range of it.
    void a.outbox.send('a1', true);
    void b.outbox.send('b1', true);
    void a.outbox.send('a2', true);
    const first = slab.buffer;
    await nextTurn();
    expect(slab.rangesOut).toBe(0);
    expect(slab.position).toBe(0);
    void a.outbox.send('a3', true);
    await nextTurn();
    expect(slab.buffer).toBe(first);
    expect(slab.position).toBe(0);
    const expectedA = Buffer.concat([serverFrame(OP.TEXT, 'a1'), serverFrame(OP.TEXT, 'a2'), serverFrame(OP.TEXT, 'a3')]);
    const expectedB = serverFrame(OP.TEXT, 'b1');
    expect(hex(await receive(one.peer, expectedA.length))).toBe(hex(expectedA));
    expect(hex(await receive(two.peer, expectedB.length))).toBe(hex(expectedB));
  });

  it('a write the kernel does not take at once keeps its ranges out: later frames never overwrite them', async () => {
    const slab = new Slab((size) => Buffer.allocUnsafe(size));
    const slow = await socketPair(); // its peer does not read yet
    const fast = await socketPair();
    const a = new Harness(slow.socket, { maxBufferedAmount: 256 * 1024 * 1024 }, null, slab);
    const b = new Harness(fast.socket, {}, null, slab);
    const payload = Buffer.alloc(64 * 1024 * 1024, 0x5a); // by reference, more than the kernel takes
    void a.outbox.send('before', true);
    void a.outbox.send(payload, false);
    void a.outbox.send('after', true);
    await nextTurn();
    expect(slow.socket.writableLength).toBeGreaterThan(0);
    expect(slab.rangesOut).toBe(2); // a's header range and its 'after' frame
    // Many turns of another connection's frames through the same slab, given back each time.
    let expectedB = Buffer.alloc(0);
    for (let turn = 0; turn < 50; turn++) {
      const text = `b${turn}`.padEnd(1000, '.');
      void b.outbox.send(text, true);
      expectedB = Buffer.concat([expectedB, serverFrame(OP.TEXT, text)]);
      await nextTurn();
    }
    expect(hex(await receive(fast.peer, expectedB.length))).toBe(hex(expectedB));
    const head = Buffer.concat([serverFrame(OP.TEXT, 'before'), Buffer.from([0x82, 127, 0, 0, 0, 0, 4, 0, 0, 0])]);
    const tail = serverFrame(OP.TEXT, 'after');
    const received = await receive(slow.peer, head.length + payload.length + tail.length);
    expect(received.length).toBe(head.length + payload.length + tail.length);
    expect(hex(received.subarray(0, head.length))).toBe(hex(head));
    expect(hex(received.subarray(received.length - tail.length))).toBe(hex(tail));
  });

  it('a Duplex that is not a net.Socket gets no range back (it may keep a chunk it called back for)', async () => {
    const slab = new Slab((size) => Buffer.allocUnsafe(size));
    const socket = new RecordingSocket();
    socket.autoComplete = true;
    defer(() => socket.destroy());
    const h = new Harness(socket, {}, null, slab);
    void h.outbox.send('one', true);
    await nextTurn();
    expect(slab.rangesOut).toBe(1);
    void h.outbox.send('two', true);
    await nextTurn();
    expect(socket.writes.map(hex)).toEqual([hex(serverFrame(OP.TEXT, 'one')), hex(serverFrame(OP.TEXT, 'two'))]);
    expect(hex(socket.ops[0]!.kind === 'write' ? socket.ops[0]!.chunks[0]! : Buffer.alloc(0))).toBe(hex(serverFrame(OP.TEXT, 'one')));
  });
});

describe('compression order', () => {
  it('a plain message behind a compressing one is written after it', async () => {
    const { h, socket, compressor } = setup({}, true);
    const a = track(h.outbox.send(big('A'), false));
    const b = track(h.outbox.send('b', true)); // below the threshold: not compressed
    expect(compressor.log).toEqual([`compress ${big('A').toString('latin1')}`]);
    await nextTurn();
    expect(socket.writes).toEqual([]);
    // The compressed message counts as buffered while it waits.
    expect(h.outbox.bufferedAmount).toBe(THRESHOLD + 3);
    compressor.finish(Buffer.from('zA'));
    await nextTurn();
    expect(socket.writes.map(hex)).toEqual([hex(Buffer.concat([rsv1Frame(OP.BINARY, Buffer.from('zA')), serverFrame(OP.TEXT, 'b')]))]);
    socket.complete();
    await nextTurn();
    expect([a.state, b.state]).toEqual(['resolved', 'resolved']);
  });

  it('compressed messages go out in order, one compression at a time, as text or binary', async () => {
    const { h, socket, compressor } = setup({}, true);
    void h.outbox.send(big('A'), false);
    void h.outbox.send(big('B').toString('latin1'), true);
    expect(compressor.waiting).toBe(1);
    compressor.finish(Buffer.from('zA'));
    expect(compressor.waiting).toBe(1);
    compressor.finish(Buffer.from('zB'));
    await nextTurn();
    expect(hex(socket.bytes)).toBe(hex(Buffer.concat([rsv1Frame(OP.BINARY, Buffer.from('zA')), rsv1Frame(OP.TEXT, Buffer.from('zB'))])));
  });

  it('our close frame waits behind a compressing message', async () => {
    const { h, socket, compressor } = setup({}, true);
    void h.outbox.send(big('A'), false);
    h.connection.close(1000, 'done');
    await nextTurn();
    expect(socket.writes).toEqual([]);
    compressor.finish(Buffer.from('zA'));
    await nextTurn();
    expect(hex(socket.bytes)).toBe(hex(Buffer.concat([rsv1Frame(OP.BINARY, Buffer.from('zA')), serverFrame(OP.CLOSE, closePayload(1000, 'done'))])));
  });

  it('a failed compression fails the connection with 1011 (WS_ERR_COMPRESSION_FAILED)', async () => {
    const { h, socket, compressor } = setup({}, true);
    const a = track(h.outbox.send(big('A'), false));
    compressor.fail(new Error('out of memory'));
    await nextTurn();
    expect(hex(socket.bytes)).toBe(hex(serverFrame(OP.CLOSE, closePayload(CloseCode.INTERNAL_ERROR, 'compression failed'))));
    expect(a.state).toBe('rejected');
    socket.complete();
    socket.destroy();
    await nextTurn();
    expect(h.connection.closeResult).toEqual({ code: 1011, reason: 'compression failed', wasClean: false, errorCode: 'WS_ERR_COMPRESSION_FAILED' });
  });
});

describe('overflow (maxBufferedAmount)', () => {
  it("'close': the overflowing send fails the connection with 1008 'too slow', errorCode WS_ERR_BUFFER_FULL", async () => {
    const { h, socket } = setup({ maxBufferedAmount: 10, sendOverflow: 'close' });
    const first = track(h.outbox.send('0123456789', true)); // 12 bytes buffered: at the limit after it
    expect(h.outbox.bufferedAmount).toBe(12);
    const second = track(h.outbox.send('x', true));
    await nextTurn();
    expect(second.state).toBe('rejected');
    expect(second.error).toBeInstanceOf(ConnectionClosedError);
    expect((second.error as ConnectionClosedError).message).toBe('WebSocket is closed (code 1008: too slow)');
    expect(hex(socket.bytes)).toBe(hex(Buffer.concat([serverFrame(OP.TEXT, '0123456789'), serverFrame(OP.CLOSE, closePayload(1008, 'too slow'))])));
    expect(h.connection.canSend).toBe(false);
    // The bytes before it are still delivered; TCP is ended after them (fail ends it, 7.1.7).
    socket.complete();
    await nextTurn();
    expect(first.state).toBe('resolved');
    expect(socket.ops.at(-1)).toEqual({ kind: 'end' });
    socket.destroy();
    await nextTurn();
    expect(h.connection.closeResult).toEqual({ code: 1008, reason: 'too slow', wasClean: false, errorCode: 'WS_ERR_BUFFER_FULL' });
  });

  it("'reject': the overflowing send rejects with WS_ERR_BUFFER_FULL and the connection goes on", async () => {
    const { h, socket } = setup({ maxBufferedAmount: 10, sendOverflow: 'reject' });
    void h.outbox.send('0123456789', true);
    const second = track(h.outbox.send('x', true));
    await nextTurn();
    expect(second.state).toBe('rejected');
    expect(second.error).toBeInstanceOf(WebSocketError);
    expect((second.error as WebSocketError).code).toBe('WS_ERR_BUFFER_FULL');
    expect((second.error as WebSocketError).message).toBe('send() refused: 12 bytes are already buffered (maxBufferedAmount 10)');
    expect(h.connection.canSend).toBe(true);
    socket.complete();
    await nextTurn();
    // Below the limit again: sends are accepted.
    const third = track(h.outbox.send('y', true));
    await nextTurn();
    socket.complete();
    await nextTurn();
    expect(third.state).toBe('resolved');
    expect(hex(socket.bytes)).toBe(hex(Buffer.concat([serverFrame(OP.TEXT, '0123456789'), serverFrame(OP.TEXT, 'y')])));
  });

  it('one byte under the limit is not an overflow', async () => {
    const { h } = setup({ maxBufferedAmount: 13, sendOverflow: 'reject' });
    void h.outbox.send('0123456789', true); // 12 bytes
    const second = track(h.outbox.send('x', true));
    await nextTurn();
    expect(second.state).toBe('pending');
  });

  it('messages waiting for compression count against the limit', async () => {
    const { h } = setup({ maxBufferedAmount: THRESHOLD, sendOverflow: 'reject' }, true);
    void h.outbox.send(big('A'), false);
    expect(h.outbox.bufferedAmount).toBe(THRESHOLD);
    const second = track(h.outbox.send('x', true));
    await nextTurn();
    expect((second.error as WebSocketError).code).toBe('WS_ERR_BUFFER_FULL');
  });

  it("'close' with a message being compressed: it is dropped and its send rejects", async () => {
    const { h, socket, compressor } = setup({ maxBufferedAmount: THRESHOLD, sendOverflow: 'close' }, true);
    const a = track(h.outbox.send(big('A'), false));
    const b = track(h.outbox.send('x', true));
    await nextTurn();
    expect([a.state, b.state]).toEqual(['rejected', 'rejected']);
    compressor.finish(Buffer.from('zA'));
    await nextTurn();
    // Only the close frame: the message whose compression finished too late is never written.
    expect(hex(socket.bytes)).toBe(hex(serverFrame(OP.CLOSE, closePayload(1008, 'too slow'))));
  });
});

describe('drain()', () => {
  it('resolves at once when nothing is buffered', async () => {
    const { h } = setup();
    const drained = track(h.outbox.drain());
    await nextTurn();
    expect(drained.state).toBe('resolved');
  });

  it('resolves once bufferedAmount reaches 0, not while a write is pending', async () => {
    const { h, socket } = setup();
    socket.autoComplete = false;
    void h.outbox.send('a', true);
    const drained = track(h.outbox.drain());
    await nextTurn();
    expect([drained.state, h.outbox.bufferedAmount]).toEqual(['pending', 3]);
    socket.complete();
    await nextTurn();
    expect([drained.state, h.outbox.bufferedAmount]).toEqual(['resolved', 0]);
  });

  it('asked while a flushed write is pending (nothing queued in the writer): waits for it', async () => {
    const { h, socket } = setup();
    void h.outbox.send('a', true);
    await nextTurn();
    expect(h.outbox.bufferedAmount).toBe(3);
    const drained = track(h.outbox.drain());
    await nextTurn();
    expect(drained.state).toBe('pending');
    socket.complete(); // the message
    await nextTurn();
    while (socket.heldWrites > 0) socket.complete(); // drain's own empty write, if the socket passed it on
    await nextTurn();
    expect(drained.state).toBe('resolved');
  });

  it('waits for messages being compressed', async () => {
    const { h, socket, compressor } = setup({}, true);
    void h.outbox.send(big('A'), false);
    const drained = track(h.outbox.drain());
    await nextTurn();
    expect(drained.state).toBe('pending');
    compressor.finish(Buffer.from('zA'));
    await nextTurn();
    expect(drained.state).toBe('pending');
    socket.complete();
    await nextTurn();
    expect(drained.state).toBe('resolved');
  });

  it('rejects when the connection closes first', async () => {
    const { h, socket } = setup();
    void h.outbox.send('a', true);
    const drained = track(h.outbox.drain());
    await nextTurn();
    socket.destroy();
    await nextTurn();
    expect(drained.state).toBe('rejected');
    expect(drained.error).toBeInstanceOf(ConnectionClosedError);
  });

  it('rejects at once on a destroyed socket with bytes still buffered', async () => {
    const { h, socket, compressor } = setup({}, true);
    void h.outbox.send(big('A'), false);
    socket.destroy();
    // 'close' has not been emitted yet: the compression still counts.
    expect(h.outbox.bufferedAmount).toBe(THRESHOLD);
    const drained = track(h.outbox.drain());
    await nextTurn();
    expect(drained.state).toBe('rejected');
    expect(drained.error).toBeInstanceOf(ConnectionClosedError);
    // Once closed, the compression is forgotten (its send rejected): nothing is buffered.
    expect(compressor.waiting).toBe(1);
    expect(h.outbox.bufferedAmount).toBe(0);
  });
});

describe('drain() while TCP is ending (real sockets)', () => {
  it('drain() after requestEnd(), with a write still pending: everything arrives, then the FIN; drain resolves', async () => {
    const { socket, peer } = await socketPair();
    const h = new Harness(socket, { maxBufferedAmount: 256 * 1024 * 1024 });
    const payload = Buffer.alloc(16 * 1024 * 1024, 0x5a);
    const sent = track(h.outbox.send(payload, false));
    // Our side ends once the writer is idle: at once, with the message still in the socket.
    h.outbox.requestEnd();
    expect(socket.writableEnded).toBe(true);
    expect(socket.writableLength).toBeGreaterThan(0);
    const drained = track(h.outbox.drain());
    let received = 0;
    peer.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    const ended = new Promise<void>((resolve) => peer.once('end', resolve));
    peer.resume();
    await deadline(ended, 10_000, 'the FIN after the whole message');
    expect(received).toBe(2 + 8 + payload.length); // header with a 64-bit length, then the payload
    await deadline(
      (async () => {
        while (drained.state === 'pending') await nextTurn();
      })(),
      5000,
      'drain() to settle',
    );
    expect([sent.state, drained.state]).toEqual(['resolved', 'resolved']);
  });
});

describe('sendPrepared()', () => {
  const compressedPrepared = prepareFrame(false, Buffer.from('zP'), 15);
  const plainPrepared = prepareFrame(true, Buffer.from('plain'));

  it('writes the prepared bytes as they are (server role)', async () => {
    const { h, socket } = setup({}, true);
    void h.outbox.sendPrepared(plainPrepared);
    await nextTurn();
    expect(hex(socket.bytes)).toBe(hex(serverFrame(OP.TEXT, 'plain')));
  });

  it('a compressed prepared frame resets the kept context before the next compression', async () => {
    const { h, socket, compressor } = setup({}, true);
    void h.outbox.sendPrepared(compressedPrepared);
    expect(compressor.log).toEqual(['reset']);
    void h.outbox.send(big('A'), false);
    expect(compressor.log).toEqual(['reset', `compress ${big('A').toString('latin1')}`]);
    compressor.finish(Buffer.from('zA'));
    await nextTurn();
    expect(hex(socket.bytes)).toBe(hex(Buffer.concat([rsv1Frame(OP.BINARY, Buffer.from('zP')), rsv1Frame(OP.BINARY, Buffer.from('zA'))])));
  });

  it('behind queued compressions: the reset comes after them, before the compressions queued after it', async () => {
    const { h, socket, compressor } = setup({}, true);
    void h.outbox.send(big('A'), false);
    void h.outbox.send(big('B'), false);
    void h.outbox.sendPrepared(compressedPrepared);
    void h.outbox.send(big('C'), false);
    const a = `compress ${big('A').toString('latin1')}`;
    const b = `compress ${big('B').toString('latin1')}`;
    const c = `compress ${big('C').toString('latin1')}`;
    // A and B were compressed before the prepared frame on the wire: they keep the context as is.
    expect(compressor.log).toEqual([a]);
    compressor.finish(Buffer.from('zA'));
    expect(compressor.log).toEqual([a, b]);
    compressor.finish(Buffer.from('zB'));
    expect(compressor.log).toEqual([a, b, 'reset', c]);
    compressor.finish(Buffer.from('zC'));
    await nextTurn();
    expect(hex(socket.bytes)).toBe(
      hex(
        Buffer.concat([
          rsv1Frame(OP.BINARY, Buffer.from('zA')),
          rsv1Frame(OP.BINARY, Buffer.from('zB')),
          rsv1Frame(OP.BINARY, Buffer.from('zP')),
          rsv1Frame(OP.BINARY, Buffer.from('zC')),
        ]),
      ),
    );
  });

  it('no reset for an uncompressed prepared frame, nor when our compressor keeps no context', () => {
    const { h, compressor } = setup({}, true);
    void h.outbox.sendPrepared(plainPrepared);
    expect(compressor.log).toEqual([]);
    compressor.keepsContext = false;
    void h.outbox.sendPrepared(compressedPrepared);
    expect(compressor.log).toEqual([]);
  });

  it('is refused once our close is sent, and overflows like send()', async () => {
    const { h } = setup({ maxBufferedAmount: 5, sendOverflow: 'reject' });
    const over = track(h.outbox.sendPrepared(plainPrepared)); // 7 bytes
    const refused = track(h.outbox.sendPrepared(plainPrepared));
    h.connection.close(1000);
    const closed = track(h.outbox.sendPrepared(plainPrepared));
    await nextTurn();
    expect(over.state).toBe('pending');
    expect((refused.error as WebSocketError).code).toBe('WS_ERR_BUFFER_FULL');
    expect(closed.error).toBeInstanceOf(ConnectionClosedError);
  });
});

describe('sendNumbered() and writtenBatches (the hub: no promise per write)', () => {
  const plainPrepared = prepareFrame(true, Buffer.from('plain'));

  it("a turn's sends share one batch number, with send()'s promise; writtenBatches reaches it on the write callback", async () => {
    const { h, socket } = setup();
    expect(h.outbox.sendNumbered(null, Buffer.from('one'), true)).toBe(1);
    const sent = track(h.outbox.send('two', true));
    expect(h.outbox.sendNumbered(plainPrepared, plainPrepared.payload, true)).toBe(1);
    await nextTurn();
    expect(socket.writes.map(hex)).toEqual([hex(Buffer.concat([serverFrame(OP.TEXT, 'one'), serverFrame(OP.TEXT, 'two'), serverFrame(OP.TEXT, 'plain')]))]);
    // The next turn's sends are batch 2, whatever the state of batch 1.
    expect(h.outbox.sendNumbered(null, Buffer.from([9]), false)).toBe(2);
    await nextTurn();
    // The stream holds batch 2's write until batch 1's is called back.
    expect([h.outbox.writtenBatches, sent.state, socket.heldWrites]).toEqual([0, 'pending', 1]);
    socket.complete();
    await nextTurn();
    expect([h.outbox.writtenBatches, sent.state, socket.heldWrites]).toEqual([1, 'resolved', 1]);
    socket.complete();
    expect(h.outbox.writtenBatches).toBe(2);
    expect(hex(socket.writes[1]!)).toBe(hex(serverFrame(OP.BINARY, Buffer.from([9]))));
  });

  it('a batch still being compressed is written, and counted, only once its compression is done', async () => {
    const { h, socket, compressor } = setup({}, true);
    expect(h.outbox.sendNumbered(null, big('A'), false)).toBe(1);
    await nextTurn();
    // Frames sent meanwhile join the open batch: it is not written before the compressed one.
    expect(h.outbox.sendNumbered(null, Buffer.from('x'), true)).toBe(1);
    await nextTurn();
    expect([socket.writes.length, h.outbox.writtenBatches]).toEqual([0, 0]);
    compressor.finish(Buffer.from('zA'));
    await nextTurn();
    expect(socket.writes.map(hex)).toEqual([hex(Buffer.concat([rsv1Frame(OP.BINARY, Buffer.from('zA')), serverFrame(OP.TEXT, 'x')]))]);
    socket.complete();
    expect(h.outbox.writtenBatches).toBe(1);
  });

  it('the socket destroyed with a batch written and not called back: writtenBatches stays below it', async () => {
    const { h, socket } = setup();
    h.outbox.sendNumbered(null, Buffer.from('a'), true);
    await nextTurn();
    socket.complete();
    expect(h.outbox.sendNumbered(null, Buffer.from('b'), true)).toBe(2);
    await nextTurn();
    socket.destroy();
    // Node calls back a write cut short by destroy() without an error: still a loss.
    socket.complete();
    await nextTurn();
    expect(h.outbox.writtenBatches).toBe(1);
  });

  it('the socket destroyed before the flush: the open batch is lost', async () => {
    const { h, socket } = setup();
    expect(h.outbox.sendNumbered(null, Buffer.from('a'), true)).toBe(1);
    socket.destroy();
    await nextTurn();
    expect([h.outbox.writtenBatches, socket.writes.length]).toEqual([0, 0]);
  });

  it('a batch lost to a failed connection does not take the earlier batch with it: that one still counts, and its promise resolves', async () => {
    const { h, socket, compressor } = setup({ maxBufferedAmount: THRESHOLD, sendOverflow: 'close' }, true);
    const first = track(h.outbox.send('x', true));
    await nextTurn();
    expect(h.outbox.sendNumbered(null, big('A'), false)).toBe(2);
    // Over the limit: 'close' fails the connection, and the message being compressed is dropped.
    expect(h.outbox.sendNumbered(null, Buffer.from('y'), true)).toBe(0);
    await nextTurn();
    compressor.finish(Buffer.from('zA'));
    socket.complete();
    await nextTurn();
    expect([first.state, h.outbox.writtenBatches]).toEqual(['resolved', 1]);
    // The second batch never counts, whatever is called back later.
    while (socket.heldWrites > 0) socket.complete();
    expect(h.outbox.writtenBatches).toBe(1);
    expect(hex(socket.bytes)).toBe(hex(Buffer.concat([serverFrame(OP.TEXT, 'x'), serverFrame(OP.CLOSE, closePayload(1008, 'too slow'))])));
  });

  it("refused (0, nothing written): once our close is sent, and over maxBufferedAmount with 'reject' (the connection goes on)", async () => {
    const { h, socket } = setup({ maxBufferedAmount: 5, sendOverflow: 'reject' });
    expect(h.outbox.sendNumbered(plainPrepared, plainPrepared.payload, true)).toBe(1); // 7 bytes
    expect(h.outbox.sendNumbered(plainPrepared, plainPrepared.payload, true)).toBe(0);
    expect(h.connection.canSend).toBe(true);
    h.connection.close(1000);
    expect(h.outbox.sendNumbered(null, Buffer.from('late'), true)).toBe(0);
    await nextTurn();
    expect(hex(socket.bytes)).toBe(hex(Buffer.concat([serverFrame(OP.TEXT, 'plain'), serverFrame(OP.CLOSE, closePayload(1000, ''))])));
  });

  it("over maxBufferedAmount with 'close': refused, and the connection fails with 1008 'too slow'", async () => {
    const { h, socket } = setup({ maxBufferedAmount: 5, sendOverflow: 'close' });
    h.outbox.sendNumbered(plainPrepared, plainPrepared.payload, true);
    expect(h.outbox.sendNumbered(null, Buffer.from('y'), true)).toBe(0);
    expect(h.connection.canSend).toBe(false);
    await nextTurn();
    expect(hex(socket.bytes)).toBe(hex(Buffer.concat([serverFrame(OP.TEXT, 'plain'), serverFrame(OP.CLOSE, closePayload(1008, 'too slow'))])));
  });
});

describe('requestEnd()', () => {
  it('with nothing queued: ends the socket at once', () => {
    const { h, socket } = setup();
    h.outbox.requestEnd();
    expect(socket.writableEnded).toBe(true);
  });

  it('ends the socket only after every frame, reserved ones included, was written', async () => {
    const { h, socket, compressor } = setup({}, true);
    void h.outbox.send(big('A'), false);
    void h.outbox.send('b', true);
    void h.outbox.send(big('C'), false);
    h.outbox.requestEnd();
    await nextTurn();
    expect([socket.writableEnded, socket.writes.length]).toEqual([false, 0]);
    compressor.finish(Buffer.from('zA'));
    await nextTurn();
    // A and b are out; C is still being compressed: no end yet.
    expect(socket.writableEnded).toBe(false);
    expect(hex(socket.bytes)).toBe(hex(Buffer.concat([rsv1Frame(OP.BINARY, Buffer.from('zA')), serverFrame(OP.TEXT, 'b')])));
    compressor.finish(Buffer.from('zC'));
    await nextTurn();
    expect(socket.writableEnded).toBe(true);
    while (socket.heldWrites > 0) socket.complete();
    await nextTurn();
    expect(socket.ops.at(-1)).toEqual({ kind: 'end' });
    expect(hex(socket.bytes)).toBe(
      hex(Buffer.concat([rsv1Frame(OP.BINARY, Buffer.from('zA')), serverFrame(OP.TEXT, 'b'), rsv1Frame(OP.BINARY, Buffer.from('zC'))])),
    );
  });

  it('the server completing a closing handshake ends TCP after its close frame (RFC 6455 7.1.1)', async () => {
    const { h, socket } = setup();
    void h.outbox.send('last', true);
    // The peer's close, masked as a client's must be (5.1).
    h.connection.receive(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
    await nextTurn();
    while (socket.heldWrites > 0) socket.complete();
    await nextTurn();
    expect(hex(socket.bytes)).toBe(hex(Buffer.concat([serverFrame(OP.TEXT, 'last'), serverFrame(OP.CLOSE, closePayload(1000))])));
    expect(socket.ops.at(-1)).toEqual({ kind: 'end' });
  });
});
