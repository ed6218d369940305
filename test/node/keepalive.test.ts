/**
 * Keepalive over real TCP on 127.0.0.1: pings after pingInterval of silence, termination after
 * pingTimeout without an answer, idleTimeout, the interplay with inbound backpressure, and the
 * server-wide heartbeat interval that runs only while there are connections.
 *
 * On a fake clock: the heartbeat's sweeps (setInterval) and the time they read (performance.now())
 * move only when a test advances them, so every sweep fires at an exact, known time. Sockets,
 * setTimeout and setImmediate stay real: frames travel over TCP, and deadline() bounds a wait in
 * real time. Nothing waits for a period of wall-clock time: "nothing was sent by then" is checked
 * with a marker message the server sends after the sweeps (TCP keeps the order), and "the server
 * has read the client's answer" with a ping the client answers after it.
 *
 * Sweeps run every `period` (a quarter of the shortest timing, see sweepPeriod) from the moment
 * the first connection joins, here fake time 0. Activity is stamped with the time of the latest
 * sweep (the coarse clock), so a timeout fires at the first sweep at least timeout + period after
 * the stamp: never early, at most about one period late.
 */

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Message, Ws } from '../../src/index.js';
import { sweepPeriod } from '../../src/node/heartbeat.js';
import {
  OP,
  cleanup,
  closePayload,
  deadline,
  defer,
  deferred,
  echoHandler,
  rawConnect,
  serverFrame,
  settle,
  startServer,
  text,
  until,
  wsConnect,
  type Frame,
  type RawClient,
  type WsClient,
} from './helpers.js';

/** What the heartbeat reads; setTimeout stays real (close timeouts, deadline()). */
const HEARTBEAT_TIMERS = ['setInterval', 'clearInterval', 'performance'] as const;

beforeEach(() => {
  vi.useFakeTimers({ toFake: [...HEARTBEAT_TIMERS] });
});

afterEach(cleanup); // real timers again, then servers and clients closed

const PING = Buffer.from([0x89, 0x00]);

/** Moves the fake clock by `ms`, firing each sweep due on the way at its exact time. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

/** The fake clock's time (0 when the test began; the first connection joined then). */
function now(): number {
  return performance.now();
}

/** The next frame, within a generous bound. */
function nextFrame(client: RawClient, what = 'a frame'): Promise<Frame> {
  return deadline(client.nextFrame(), 5000, what);
}

let markers = 0;

/**
 * Everything the server has written to this raw client so far: the server sends a marker message
 * now, and the frames that arrive before it (TCP keeps the order) are returned, raw.
 */
async function framesSoFar(ws: Ws, client: RawClient): Promise<Buffer[]> {
  const marker = `marker ${++markers}`;
  void ws.send(marker);
  const frames: Buffer[] = [];
  for (;;) {
    const frame = await nextFrame(client, marker);
    if (frame.opcode === OP.TEXT && frame.payload.toString() === marker) return frames;
    frames.push(frame.raw);
  }
}

/** The same for the ws npm client: its 'ping' events before the marker message. */
async function pingsSoFar(ws: Ws, client: WsClient): Promise<number> {
  const marker = `marker ${++markers}`;
  void ws.send(marker);
  const message = await deadline(client.messages.next(), 5000, marker);
  expect(message.data.toString()).toBe(marker);
  return client.pings.size;
}

/**
 * Waits until the server has read everything this raw client sent so far: the server pings, the
 * client answers after what it sent before, and ping() resolves once the server has read the answer.
 * (The answer is one more pong: only for clients that answer pings anyway.)
 */
async function serverHasRead(ws: Ws, client: RawClient): Promise<void> {
  const payload = `sync ${++markers}`;
  const answered = ws.ping(payload);
  expect((await nextFrame(client, 'the sync ping')).raw).toEqual(serverFrame(OP.PING, payload));
  client.sendFrame({ opcode: OP.PONG, payload: text(payload) });
  await deadline(answered, 5000, 'the answer to the sync ping');
}

/** Sends a text message and expects its echo as the very next frame (so no ping came in between). */
async function roundTrip(client: RawClient, message: string): Promise<void> {
  client.sendFrame({ opcode: OP.TEXT, payload: text(message) });
  const frame = await nextFrame(client, `the echo of ${message}`);
  expect(frame.raw).toEqual(serverFrame(OP.TEXT, message));
}

describe('pings and the ping timeout', () => {
  const PING_INTERVAL = 200;
  const PING_TIMEOUT = 200;
  const PERIOD = sweepPeriod({ pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, idleTimeout: 0 }); // 50

  it('pings a silent client after pingInterval, then terminates it after pingTimeout (1006)', async () => {
    const loop = deferred<unknown>();
    const server = await startServer({
      pingInterval: PING_INTERVAL,
      pingTimeout: PING_TIMEOUT,
      handler: async (ws) => {
        const seen: Message[] = [];
        try {
          for await (const message of ws) seen.push(message);
          loop.resolve({ ended: true, seen });
        } catch (error) {
          loop.resolve(error);
        }
      },
    });
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    const pending = settle(ws.recv()); // a second reader, waiting alongside the for-await loop

    // Silent since time 0: no ping a millisecond before pingInterval + period, then one.
    await advance(PING_INTERVAL + PERIOD - 1);
    expect(await framesSoFar(ws, client)).toEqual([]);
    await advance(1);
    expect(await framesSoFar(ws, client)).toEqual([PING]);

    // Unanswered: open a millisecond before pingTimeout after the ping, terminated at it.
    await advance(PING_TIMEOUT - 1);
    expect(await framesSoFar(ws, client)).toEqual([]);
    expect(ws.readyState).toBe('open');
    await advance(1);
    const result = await deadline(ws.closed, 5000, 'the termination');
    expect(result.code).toBe(1006);
    expect(result.wasClean).toBe(false);
    expect(result.reason).toMatch(/ping timeout/);
    expect(result.reason).toMatch(/no answer within 200 ms/);

    const outcome = await pending;
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.error).toMatchObject({ code: 'WS_ERR_CLOSED', closeCode: 1006 });
    expect(await deadline(loop.promise, 5000, 'the for-await loop to end')).toEqual({ ended: true, seen: [] });

    // Terminated, not closed: the TCP connection goes with no close frame after the ping.
    await deadline(client.closed, 5000, "the client's socket to close");
    await expect(client.nextFrame()).rejects.toThrow(/closed/);
    expect(server.server.clients.size).toBe(0);
    expect(server.errors).toEqual([]);
  });

  it('a raw client that answers every ping with a pong stays open over 6 intervals', async () => {
    const server = await startServer({ pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, handler: echoHandler });
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    const pingedAt: number[] = [];
    // Each pong counts as activity at the sweep it arrived after: the next ping is pingInterval +
    // period later. Without it the connection would be terminated pingTimeout after the first ping.
    while (now() < 6 * PING_INTERVAL) {
      await advance(PING_INTERVAL + PERIOD);
      expect(await framesSoFar(ws, client)).toEqual([PING]);
      pingedAt.push(now());
      client.sendFrame({ opcode: OP.PONG, payload: Buffer.alloc(0) });
      await serverHasRead(ws, client); // before the clock moves on
    }
    expect(pingedAt).toEqual([250, 500, 750, 1000, 1250]);
    expect(ws.readyState).toBe('open');
    await roundTrip(client, 'alive');
  });

  it('the ws npm client (which answers pings itself) stays open over 6 intervals', async () => {
    const server = await startServer({ pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, handler: echoHandler });
    const client = await wsConnect(server.url);
    const ws = await server.connections.next();
    let pings = 0;
    while (now() < 6 * PING_INTERVAL) {
      await advance(PING_INTERVAL + PERIOD);
      expect(await deadline(client.pings.next(), 5000, `ping ${pings + 1}`)).toEqual(Buffer.alloc(0));
      pings++;
      // ws answers every ping in order: once the server has the answer to this one, it has the
      // answer to the heartbeat's ping before it.
      await deadline(ws.ping('sync'), 5000, 'the answer to the sync ping');
      expect((await client.pings.next()).toString()).toBe('sync');
    }
    expect(pings).toBe(5);
    expect(ws.readyState).toBe('open');
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    client.ws.send('alive');
    expect((await deadline(client.messages.next(), 5000, 'the echo')).data.toString()).toBe('alive');
  });

  it('a client that sends a message every pingInterval is never pinged', async () => {
    const server = await startServer({ pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, handler: echoHandler });
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    // Each echo must be the very next frame: a ping anywhere fails the round trip.
    for (let i = 0; now() <= 6 * PING_INTERVAL; i++) {
      await roundTrip(client, `message ${i}`);
      await advance(PING_INTERVAL);
    }
    expect(await framesSoFar(ws, client)).toEqual([]);
  });

  it('pingInterval 0 disables pings: a silent client is neither pinged nor terminated', async () => {
    // The second server sweeps anyway (every 500 ms, for idleTimeout), so a sweep that ignored
    // pingInterval 0 would ping at once (0 ms of silence is "enough") and terminate after pingTimeout.
    const plain = await startServer({ pingInterval: 0, pingTimeout: 100, handler: echoHandler });
    const sweeping = await startServer({ pingInterval: 0, pingTimeout: 100, idleTimeout: 2000, handler: echoHandler });
    const clients = await Promise.all([rawConnect(plain.port), rawConnect(sweeping.port)]);
    const connections = [await plain.connections.next(), await sweeping.connections.next()];
    await advance(1500); // the sweeping server swept 3 times; its idle timeout is still ahead
    for (const [i, client] of clients.entries()) {
      expect(await framesSoFar(connections[i]!, client)).toEqual([]);
      expect(connections[i]!.readyState).toBe('open');
      await roundTrip(client, 'never pinged');
    }
  });
});

describe('idleTimeout', () => {
  const IDLE_TIMEOUT = 300;
  const PERIOD = sweepPeriod({ pingInterval: 0, pingTimeout: 0, idleTimeout: IDLE_TIMEOUT }); // 75
  const IDLE_CLOSE = serverFrame(OP.CLOSE, closePayload(1001, 'idle timeout'));

  it('closes a client that sends no message with 1001 "idle timeout" after idleTimeout', async () => {
    const server = await startServer({ idleTimeout: IDLE_TIMEOUT, pingInterval: 0, handler: echoHandler });
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    await advance(IDLE_TIMEOUT + PERIOD - 1);
    expect(await framesSoFar(ws, client)).toEqual([]);
    await advance(1);
    expect((await nextFrame(client, 'the close frame')).raw).toEqual(IDLE_CLOSE);
    client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1001) });
    // The result is the peer's answer (1001, no reason), and the handshake completed cleanly.
    expect(await deadline(ws.closed, 5000, 'the close')).toEqual({ code: 1001, reason: '', wasClean: true });
  });

  it('keeps a client that sends a message every idleTimeout open', async () => {
    const server = await startServer({ idleTimeout: IDLE_TIMEOUT, pingInterval: 0, handler: echoHandler });
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    // A close frame before any echo fails the round trip.
    for (let i = 0; now() < 4 * IDLE_TIMEOUT; i++) {
      await roundTrip(client, `message ${i}`);
      await advance(IDLE_TIMEOUT);
    }
    await roundTrip(client, 'last message');
    expect(ws.readyState).toBe('open');
    // Once the client falls silent, the idle timeout still applies.
    await advance(IDLE_TIMEOUT + PERIOD - 1);
    expect(await framesSoFar(ws, client)).toEqual([]);
    await advance(1);
    expect((await nextFrame(client, 'the close frame')).raw).toEqual(IDLE_CLOSE);
  });

  it('pings and pongs are not messages: the idle timeout fires despite them', async () => {
    const server = await startServer({ idleTimeout: IDLE_TIMEOUT, pingInterval: 100, pingTimeout: 1000, handler: echoHandler });
    const period = sweepPeriod({ pingInterval: 100, pingTimeout: 1000, idleTimeout: IDLE_TIMEOUT }); // 25
    // The ws client answers the server's pings with pongs by itself.
    const answering = await wsConnect(server.url);
    const answeringWs = await server.connections.next();
    // This one sends pings of its own every 50 ms (the server answers them with pongs); that keeps
    // it from ever being silent long enough for the server to ping it.
    const pinging = await rawConnect(server.port);
    const pingingWs = await server.connections.next();
    let pongs = 0;
    for (let i = 0; now() < IDLE_TIMEOUT; i++) {
      pinging.sendFrame({ opcode: OP.PING, payload: text(`p${i}`) });
      expect((await nextFrame(pinging, 'the pong')).raw).toEqual(serverFrame(OP.PONG, `p${i}`));
      pongs++;
      await advance(50);
    }
    expect(pongs).toBe(6);
    await advance(IDLE_TIMEOUT + period - 1 - now());
    expect(await framesSoFar(pingingWs, pinging)).toEqual([]);
    // The ws client did see (and answer) the server's pings before the idle timeout.
    expect(await pingsSoFar(answeringWs, answering)).toBeGreaterThanOrEqual(1);

    await advance(1);
    expect((await nextFrame(pinging, 'the close frame')).raw).toEqual(IDLE_CLOSE);
    pinging.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000) });
    expect(await deadline(answering.closed, 5000, 'the ws client to close')).toEqual({ code: 1001, reason: 'idle timeout' });
    await deadline(pinging.closed, 5000, 'the pinging client to close');
  });

  // Regression test: activity is stamped with the coarse clock, the time of the latest sweep, so a
  // message that arrives late in a sweep period looks up to one period older than it is. Timeouts
  // are therefore compared against timeout + period (keepaliveAction): without that margin this
  // idle timeout fired after 300 ms of the 400 ms of silence (75%).
  it('idleTimeout counts the silence from the last message, not from the sweep before it', async () => {
    const idleTimeout = 400;
    const period = sweepPeriod({ pingInterval: 0, pingTimeout: 0, idleTimeout }); // 100
    const server = await startServer({ idleTimeout, pingInterval: 0, handler: echoHandler });
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    // Halfway between the first and second sweeps: stamped 100, sent at 150.
    await advance(150);
    await roundTrip(client, 'last message');
    await advance(idleTimeout - 1);
    expect(await framesSoFar(ws, client)).toEqual([]);
    // And at most one period late.
    await advance(period + 1);
    expect((await nextFrame(client, 'the close frame')).raw).toEqual(IDLE_CLOSE);
  });
});

describe('keepalive and inbound backpressure', () => {
  it('a connection whose reading is paused is not killed by the ping timeout; its messages then arrive in order', async () => {
    const startReading = deferred();
    const received = deferred<Message[]>();
    const server = await startServer({
      pingInterval: 200,
      pingTimeout: 200,
      receiveHighWaterMark: 1024,
      handler: async (ws) => {
        await startReading.promise;
        const messages: Message[] = [];
        for (let i = 0; i < 3; i++) messages.push(await ws.recv());
        received.resolve(messages);
        await echoHandler(ws);
      },
    });
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    const payloads = [0x11, 0x22, 0x33].map((fill) => Buffer.alloc(1024, fill));
    for (const payload of payloads) client.sendFrame({ opcode: OP.BINARY, payload });
    // Precondition (white box): the 1 KiB queue reached receiveHighWaterMark and reading paused.
    await until(() => (ws as unknown as { inbox: { isPaused: boolean } }).inbox.isPaused, 'reading to pause');

    // Silent twice pingInterval + pingTimeout while paused: the silence is ours, not the peer's.
    await advance(2 * (200 + 200));
    expect(await framesSoFar(ws, client)).toEqual([]);
    expect(ws.readyState).toBe('open');
    expect(server.server.clients.size).toBe(1);

    startReading.resolve();
    const messages = await deadline(received.promise, 5000, 'the queued messages');
    expect(messages.map((message) => message.type)).toEqual(['binary', 'binary', 'binary']);
    expect(messages.map((message, i) => (message.data as Buffer).equals(payloads[i]!))).toEqual([true, true, true]);
    await roundTrip(client, 'reading again');
  });
});

describe('the heartbeat interval', () => {
  it('runs only while there are connections, unref()ed, and server.close() then resolves without waiting for a timer', async () => {
    // setTimeout too: server.close() must resolve with no timer firing (the clock stands still).
    vi.useFakeTimers({ toFake: [...HEARTBEAT_TIMERS, 'setTimeout', 'clearTimeout'] });
    const setSpy = vi.spyOn(globalThis, 'setInterval');
    const clearSpy = vi.spyOn(globalThis, 'clearInterval');
    defer(() => {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    });
    /** The heartbeat intervals started so far: setInterval(sweep, period, heartbeat). */
    const heartbeats = (): Array<{ period: unknown; handle: NodeJS.Timeout }> =>
      setSpy.mock.calls.flatMap((call, i) =>
        typeof call[0] === 'function' && call[0].name === 'sweep'
          ? [{ period: call[1], handle: setSpy.mock.results[i]!.value as NodeJS.Timeout }]
          : [],
      );

    const server = await startServer({ pingInterval: 200, pingTimeout: 200, handler: echoHandler });
    expect(heartbeats()).toHaveLength(0); // an idle server does not wake up

    for (let round = 1; round <= 2; round++) {
      const first = await wsConnect(server.url);
      const second = await wsConnect(server.url);
      const connections: Ws[] = [await server.connections.next(), await server.connections.next()];
      const started = heartbeats();
      expect(started).toHaveLength(round); // one interval per server, not one per connection
      const { period, handle } = started[round - 1]!;
      expect(period).toBe(50); // a quarter of the shortest period
      expect(handle.hasRef()).toBe(false); // never keeps the process alive
      expect(clearSpy.mock.calls.some((call) => call[0] === handle)).toBe(false);

      first.ws.close(1000);
      await deadline(connections[0]!.closed, 5000, 'the first close');
      expect(clearSpy.mock.calls.some((call) => call[0] === handle)).toBe(false); // one is left
      second.ws.close(1000);
      await deadline(connections[1]!.closed, 5000, 'the second close');
      expect(clearSpy.mock.calls.some((call) => call[0] === handle)).toBe(true);
    }

    expect(await deadline(server.server.close(), 5000, 'server.close()')).toEqual({ closed: 0, terminated: 0 });
  });
});
