/**
 * The Inbox (src/node/inbox.ts) on its own, with a fake codec: an Inflater whose every
 * decompress() completes (or fails) only when the test says, a ReadFlow that records pause() and
 * resume(), and a StreamEnd that records proceed() and failReceived(). No socket, no zlib, no
 * timers: each test drives one path and checks the exact flow-control calls it caused.
 *
 * The rule under test (issue 9): reading pauses when the unread bytes reach receiveHighWaterMark
 * and resumes when they drop to half of it, whichever way they change: a message queued, taken,
 * inflated to a waiting reader or into the queue, or dropped by a failed inflation.
 */

import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Inbox, type Inflater, type Listener, type Message, type ReadFlow, type StreamEnd } from '../../src/node/inbox.js';
import { CloseCode } from '../../src/protocol/close.js';
import { ConnectionClosedError, ProtocolError } from '../../src/protocol/errors.js';

const MARK = 100;
const MAX_PAYLOAD = 1000;

interface Decompression {
  readonly data: Buffer;
  readonly isText: boolean;
  readonly maxPayload: number;
  readonly callback: (error: Error | null, result?: Buffer) => void;
}

/** An Inflater that completes each decompress() when the test says. */
class FakeInflater implements Inflater {
  readonly calls: Decompression[] = [];

  decompress(data: Buffer, isText: boolean, maxPayload: number, callback: (error: Error | null, result?: Buffer) => void): void {
    this.calls.push({ data, isText, maxPayload, callback });
  }

  /** Completes call `index` with `result`. */
  finish(index: number, result: Buffer): void {
    this.calls[index]!.callback(null, result);
  }

  fail(index: number, error: Error): void {
    this.calls[index]!.callback(error);
  }
}

class FakeFlow implements ReadFlow {
  readonly calls: ('pause' | 'resume')[] = [];

  pause(): void {
    this.calls.push('pause');
  }

  resume(): void {
    this.calls.push('resume');
  }
}

/** Records what the Inbox tells the connection; a failure ends the stream, as Connection's does. */
class FakeEnd implements StreamEnd {
  proceeded = 0;
  readonly failures: ProtocolError[] = [];
  readonly closed = new ConnectionClosedError(CloseCode.NORMAL, 'bye');
  inbox: Inbox | null = null;

  proceed(): void {
    this.proceeded++;
  }

  failReceived(error: ProtocolError): void {
    this.failures.push(error);
    // Connection.failReceived -> awaitApplication -> onEnd -> Inbox.endOfStream.
    this.inbox?.endOfStream();
  }

  closedError(): ConnectionClosedError {
    return this.closed;
  }
}

function setup(options: { inflater?: boolean } = {}): { inbox: Inbox; flow: FakeFlow; end: FakeEnd; inflater: FakeInflater } {
  const flow = new FakeFlow();
  const end = new FakeEnd();
  const inflater = new FakeInflater();
  const inbox = new Inbox(flow, end, { receiveHighWaterMark: MARK, maxPayload: MAX_PAYLOAD }, options.inflater === false ? null : inflater);
  end.inbox = inbox;
  return { inbox, flow, end, inflater };
}

const bytes = (length: number, fill = 0x61): Buffer => Buffer.alloc(length, fill);

/** Lets settled promises run their reactions (no timer involved). */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** A promise whose outcome can be checked without awaiting it. */
type State = 'pending' | 'resolved' | 'rejected';

function track<T>(promise: Promise<T>): { readonly state: State; readonly value: T | undefined; readonly error: unknown } {
  const out = { state: 'pending' as State, value: undefined as T | undefined, error: undefined as unknown };
  promise.then(
    (value) => {
      out.state = 'resolved';
      out.value = value;
    },
    (error: unknown) => {
      out.state = 'rejected';
      out.error = error;
    },
  );
  return out;
}

async function recv(inbox: Inbox): Promise<Message> {
  return (await inbox.take(false)) as Message;
}

function binaryOf(message: Message | undefined): Buffer {
  if (message === undefined || message.type !== 'binary') throw new Error(`expected a binary message, got ${JSON.stringify(message)}`);
  return message.data;
}

const tooBig = (): ProtocolError =>
  new ProtocolError('WS_ERR_MESSAGE_TOO_BIG', CloseCode.MESSAGE_TOO_BIG, 'inflated message exceeds maxPayload (1000 bytes)');

// ================================================================================================

describe('memory', () => {
  it('a message read while later ones stay queued is let go of at once, not kept until the queue compacts', async () => {
    // The retention this pins: with messages always in flight the queue never empties, and read
    // entries stayed referenced from the array until 1,024 had been read (bench deflate-4k).
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { inbox } = setup({ inflater: false });
    const first = new WeakRef((() => {
      const payload = bytes(10);
      inbox.push(payload, false, false);
      return payload;
    })());
    inbox.push(bytes(10, 0x62), false, false);
    expect(((await inbox.take(false)) as Message).type).toBe('binary');
    expect(inbox.unread).toBe(10);
    // A WeakRef is kept through the job that created it: collect in a later macrotask.
    await nextMacrotask();
    gc();
    expect(first.deref()).toBeUndefined();
  });
});

describe('order', () => {
  it('a plain message behind a compressed one waits for it, even for a waiting reader', async () => {
    const { inbox, inflater } = setup();
    const first = track(recv(inbox));
    inbox.push(bytes(10, 0x01), false, true);
    inbox.push(bytes(5, 0x02), false, false);
    await flush();
    expect(first.state).toBe('pending');
    expect(inflater.calls.length).toBe(1);
    inflater.finish(0, bytes(20, 0x03));
    await flush();
    expect(binaryOf(first.value)).toEqual(bytes(20, 0x03));
    expect(binaryOf(await recv(inbox))).toEqual(bytes(5, 0x02));
    expect(inbox.unread).toBe(0);
  });

  it('compressed messages are inflated one at a time, in order, with isText and maxPayload', async () => {
    const { inbox, inflater } = setup();
    inbox.push(bytes(3, 0x01), true, true);
    inbox.push(bytes(4, 0x02), false, true);
    expect(inflater.calls.map((call) => [call.data.length, call.isText, call.maxPayload])).toEqual([[3, true, MAX_PAYLOAD]]);
    inflater.finish(0, Buffer.from('héllo'));
    expect(inflater.calls.map((call) => [call.data.length, call.isText, call.maxPayload])).toEqual([
      [3, true, MAX_PAYLOAD],
      [4, false, MAX_PAYLOAD],
    ]);
    inflater.finish(1, bytes(2, 0x09));
    expect(await recv(inbox)).toEqual({ type: 'text', data: 'héllo' });
    expect(binaryOf(await recv(inbox))).toEqual(bytes(2, 0x09));
  });

  it('several waiting readers get messages in order; a text payload is decoded', async () => {
    const { inbox } = setup({ inflater: false });
    const a = track(recv(inbox));
    const b = track(inbox.take(true));
    inbox.push(Buffer.from('one'), true, false);
    inbox.push(bytes(1, 0x02), false, false);
    await flush();
    expect(a.value).toEqual({ type: 'text', data: 'one' });
    expect(b.value).toEqual({ done: false, value: { type: 'binary', data: bytes(1, 0x02) } });
  });

  it('compressed bytes count as received until inflated, then the inflated size counts', () => {
    const { inbox, inflater } = setup();
    inbox.push(bytes(30), false, true);
    inbox.push(bytes(7), false, false);
    expect(inbox.unread).toBe(37);
    inflater.finish(0, bytes(50));
    expect(inbox.unread).toBe(57);
  });
});

describe('pause exactly at receiveHighWaterMark, resume at half', () => {
  it('queue: pauses when the unread bytes reach the mark, not one byte before, and only once', () => {
    const { inbox, flow } = setup({ inflater: false });
    inbox.push(bytes(MARK - 1), false, false);
    expect([flow.calls, inbox.isPaused]).toEqual([[], false]);
    inbox.push(bytes(1), false, false);
    expect([flow.calls, inbox.isPaused]).toEqual([['pause'], true]);
    inbox.push(bytes(10), false, false);
    expect(flow.calls).toEqual(['pause']);
  });

  it('take: resumes once the unread bytes are at most half the mark, not one byte above', async () => {
    const { inbox, flow } = setup({ inflater: false });
    inbox.push(bytes(MARK / 2 - 1), false, false);
    inbox.push(bytes(MARK / 2 + 1), false, false);
    inbox.push(bytes(MARK / 2), false, false);
    expect(flow.calls).toEqual(['pause']);
    await recv(inbox); // 150 -> 101
    expect([flow.calls, inbox.unread]).toEqual([['pause'], 101]);
    await recv(inbox); // 101 -> 50: exactly half
    expect([flow.calls, inbox.unread, inbox.isPaused]).toEqual([['pause', 'resume'], 50, false]);
  });

  it('take: 51 bytes unread (just over half) stay paused', async () => {
    const { inbox, flow } = setup({ inflater: false });
    inbox.push(bytes(49), false, false);
    inbox.push(bytes(51), false, false);
    await recv(inbox);
    expect([flow.calls, inbox.unread, inbox.isPaused]).toEqual([['pause'], 51, true]);
  });

  it('a plain message straight to a waiting reader is never counted, whatever its size', async () => {
    const { inbox, flow } = setup({ inflater: false });
    const reader = track(recv(inbox));
    inbox.push(bytes(10 * MARK), false, false);
    await flush();
    expect(binaryOf(reader.value).length).toBe(10 * MARK);
    expect([flow.calls, inbox.unread]).toEqual([[], 0]);
  });

  it('inflate-done to a waiting reader (the bug of issue 9): the compressed frame paused reading, handing it over resumes', async () => {
    const { inbox, flow, inflater } = setup();
    const reader = track(recv(inbox));
    inbox.push(bytes(MARK), false, true);
    expect([flow.calls, inbox.isPaused]).toEqual([['pause'], true]);
    inflater.finish(0, bytes(3 * MARK));
    await flush();
    expect(binaryOf(reader.value).length).toBe(3 * MARK);
    expect([flow.calls, inbox.isPaused, inbox.unread]).toEqual([['pause', 'resume'], false, 0]);
  });

  it('inflate-done to the queue: resumes when the inflated message is at most half the mark', () => {
    const { inbox, flow, inflater } = setup();
    inbox.push(bytes(MARK), false, true);
    expect(flow.calls).toEqual(['pause']);
    inflater.finish(0, bytes(MARK / 2));
    expect([flow.calls, inbox.unread]).toEqual([['pause', 'resume'], MARK / 2]);
  });

  it('inflate-done to the queue: stays paused when the inflated message is over half the mark', () => {
    const { inbox, flow, inflater } = setup();
    inbox.push(bytes(MARK), false, true);
    inflater.finish(0, bytes(MARK / 2 + 1));
    expect([flow.calls, inbox.isPaused]).toEqual([['pause'], true]);
  });

  it('inflate-done to the queue: a small frame that inflates to the mark pauses', () => {
    const { inbox, flow, inflater } = setup();
    inbox.push(bytes(10), false, true);
    expect(flow.calls).toEqual([]);
    inflater.finish(0, bytes(MARK - 10));
    expect(flow.calls).toEqual([]);
    inbox.push(bytes(5), false, true);
    inflater.finish(1, bytes(10));
    expect([flow.calls, inbox.unread]).toEqual([['pause'], MARK]);
  });

  it('failure: the dropped bytes no longer count, so reading resumes', () => {
    const { inbox, flow, inflater } = setup();
    inbox.push(bytes(30), false, false);
    inbox.push(bytes(80), false, true);
    expect(flow.calls).toEqual(['pause']);
    inflater.fail(0, tooBig());
    expect([flow.calls, inbox.unread]).toEqual([['pause', 'resume'], 30]);
  });
});

describe('inflation is held while the ready bytes are at the mark', () => {
  it('a compressed message behind ready ones at the mark waits until the application reads', async () => {
    const { inbox, inflater } = setup();
    inbox.push(bytes(MARK), false, false);
    inbox.push(bytes(10), false, true);
    expect(inflater.calls.length).toBe(0);
    await recv(inbox);
    expect(inflater.calls.length).toBe(1);
  });

  it('one byte below the mark, it is inflated at once', () => {
    const { inbox, inflater } = setup();
    inbox.push(bytes(MARK - 1), false, false);
    inbox.push(bytes(10), false, true);
    expect(inflater.calls.length).toBe(1);
  });

  it('an inflated message that brings the ready bytes to the mark holds the next one', async () => {
    const { inbox, inflater } = setup();
    inbox.push(bytes(5), false, true);
    inbox.push(bytes(6), false, true);
    inflater.finish(0, bytes(MARK));
    expect(inflater.calls.length).toBe(1);
    expect(binaryOf(await recv(inbox)).length).toBe(MARK);
    expect(inflater.calls.length).toBe(2);
    expect(inflater.calls[1]!.data.length).toBe(6);
  });
});

describe('a failed inflation', () => {
  it('drops its entry and everything after it, reports the error, and the messages before stay readable', async () => {
    const { inbox, end, inflater } = setup();
    const error = tooBig();
    inbox.push(bytes(1, 0x01), false, false);
    inbox.push(bytes(2, 0x02), false, true);
    inbox.push(bytes(3, 0x03), false, false);
    inbox.push(bytes(4, 0x04), false, true);
    inflater.fail(0, error);
    expect(end.failures).toEqual([error]);
    expect(end.failures[0]).toBe(error);
    expect(inbox.unread).toBe(1);
    // Not reading yet: the end is reported at once (the connection fails now).
    expect(end.proceeded).toBe(1);
    expect(binaryOf(await recv(inbox))).toEqual(bytes(1, 0x01));
    await expect(recv(inbox)).rejects.toBe(end.closed);
    // The compressed message after the failed one was never inflated.
    expect(inflater.calls.length).toBe(1);
  });

  it('with a reader that has read before: the end waits until it has read what came before', async () => {
    const { inbox, end, inflater } = setup();
    inbox.push(bytes(1, 0x01), false, false);
    expect(binaryOf(await recv(inbox))).toEqual(bytes(1, 0x01));
    inbox.push(bytes(1, 0x02), false, false);
    inbox.push(bytes(2), false, true);
    inflater.fail(0, tooBig());
    expect([end.failures.length, end.proceeded]).toEqual([1, 0]);
    expect(binaryOf(await recv(inbox))).toEqual(bytes(1, 0x02));
    expect(end.proceeded).toBe(0);
    const next = track(inbox.take(true));
    await flush();
    expect([end.proceeded, next.state, next.value]).toEqual([1, 'resolved', { done: true, value: undefined }]);
  });

  it('a waiting reader is woken: rejected with closedError() (recv) once the end is reported', async () => {
    const { inbox, end, inflater } = setup();
    const reader = track(recv(inbox));
    inbox.push(bytes(2), false, true);
    inflater.fail(0, tooBig());
    await flush();
    expect([end.proceeded, reader.state, reader.error]).toEqual([1, 'rejected', end.closed]);
  });
});

describe('the end of the stream is reported (proceed) only once the application caught up', () => {
  it('not reading: at once, with messages still queued', () => {
    const { inbox, end } = setup({ inflater: false });
    inbox.push(bytes(1), false, false);
    inbox.endOfStream();
    expect(end.proceeded).toBe(1);
  });

  it('reading: not while a message is queued; when the reader asks for the next one after it', async () => {
    const { inbox, end } = setup({ inflater: false });
    inbox.push(bytes(1, 0x01), false, false);
    expect(binaryOf(await recv(inbox))).toEqual(bytes(1, 0x01));
    inbox.push(bytes(1, 0x02), false, false);
    inbox.endOfStream();
    expect(end.proceeded).toBe(0);
    expect(binaryOf(await recv(inbox))).toEqual(bytes(1, 0x02));
    expect(end.proceeded).toBe(0);
    await expect(recv(inbox)).rejects.toBe(end.closed);
    expect(end.proceeded).toBe(1);
    // Asked again: the same answer, and the end is not reported twice.
    await expect(recv(inbox)).rejects.toBe(end.closed);
    expect(await inbox.take(true)).toEqual({ done: true, value: undefined });
    expect(end.proceeded).toBe(1);
  });

  it('reading, a reader waiting with nothing queued: at once, and the reader is woken', async () => {
    const { inbox, end } = setup({ inflater: false });
    const iterator = track(inbox.take(true));
    const receiver = track(recv(inbox));
    inbox.endOfStream();
    expect(end.proceeded).toBe(1);
    await flush();
    expect(iterator.value).toEqual({ done: true, value: undefined });
    expect([receiver.state, receiver.error]).toEqual(['rejected', end.closed]);
  });

  it('never while inflating (not reading): reported once the inflation is done', () => {
    const { inbox, end, inflater } = setup();
    inbox.push(bytes(2), false, true);
    inbox.endOfStream();
    expect(end.proceeded).toBe(0);
    inflater.finish(0, bytes(4));
    expect(end.proceeded).toBe(1);
  });

  it('never while inflating (reader waiting): the inflated message goes to the reader; the end when it asks again', async () => {
    const { inbox, end, inflater } = setup();
    const reader = track(recv(inbox));
    inbox.push(bytes(2), false, true);
    inbox.endOfStream();
    expect(end.proceeded).toBe(0);
    inflater.finish(0, bytes(4, 0x07));
    await flush();
    expect(binaryOf(reader.value)).toEqual(bytes(4, 0x07));
    expect(end.proceeded).toBe(0);
    expect(await inbox.take(true)).toEqual({ done: true, value: undefined });
    expect(end.proceeded).toBe(1);
  });

  it('never while inflating (two readers waiting, two compressed messages): after both are handed over', async () => {
    const { inbox, end, inflater } = setup();
    const a = track(recv(inbox));
    const b = track(recv(inbox));
    const c = track(recv(inbox));
    inbox.push(bytes(1), false, true);
    inbox.push(bytes(1), false, true);
    inbox.endOfStream();
    inflater.finish(0, bytes(1, 0x0a));
    expect(end.proceeded).toBe(0);
    inflater.finish(1, bytes(1, 0x0b));
    await flush();
    expect([binaryOf(a.value), binaryOf(b.value)]).toEqual([bytes(1, 0x0a), bytes(1, 0x0b)]);
    // The third reader was waiting with nothing left: caught up.
    expect([end.proceeded, c.state, c.error]).toEqual([1, 'rejected', end.closed]);
  });
});

describe('close(): the transport is gone', () => {
  it('wakes every waiter: the iterator gets done, recv rejects with closedError(); onDrained at once', async () => {
    const { inbox, end } = setup({ inflater: false });
    const iterator = track(inbox.take(true));
    const receiver = track(recv(inbox));
    const another = track(inbox.take(true));
    let drained = 0;
    inbox.close(() => drained++);
    expect(drained).toBe(1);
    await flush();
    expect(iterator.value).toEqual({ done: true, value: undefined });
    expect([receiver.state, receiver.error]).toEqual(['rejected', end.closed]);
    expect(another.value).toEqual({ done: true, value: undefined });
    // The transport is gone: there is nothing left to proceed with.
    expect(end.proceeded).toBe(0);
  });

  it('ready messages stay readable, nothing more is queued, and reading is no longer held paused', async () => {
    const { inbox, end, flow } = setup({ inflater: false });
    inbox.push(bytes(MARK, 0x01), false, false);
    expect(flow.calls).toEqual(['pause']);
    inbox.close(() => undefined);
    expect(flow.calls).toEqual(['pause', 'resume']);
    inbox.push(bytes(1, 0x03), false, false);
    expect(inbox.unread).toBe(MARK);
    expect(binaryOf(await recv(inbox))).toEqual(bytes(MARK, 0x01));
    await expect(recv(inbox)).rejects.toBe(end.closed);
    expect(end.proceeded).toBe(0);
  });

  it('messages still compressed are inflated (still held at the mark), readable, and onDrained comes after the last', async () => {
    const { inbox, end, inflater } = setup();
    inbox.push(bytes(MARK, 0x01), false, false);
    inbox.push(bytes(10, 0x02), false, true); // held: the ready bytes are at the mark
    let drained = 0;
    inbox.close(() => drained++);
    expect([drained, inbox.compressed, inflater.calls.length]).toEqual([0, 1, 0]);
    expect(binaryOf(await recv(inbox))).toEqual(bytes(MARK, 0x01));
    expect(inflater.calls.length).toBe(1);
    const next = track(recv(inbox));
    const after = track(inbox.take(true));
    inflater.finish(0, bytes(20, 0x02));
    expect(drained).toBe(1);
    await flush();
    expect(binaryOf(next.value)).toEqual(bytes(20, 0x02));
    expect(after.value).toEqual({ done: true, value: undefined });
    expect([end.proceeded, end.failures.length]).toEqual([0, 0]);
  });

  it('a failed inflation after close(): dropped, not reported to the connection (it is gone), readers woken', async () => {
    const { inbox, end, inflater } = setup();
    const reader = track(recv(inbox));
    inbox.push(bytes(2), false, true);
    let drained = 0;
    inbox.close(() => drained++);
    inflater.fail(0, tooBig());
    await flush();
    expect([drained, end.failures.length, inbox.unread]).toEqual([1, 0, 0]);
    expect([reader.state, reader.error]).toEqual(['rejected', end.closed]);
  });

  it('abandon(): what is still compressed is dropped, onDrained is called, readers are woken; a late inflation is ignored', async () => {
    const { inbox, end, inflater } = setup();
    const reader = track(inbox.take(true));
    inbox.push(bytes(2), false, true);
    inbox.push(bytes(3), false, true);
    let drained = 0;
    inbox.close(() => drained++);
    expect(drained).toBe(0);
    inbox.abandon();
    expect([drained, inbox.compressed, inbox.unread]).toEqual([1, 0, 0]);
    await flush();
    expect(reader.value).toEqual({ done: true, value: undefined });
    inflater.finish(0, bytes(4));
    expect([inbox.unread, inflater.calls.length, drained]).toEqual([0, 1, 1]);
    expect(await inbox.take(true)).toEqual({ done: true, value: undefined });
    expect([end.proceeded, end.failures.length]).toEqual([0, 0]);
  });
});

/** A listen() reader that records what it is given: each message, then 'end'. */
class RecordingListener implements Listener {
  readonly results: (Message | 'end')[] = [];

  onMessage(message: Message): void {
    this.results.push(message);
  }

  onEnd(): void {
    this.results.push('end');
  }

  binary(index: number): Buffer {
    const result = this.results[index];
    return binaryOf(result === 'end' ? undefined : result);
  }
}

describe('listen(): a reader that is an object (Ws.forEach)', () => {
  it('gets a ready message at once, waits for the next one, and is a reader until unlisten()', async () => {
    const { inbox, flow } = setup();
    inbox.push(bytes(60), false, false);
    expect(flow.calls).toEqual([]);
    const reader = new RecordingListener();
    inbox.listen(reader);
    expect(reader.results).toHaveLength(1);
    expect(reader.binary(0)).toEqual(bytes(60));
    expect(inbox.hasReader).toBe(true);
    // Not listening again yet: the next message queues, and counts against the mark.
    inbox.push(bytes(50), false, false);
    expect(reader.results).toHaveLength(1);
    expect(inbox.unread).toBe(50);
    // Other readers are refused meanwhile, and take nothing.
    const other = [track(inbox.take(false)), track(inbox.take(true))];
    await flush();
    for (const refused of other) expect(refused).toMatchObject({ state: 'rejected', error: { code: 'WS_ERR_ALREADY_READING' } });
    expect(inbox.unread).toBe(50);
    inbox.listen(reader);
    expect(reader.binary(1)).toEqual(bytes(50));
    // Nothing ready: it waits, and the next message goes straight to it.
    inbox.listen(reader);
    inbox.push(bytes(70), false, false);
    expect(reader.binary(2)).toEqual(bytes(70));
    expect(inbox.unread).toBe(0);
    inbox.unlisten();
    expect(inbox.hasReader).toBe(false);
    inbox.push(bytes(1), false, false);
    expect(binaryOf(await recv(inbox))).toEqual(bytes(1));
  });

  it('compressed messages reach it inflated, in order; while it is busy they queue, and reading pauses at the mark', () => {
    const { inbox, flow, inflater } = setup();
    const reader = new RecordingListener();
    inbox.listen(reader);
    inbox.push(bytes(10, 0x01), false, true);
    inbox.push(bytes(10, 0x02), false, true);
    inflater.finish(0, bytes(30, 0x61));
    expect(reader.results).toHaveLength(1);
    expect(reader.binary(0)).toEqual(bytes(30, 0x61));
    inflater.finish(1, bytes(100, 0x62));
    // Busy with the first (not listening again yet): the second is ready and queued, at the mark.
    expect(reader.results).toHaveLength(1);
    expect(flow.calls).toEqual(['pause']);
    inbox.listen(reader);
    expect(reader.binary(1)).toEqual(bytes(100, 0x62));
    expect(flow.calls).toEqual(['pause', 'resume']);
  });

  it('the end: told once everything before it was given, and the end is reported then', () => {
    const { inbox, end } = setup({ inflater: false });
    const reader = new RecordingListener();
    inbox.push(bytes(5), false, false);
    inbox.listen(reader);
    inbox.endOfStream();
    // The reader has the last message and has not asked again: not reported yet within this turn.
    expect(end.proceeded).toBe(0);
    inbox.listen(reader);
    expect(reader.results[1]).toBe('end');
    expect(end.proceeded).toBe(1);
  });

  it('a reader waiting when the transport goes is told the end', () => {
    const { inbox } = setup({ inflater: false });
    const reader = new RecordingListener();
    inbox.listen(reader);
    inbox.close(() => undefined);
    expect(reader.results).toEqual(['end']);
  });
});
