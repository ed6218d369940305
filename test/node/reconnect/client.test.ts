/**
 * ReconnectingClient against real servers on 127.0.0.1 that are stopped and restarted on the same
 * port: every send() settles as delivered to a live connection or rejects with WS_ERR_DROPPED /
 * WS_ERR_GAVE_UP, in order, and the counters say so. Waits run on a scheduler the test drives.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { ReconnectingClient, WebSocketServer, type ReconnectError, type Ws } from '../../../src/index.js';
import { AsyncQueue, HOST, cleanup, defer, expectRejection, settle, until } from '../helpers.js';
import { ManualScheduler } from './scheduler.js';

afterEach(cleanup);

interface Recorder {
  readonly server: WebSocketServer;
  readonly port: number;
  /** Text messages received, per connection, in order. */
  readonly received: string[][];
  readonly connections: AsyncQueue<Ws>;
}

/** A server that records what each connection receives; `greet` is sent to each new connection. */
async function recordingServer(port = 0, greet?: string): Promise<Recorder> {
  const received: string[][] = [];
  const connections = new AsyncQueue<Ws>();
  const server = new WebSocketServer({
    handler: async (ws) => {
      const log: string[] = [];
      received.push(log);
      connections.push(ws);
      if (greet !== undefined) await ws.send(greet);
      for await (const message of ws) log.push(String(message.data));
    },
  });
  const address = await server.listen(port, HOST);
  defer(() => server.close({ timeout: 100 }));
  return { server, port: address.port, received, connections };
}

function client(port: number, options: ConstructorParameters<typeof ReconnectingClient>[1] = {}): ReconnectingClient {
  const c = new ReconnectingClient(`ws://${HOST}:${port}/`, { random: () => 0, ...options });
  defer(() => c.close());
  return c;
}

async function connected(c: ReconnectingClient): Promise<Ws> {
  await until(() => c.state === 'open', 'the client is open');
  return c.ws!;
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const outcome = await settle(promise);
  return outcome.ok ? 'resolved' : (outcome.error as { code?: string }).code;
}

describe('ReconnectingClient', () => {
  it('send() on a live connection resolves once that connection took it', async () => {
    const server = await recordingServer();
    const c = client(server.port, { scheduler: new ManualScheduler({ auto: true }) });
    await connected(c);
    await c.send('one');
    await c.send(Buffer.from('two'), { text: true });
    await until(() => server.received[0]?.length === 2, 'both received');
    expect(server.received[0]).toEqual(['one', 'two']);
    expect(c.counters).toMatchObject({ attempts: 1, connects: 1, sent: 2, dropped: 0, gaveUp: 0 });
  });

  it('while the server is down, sends wait in the send queue and go out in order on the next connection, after onConnect\'s', async () => {
    const first = await recordingServer();
    const port = first.port;
    const scheduler = new ManualScheduler();
    const c = client(port, {
      scheduler,
      onConnect: async (ws) => {
        await ws.send('subscribe');
        await c.send('hello from onConnect');
      },
    });
    await connected(c);
    await until(() => first.received[0]?.length === 2, 'the first onConnect ran');
    await first.server.close({ timeout: 100 });
    await until(() => c.state === 'connecting', 'the client noticed');
    const sends = [c.send('m1'), c.send('m2'), c.send('m3')];
    expect(c.queuedMessages).toBe(3);
    expect(c.queuedBytes).toBe(6);
    // The wait after the close passes; the attempt finds nothing listening and waits again; then
    // the server is back on the same port.
    await scheduler.passNext();
    await scheduler.asked.next();
    const second = await recordingServer(port);
    scheduler.fire();
    expect(await Promise.all(sends.map(codeOf))).toEqual(['resolved', 'resolved', 'resolved']);
    await until(() => second.received[0]?.length === 5, 'all received');
    expect(second.received[0]).toEqual(['subscribe', 'hello from onConnect', 'm1', 'm2', 'm3']);
    // sent counts client.send() only (two from onConnect, three queued): onConnect's ws.send() is its own.
    expect(c.counters).toEqual({ attempts: 3, connects: 2, disconnects: 1, sent: 5, requeued: 0, dropped: 0, gaveUp: 0 });
  });

  it("a full send queue with 'reject' rejects the new send with WS_ERR_DROPPED; the others are delivered", async () => {
    const server = await recordingServer();
    const scheduler = new ManualScheduler();
    // Never connected yet: the first attempt is still on its way when these are queued.
    const c = client(server.port, { scheduler, maxQueuedMessages: 2 });
    const sends = [c.send('a'), c.send('b'), c.send('c')];
    expect(await codeOf(sends[2]!)).toBe('WS_ERR_DROPPED');
    expect(await codeOf(sends[0]!)).toBe('resolved');
    expect(await codeOf(sends[1]!)).toBe('resolved');
    await until(() => server.received[0]?.length === 2, 'received');
    expect(server.received[0]).toEqual(['a', 'b']);
    expect(c.counters).toMatchObject({ sent: 2, dropped: 1 });
  });

  it("'drop-oldest' rejects the oldest with WS_ERR_DROPPED to make room (bytes bound)", async () => {
    const server = await recordingServer();
    const c = client(server.port, { scheduler: new ManualScheduler(), maxQueuedBytes: 4, queuePolicy: 'drop-oldest' });
    const sends = [c.send('aa'), c.send('bb'), c.send('cc')];
    const dropped = await settle(sends[0]!);
    expect((dropped as { error: ReconnectError }).error.code).toBe('WS_ERR_DROPPED');
    expect((dropped as { error: ReconnectError }).error.message).toContain("queuePolicy 'drop-oldest'");
    expect(await Promise.all(sends.slice(1).map(codeOf))).toEqual(['resolved', 'resolved']);
    await until(() => server.received[0]?.length === 2, 'received');
    expect(server.received[0]).toEqual(['bb', 'cc']);
  });

  it('a message larger than maxQueuedBytes cannot wait: WS_ERR_DROPPED at once, even with drop-oldest', async () => {
    const c = client(1, { scheduler: new ManualScheduler(), maxQueuedBytes: 3, queuePolicy: 'drop-oldest' });
    const small = c.send('ab');
    expect(await codeOf(c.send('abcd'))).toBe('WS_ERR_DROPPED');
    expect(c.queuedMessages).toBe(1);
    await c.close();
    expect(await codeOf(small)).toBe('WS_ERR_GAVE_UP');
  });

  it('close(): what is queued rejects with WS_ERR_GAVE_UP, and so does every later send', async () => {
    const c = client(1, { scheduler: new ManualScheduler() });
    const queued = c.send('never');
    await c.close();
    expect(c.state).toBe('closed');
    expect(await codeOf(queued)).toBe('WS_ERR_GAVE_UP');
    expect(await codeOf(c.send('too late'))).toBe('WS_ERR_GAVE_UP');
    const stopped = await c.stopped;
    expect(stopped.code).toBe('WS_ERR_GAVE_UP');
    expect(stopped.info).toBeUndefined();
    expect(c.counters.gaveUp).toBe(2);
  });

  it('close() closes the live connection with the code and reason given', async () => {
    const server = await recordingServer();
    const c = client(server.port, { scheduler: new ManualScheduler({ auto: true }) });
    await connected(c);
    const serverSide = await server.connections.next();
    await c.close(4000, 'done here');
    expect(await serverSide.closed).toMatchObject({ code: 4000, reason: 'done here', wasClean: true });
  });

  it('close() with a code that may not be sent rejects (never throws) with WS_ERR_INVALID_ARGUMENT, and stops nothing', async () => {
    const server = await recordingServer();
    const c = client(server.port, { scheduler: new ManualScheduler({ auto: true }) });
    const ws = await connected(c);
    await expectRejection(() => c.close(1005), 'WS_ERR_INVALID_ARGUMENT');
    await expectRejection(() => c.close(4000, 'x'.repeat(124)), 'WS_ERR_INVALID_ARGUMENT');
    await expectRejection(() => c.send(42 as unknown as string), 'WS_ERR_INVALID_ARGUMENT');
    expect([c.state, ws.readyState]).toEqual(['open', 'open']);
    await c.send('still here');
  });

  it('aborting the signal stops for good: the live connection closes, later sends reject WS_ERR_GAVE_UP', async () => {
    const server = await recordingServer();
    const controller = new AbortController();
    const c = client(server.port, { scheduler: new ManualScheduler({ auto: true }), signal: controller.signal });
    await connected(c);
    const serverSide = await server.connections.next();
    controller.abort();
    expect((await serverSide.closed).code).toBe(1000);
    const stopped = await c.stopped;
    expect([stopped.code, c.state]).toEqual(['WS_ERR_GAVE_UP', 'closed']);
    expect(await codeOf(c.send('after'))).toBe('WS_ERR_GAVE_UP');
    expect(c.counters.attempts).toBe(1);
  });

  it('a do-not-come-back close (4000-4999) stops the client: queued sends reject WS_ERR_GAVE_UP with the reason', async () => {
    const server = await recordingServer();
    const c = client(server.port, { scheduler: new ManualScheduler({ auto: true }) });
    await connected(c);
    const serverSide = await server.connections.next();
    await serverSide.close(4003, 'kicked');
    const stopped = await c.stopped;
    expect(stopped.info).toEqual({ kind: 'closed', code: 4003, reason: 'kicked', wasClean: true });
    expect(await codeOf(c.send('after'))).toBe('WS_ERR_GAVE_UP');
    expect(c.state).toBe('closed');
    expect(c.counters.attempts).toBe(1);
  });

  it('sends not confirmed before their connection closed go again, in order, on the next one', async () => {
    const server = await recordingServer();
    const c = client(server.port, { scheduler: new ManualScheduler({ auto: true }) });
    const ws = await connected(c);
    const sends = [c.send('x1'), c.send('x2')];
    // Cut off in the same turn: nothing reached the socket, both sends are rejected by that Ws.
    ws.terminate();
    expect(await Promise.all(sends.map(codeOf))).toEqual(['resolved', 'resolved']);
    await until(() => server.received[1]?.length === 2, 'received on the second connection');
    expect(server.received[1]).toEqual(['x1', 'x2']);
    expect(c.counters).toMatchObject({ connects: 2, requeued: 2, sent: 2, dropped: 0 });
  });

  it('a connection that refuses a message (WS_ERR_BUFFER_FULL) rejects it with WS_ERR_DROPPED and its cause', async () => {
    const server = await recordingServer();
    const c = client(server.port, { scheduler: new ManualScheduler({ auto: true }), maxBufferedAmount: 1, sendOverflow: 'reject' });
    await connected(c);
    const first = c.send('fits');
    const second = c.send('overflows');
    expect(await codeOf(first)).toBe('resolved');
    const outcome = await settle(second);
    const error = (outcome as { error: ReconnectError }).error;
    expect(error.code).toBe('WS_ERR_DROPPED');
    expect((error.cause as { code: string }).code).toBe('WS_ERR_BUFFER_FULL');
  });

  it('onConnect that throws: the connection closes with 1011 and counts as a failed attempt', async () => {
    const server = await recordingServer();
    const scheduler = new ManualScheduler({ auto: true });
    let calls = 0;
    const c = client(server.port, {
      scheduler,
      random: () => 1,
      onConnect: () => {
        if (++calls <= 2) throw new Error('not yet');
      },
    });
    await connected(c);
    const closes = [await server.connections.next(), await server.connections.next()];
    expect((await Promise.all(closes.map((ws) => ws.closed))).map((result) => [result.code, result.reason])).toEqual([
      [1011, 'onConnect failed'],
      [1011, 'onConnect failed'],
    ]);
    // The two failures in a row back off: 1000, then 2000.
    expect(scheduler.delays).toEqual([1000, 2000]);
    expect(c.counters).toMatchObject({ attempts: 3, connects: 3 });
  });

  it('for await (const message of client) reads every connection in turn, and ends when the client stops', async () => {
    const first = await recordingServer(0, 'from the first');
    const scheduler = new ManualScheduler({ auto: true });
    const c = client(first.port, { scheduler });
    const messages: string[] = [];
    const reading = (async () => {
      for await (const message of c) {
        messages.push(String(message.data));
        if (messages.length === 1) {
          await first.server.close({ timeout: 100 });
          await recordingServer(first.port, 'from the second');
        }
        if (messages.length === 2) void c.close();
      }
    })();
    await reading;
    expect(messages).toEqual(['from the first', 'from the second']);
    expect(c.state).toBe('closed');
  });
});
