/**
 * Ws.forEach() (src/node/message-loop.ts): every message handed to one function, in order, one at
 * a time, until the connection closes; a for-await loop without a promise per read, and without
 * keeping the last message while the next is awaited (issue 15). Real server, raw client: the
 * client's frames are written byte for byte, so what arrives in one chunk is under the test's
 * control.
 */

import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../../src/index.js';
import { OP, cleanup, clientFrame, closePayload, deferred, expectRejection, rawConnect, serverFrame, startServer, until } from './helpers.js';

afterEach(cleanup);

const frame = (value: string): Buffer => clientFrame({ opcode: OP.TEXT, payload: value, mask: 'random' });

async function connected() {
  const server = await startServer();
  const client = await rawConnect(server.port);
  const ws = await server.connections.next();
  return { server, client, ws };
}

describe('Ws.forEach()', () => {
  it('hands every message over in order, each once, and resolves after the close', async () => {
    const { client, ws } = await connected();
    const seen: string[] = [];
    const done = ws.forEach((message) => {
      seen.push(`${message.type}:${String(message.data)}`);
    });
    client.send(Buffer.concat([frame('one'), frame('two'), clientFrame({ opcode: OP.BINARY, payload: 'three', mask: 'random' })]));
    await until(() => seen.length === 3, 'three messages');
    client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000, 'bye'), mask: 'random' });
    await done;
    expect(seen).toEqual(['text:one', 'text:two', 'binary:three']);
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.CLOSE, closePayload(1000)));
    expect(await ws.closed).toMatchObject({ code: 1000, reason: 'bye' });
  });

  it('waits for a handler’s promise before the next message', async () => {
    const { client, ws } = await connected();
    const events: string[] = [];
    const gates = [deferred(), deferred()];
    const done = ws.forEach(async (message) => {
      const index = events.filter((event) => event.startsWith('start')).length;
      events.push(`start ${String(message.data)}`);
      if (index < gates.length) await gates[index]!.promise;
      events.push(`end ${String(message.data)}`);
    });
    client.send(Buffer.concat([frame('a'), frame('b'), frame('c')]));
    await until(() => events.length === 1, 'the first message');
    // Everything has arrived; the second message still waits for the first handler.
    await nextMacrotask();
    expect(events).toEqual(['start a']);
    gates[0]!.resolve();
    await until(() => events.length === 3, 'the second message');
    expect(events).toEqual(['start a', 'end a', 'start b']);
    gates[1]!.resolve();
    await until(() => events.length === 6, 'the third message');
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000), mask: 'random' });
    await done;
  });

  it('messages that arrived before the close are all handled, even when the handler is slow; then it resolves', async () => {
    const { client, ws } = await connected();
    const seen: string[] = [];
    const gate = deferred();
    const done = ws.forEach(async (message) => {
      if (seen.length === 0) await gate.promise;
      seen.push(String(message.data));
    });
    client.send(Buffer.concat([frame('1'), frame('2'), frame('3'), clientFrame({ opcode: OP.CLOSE, payload: closePayload(1001), mask: 'random' })]));
    await nextMacrotask();
    gate.resolve();
    await done;
    expect(seen).toEqual(['1', '2', '3']);
    expect((await ws.closed).code).toBe(1001);
  });

  it('a handler that throws: forEach rejects with its error, reading stops, the connection stays open and recv() reads on', async () => {
    const { client, ws } = await connected();
    const failure = new Error('handler failed');
    const done = ws.forEach((message) => {
      if (message.data === 'bad') throw failure;
    });
    client.send(Buffer.concat([frame('ok'), frame('bad'), frame('after')]));
    await expect(done).rejects.toBe(failure);
    expect(ws.readyState).toBe('open');
    expect(await ws.recv()).toEqual({ type: 'text', data: 'after' });
    await ws.send('still here');
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'still here'));
  });

  it('a handler whose promise rejects: forEach rejects with that reason, and a new forEach() reads on', async () => {
    const { client, ws } = await connected();
    const done = ws.forEach(async (message) => {
      if (message.data === 'bad') throw new RangeError('rejected');
    });
    client.send(Buffer.concat([frame('bad'), frame('next')]));
    await expect(done).rejects.toThrow(RangeError);
    const seen: Message[] = [];
    const again = ws.forEach((message) => {
      seen.push(message);
    });
    await until(() => seen.length === 1, 'the message after the failure');
    expect(seen).toEqual([{ type: 'text', data: 'next' }]);
    client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000), mask: 'random' });
    await again;
  });

  it('a thenable that is not a promise is adopted as await adopts it: one that calls back twice counts once', async () => {
    const { client, ws } = await connected();
    const seen: string[] = [];
    let active = 0;
    let mostActive = 0;
    const twice = ws.forEach((message) => {
      seen.push(String(message.data));
      mostActive = Math.max(mostActive, ++active);
      const thenable = {
        then(resolve: () => void) {
          setImmediate(() => {
            active--;
            resolve();
            resolve();
          });
        },
      };
      return thenable as unknown as PromiseLike<void>;
    });
    client.sendFrame({ opcode: OP.TEXT, payload: '1', mask: 'random' });
    await until(() => seen.length === 1 && active === 0, 'the first message handled');
    await nextMacrotask();
    // Nothing was queued when the first settled twice: had it asked for the next message twice,
    // these two would go to it at once (the second in place of the first).
    client.send(Buffer.concat([frame('2'), frame('3')]));
    await until(() => seen.length === 3 && active === 0, 'two more messages handled');
    expect(seen).toEqual(['1', '2', '3']);
    expect(mostActive).toBe(1);
    client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000), mask: 'random' });
    await twice;
  });

  it('a handler whose thenable’s then() throws: forEach rejects with that error', async () => {
    const { client, ws } = await connected();
    const thrown = new Error('then() threw');
    const throwing = ws.forEach(
      () =>
        ({
          then() {
            throw thrown;
          },
        }) as unknown as PromiseLike<void>,
    );
    client.sendFrame({ opcode: OP.TEXT, payload: 'x', mask: 'random' });
    await expect(throwing).rejects.toBe(thrown);
  });

  it('one reader at a time: WS_ERR_ALREADY_READING for recv(), for-await and a second forEach() while it runs, and for forEach() while recv() waits', async () => {
    const { client, ws } = await connected();
    const pending = ws.recv();
    await expectRejection(() => ws.forEach(() => undefined), 'WS_ERR_ALREADY_READING');
    client.sendFrame({ opcode: OP.TEXT, payload: 'for recv', mask: 'random' });
    expect(await pending).toEqual({ type: 'text', data: 'for recv' });

    const seen: string[] = [];
    const done = ws.forEach((message) => {
      seen.push(String(message.data));
    });
    await expectRejection(() => ws.recv(), 'WS_ERR_ALREADY_READING');
    await expectRejection(() => ws.next(), 'WS_ERR_ALREADY_READING');
    await expectRejection(() => ws.forEach(() => undefined), 'WS_ERR_ALREADY_READING');
    // None of the refused readers took a message from it.
    client.send(Buffer.concat([frame('x'), frame('y')]));
    await until(() => seen.length === 2, 'two messages');
    expect(seen).toEqual(['x', 'y']);
    client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000), mask: 'random' });
    await done;
    // Done: the other readers may read again (and are told the connection closed).
    await expectRejection(() => ws.recv(), 'WS_ERR_CLOSED');
  });

  it('refuses a handler that is not a function with WS_ERR_INVALID_ARGUMENT (a rejection, never a throw)', async () => {
    const { ws } = await connected();
    await expectRejection(() => ws.forEach('handler' as unknown as () => void), 'WS_ERR_INVALID_ARGUMENT');
  });

  it('on a connection already closed: resolves at once when nothing is left to read', async () => {
    const { client, ws } = await connected();
    const closing = ws.close(1000, 'done');
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.CLOSE, closePayload(1000, 'done')));
    client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000), mask: 'random' });
    expect(await closing).toMatchObject({ code: 1000 });
    let calls = 0;
    await ws.forEach(() => {
      calls++;
    });
    expect(calls).toBe(0);
  });

  it('keeps nothing of a handled message while it waits for the next', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { client, ws } = await connected();
    let last: WeakRef<Message> | null = null;
    const done = ws.forEach(async (message) => {
      last = new WeakRef(message);
      await Promise.resolve();
    });
    client.sendFrame({ opcode: OP.TEXT, payload: 'collect me', mask: 'random' });
    await until(() => last !== null, 'the message');
    // A WeakRef is kept through the job that created it: collect in a later macrotask.
    await nextMacrotask();
    await nextMacrotask();
    gc();
    expect(last!.deref()).toBeUndefined();
    client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000), mask: 'random' });
    await done;
  });
});
