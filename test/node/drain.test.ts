/**
 * server.drain() (src/node/drain.ts): the wave plan (sizes, times within their slots), the waves
 * going out on a fake clock (setTimeout, clearTimeout and Date faked; fake connections), what is
 * still open at the deadline destroyed exactly then, the options' bounds; then on real sockets:
 * 503 for new handshakes during a drain, 1012 to every client, the server stopped after, and our
 * ReconnectingClient coming back after a 1012.
 */

import { afterEach, describe, expect, it, vi } from 'vitest';
import { ReconnectingClient, type CloseResult, type DrainOptions, type ReadyState } from '../../src/index.js';
import { drainConnections, planWaves, resolveDrain, type Drainable } from '../../src/node/drain.js';
import { cleanup, deadline, defer, echoHandler, rawConnect, rawHttp, seeded, startServer, until, upgradeRequest, wsConnect } from './helpers.js';

afterEach(cleanup);

/** A connection on the fake clock: it records when it was asked to close, and answers at once unless `silent`. */
class FakeConnection implements Drainable {
  readyState: ReadyState = 'open';
  closeAt: number | null = null;
  closeCode: number | null = null;
  terminatedAt: number | null = null;
  readonly closed: Promise<CloseResult>;
  private settle!: (result: CloseResult) => void;

  constructor(private readonly silent = false) {
    this.closed = new Promise((resolve) => (this.settle = resolve));
  }

  close(code: number, reason: string): Promise<CloseResult> {
    this.closeAt = Date.now();
    this.closeCode = code;
    this.readyState = 'closing';
    if (!this.silent) {
      queueMicrotask(() => {
        this.readyState = 'closed';
        this.settle({ code, reason, wasClean: true });
      });
    }
    return this.closed;
  }

  terminate(): void {
    this.terminatedAt = Date.now();
    this.readyState = 'closed';
    this.settle({ code: 1006, reason: '', wasClean: false });
  }
}

describe('the wave plan', () => {
  it('cuts n connections into waves of nearly equal size, each at a time in the first half of its slot', () => {
    const plan = resolveDrain({ deadline: 10_000, waves: 10 });
    for (const random of [() => 0, () => 0.999999, seeded(1)]) {
      const waves = planWaves(1003, plan, random);
      expect(waves.map((wave) => wave.size)).toEqual([101, 101, 101, 100, 100, 100, 100, 100, 100, 100]);
      waves.forEach((wave, k) => {
        expect(wave.at).toBeGreaterThanOrEqual(k * 1000);
        expect(wave.at).toBeLessThan(k * 1000 + 500);
      });
    }
  });

  it('with fewer connections than waves, one wave each, still spread over the whole deadline', () => {
    const waves = planWaves(3, resolveDrain({ deadline: 9000, waves: 9 }), () => 0);
    expect(waves).toEqual([
      { at: 0, size: 1 },
      { at: 3000, size: 1 },
      { at: 6000, size: 1 },
    ]);
  });

  it('defaults: 30 s, 1012 service restart, 10 waves; bounds refused with WS_ERR_INVALID_ARGUMENT', () => {
    expect(resolveDrain({})).toEqual({ deadline: 30_000, code: 1012, reason: 'service restart', waves: 10 });
    const bad: DrainOptions[] = [{ deadline: -1 }, { deadline: 1.5 }, { deadline: 2 ** 31 }, { waves: 0 }, { waves: 1001 }, { code: 1006 }, { reason: 'x'.repeat(124) }];
    for (const options of bad) expect(() => resolveDrain(options)).toThrow(expect.objectContaining({ code: 'WS_ERR_INVALID_ARGUMENT' }));
  });
});

describe('drainConnections() on a fake clock', () => {
  it('closes the connections wave by wave over the deadline, each wave at its planned time, with the code given', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 0 });
    const connections = Array.from({ length: 100 }, () => new FakeConnection());
    const plan = resolveDrain({ deadline: 1000, waves: 4, code: 1001 });
    const draining = drainConnections(connections, plan, seeded(7));
    let done = false;
    void draining.then(() => (done = true));
    const closedBy = (t: number): number => connections.filter((c) => c.closeAt !== null && c.closeAt <= t).length;
    // Advance in 10 ms steps and record how many were asked to close by then.
    const curve: number[] = [];
    for (let t = 0; t <= 1000; t += 10) {
      curve.push(closedBy(t));
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(done).toBe(true);
    expect(await draining).toEqual({ closed: 100, terminated: 0 });
    // Four steps of 25: each wave inside the first half of its 250 ms slot.
    const steps = [...new Set(connections.map((c) => c.closeAt!))].sort((a, b) => a - b);
    expect(steps).toHaveLength(4);
    steps.forEach((at, k) => {
      expect(at).toBeGreaterThanOrEqual(k * 250);
      expect(at).toBeLessThan(k * 250 + 125);
      expect(connections.filter((c) => c.closeAt === at)).toHaveLength(25);
    });
    expect(curve[0]).toBeLessThanOrEqual(25);
    expect(curve.at(-1)).toBe(100);
    expect(new Set(connections.map((c) => c.closeCode))).toEqual(new Set([1001]));
  });

  it('destroys what has not finished its closing handshake exactly at the deadline, not before', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 0 });
    const answering = Array.from({ length: 6 }, () => new FakeConnection());
    const silent = Array.from({ length: 4 }, () => new FakeConnection(true));
    const draining = drainConnections([...answering, ...silent], resolveDrain({ deadline: 2000, waves: 5 }), seeded(3));
    await vi.advanceTimersByTimeAsync(1999);
    expect(silent.every((c) => c.closeAt !== null && c.terminatedAt === null)).toBe(true);
    expect(answering.every((c) => c.readyState === 'closed')).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(silent.map((c) => c.terminatedAt)).toEqual([2000, 2000, 2000, 2000]);
    expect(await draining).toEqual({ closed: 6, terminated: 4 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a connection that closed by itself before its wave is not closed again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 0 });
    const connections = [new FakeConnection(), new FakeConnection()];
    const draining = drainConnections(connections, resolveDrain({ deadline: 1000, waves: 2 }), () => 0.9);
    connections.forEach((c) => {
      c.readyState = 'closed';
      c.terminate();
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(connections.map((c) => c.closeAt)).toEqual([null, null]);
    expect(await draining).toEqual({ closed: 2, terminated: 0 });
  });

  it('with no connections, resolves at once', async () => {
    expect(await drainConnections([], resolveDrain({ deadline: 60_000 }))).toEqual({ closed: 0, terminated: 0 });
  });
});

describe('server.drain() on real sockets', () => {
  it('answers new handshakes 503 at once, closes every connection with 1012, then stops listening', async () => {
    const server = await startServer({ handler: echoHandler });
    const clients = await Promise.all(Array.from({ length: 5 }, () => wsConnect(server.url)));
    await until(() => server.server.clients.size === 5, 'connections accepted');
    // Waves over 2 s: the raw handshake below is answered while the server still listens, even on
    // a loaded machine (with 300 ms, the drain could end and close the port first).
    const draining = server.server.drain({ deadline: 2000, waves: 5 });
    const refused = await rawHttp(server.port, upgradeRequest());
    expect(refused.status).toBe(503);
    expect(await deadline(draining, 10_000, 'drain() to resolve')).toEqual({ closed: 5, terminated: 0 });
    for (const client of clients) expect(await client.closed).toEqual({ code: 1012, reason: 'service restart' });
    expect(server.server.clients.size).toBe(0);
    expect(server.server.address()).toBe(null);
  });

  it('a client that does not answer the close is destroyed at the deadline', async () => {
    const server = await startServer({ handler: echoHandler });
    const raw = await rawConnect(server.port);
    await until(() => server.server.clients.size === 1, 'connection accepted');
    const result = await server.server.drain({ deadline: 200, waves: 1 });
    expect(result).toEqual({ closed: 0, terminated: 1 });
    expect((await raw.nextFrame()).raw).toEqual(Buffer.from([0x88, 17, 0x03, 0xf4, ...Buffer.from('service restart')]));
  });

  it('rejects options out of bounds before stopping anything', async () => {
    const server = await startServer({ handler: echoHandler });
    const client = await wsConnect(server.url);
    await expect(server.server.drain({ waves: 0 })).rejects.toMatchObject({ code: 'WS_ERR_INVALID_ARGUMENT' });
    client.ws.send('still here');
    expect((await client.messages.next()).data.toString()).toBe('still here');
  });

  it('our ReconnectingClient takes the 1012 as a service restart: it reconnects, after a jittered delay within maxDelay', async () => {
    const server = await startServer({ handler: echoHandler });
    const told: { code: number | undefined; retryIn: number | undefined }[] = [];
    const client = new ReconnectingClient(server.url, {
      maxDelay: 3000,
      random: () => 0.5,
      onDisconnect: (info, retryIn) => told.push({ code: info.kind === 'closed' ? info.code : undefined, retryIn }),
    });
    defer(() => client.close());
    await until(() => client.state === 'open', 'the first connection', 1_000_000);
    expect(await server.server.drain({ deadline: 50, waves: 1 })).toEqual({ closed: 1, terminated: 0 });
    await until(() => told.length > 0, 'the disconnect', 1_000_000);
    // The registry's 5-30 s window scaled into maxDelay (500-3000 ms), drawn at 0.5: it comes back, later than a herd would.
    expect(told[0]).toEqual({ code: 1012, retryIn: 1750 });
  });
});
