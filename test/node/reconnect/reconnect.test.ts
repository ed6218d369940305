/**
 * reconnect(url): the async iterable of connections, against real servers on 127.0.0.1 that are
 * stopped and restarted on the same port, answer 503 with Retry-After, or tell the client not to
 * come back. The waits run on a scheduler the test drives, so every delay is checked exactly and
 * no test waits for real time.
 */

import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, reconnect, type DisconnectInfo, type ReconnectError, type Ws } from '../../../src/index.js';
import { HOST, cleanup, defer, expectRejection, settle, startHttpServer, startServer } from '../helpers.js';
import { ManualScheduler } from './scheduler.js';

afterEach(cleanup);

/** A WebSocketServer listening on `port` (0: any), stopped after the test. */
async function listenOn(port: number, handler: (ws: Ws) => unknown): Promise<{ server: WebSocketServer; port: number }> {
  const server = new WebSocketServer({ handler });
  const address = await server.listen(port, HOST);
  defer(() => server.close({ timeout: 100 }));
  return { server, port: address.port };
}

describe('reconnect(url)', () => {
  it('yields a fresh, open Ws each time the one before it has closed', async () => {
    let count = 0;
    const server = await startServer({
      handler: async (ws) => {
        count++;
        await ws.send(`hello ${count}`);
        await ws.recv();
        await ws.close(1000, 'next please');
      },
    });
    const scheduler = new ManualScheduler({ auto: true });
    const connections = reconnect(server.url, { scheduler, random: () => 0.5, perMessageDeflate: false });
    const seen: string[] = [];
    const yielded = new Set<Ws>();
    for await (const ws of connections) {
      expect(ws.readyState).toBe('open');
      yielded.add(ws);
      const message = await ws.recv();
      seen.push(String(message.data));
      if (seen.length === 3) break;
      await ws.send('bye');
      // Read to the end: the loop resumes once this connection has closed.
      for await (const message of ws) void message;
    }
    expect(seen).toEqual(['hello 1', 'hello 2', 'hello 3']);
    expect(yielded.size).toBe(3);
    // After each normal close, the first backoff step: up to minDelay (random 0.5 -> 500 ms).
    expect(scheduler.delays).toEqual([500, 500]);
    expect(connections.counters).toEqual({ attempts: 3, connects: 3, disconnects: 2 });
  });

  it('a server stopped and restarted on the same port: backoff while it is down, then a new connection', async () => {
    const first = await listenOn(0, (ws) => ws.send('first life'));
    const port = first.port;
    const scheduler = new ManualScheduler();
    const infos: Array<[DisconnectInfo['kind'], number | undefined]> = [];
    const connections = reconnect(`ws://${HOST}:${port}/`, {
      scheduler,
      random: () => 1, // every wait is its cap
      minDelay: 100,
      maxDelay: 1000,
      onDisconnect: (info, retryIn) => infos.push([info.kind, retryIn]),
    });
    const one = (await connections.next()).value as Ws;
    expect(String((await one.recv()).data)).toBe('first life');

    // Reading on, as an application does: a Ws holds a close behind unread messages (closeTimeout).
    const drained = (async () => {
      for await (const message of one) void message;
    })();
    await first.server.close({ timeout: 100 });
    await drained;
    const pending = connections.next();
    // The server's 1001 (going away): the first step, then ECONNREFUSED while nothing listens.
    expect(await scheduler.asked.next()).toBe(100);
    scheduler.fire();
    expect(await scheduler.asked.next()).toBe(100);
    scheduler.fire();
    expect(await scheduler.asked.next()).toBe(200);
    scheduler.fire();
    expect(await scheduler.asked.next()).toBe(400);
    // Back on the same port before the next attempt.
    await listenOn(port, (ws) => ws.send('second life'));
    scheduler.fire();
    const two = (await pending).value as Ws;
    expect(String((await two.recv()).data)).toBe('second life');
    expect(infos).toEqual([
      ['closed', 100],
      ['failed', 100],
      ['failed', 200],
      ['failed', 400],
    ]);
    expect(connections.counters).toEqual({ attempts: 5, connects: 2, disconnects: 1 });
    await connections.stop();
  });

  it('a 503 with Retry-After (seconds) waits as told, plus jitter up to minDelay', async () => {
    const wss = new WebSocketServer({ handler: (ws) => ws.send('finally') });
    let requests = 0;
    const http = createServer().on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (requests++ === 0) socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      else void wss.handleUpgrade(request, socket, head);
    });
    const port = await startHttpServer(http);
    defer(() => wss.close({ timeout: 100 }));
    const scheduler = new ManualScheduler();
    const refused: DisconnectInfo[] = [];
    const connections = reconnect(`ws://${HOST}:${port}/`, {
      scheduler,
      random: () => 0.25,
      onDisconnect: (info) => refused.push(info),
    });
    const pending = connections.next();
    expect(await scheduler.asked.next()).toBe(7000 + 250);
    scheduler.fire();
    const ws = (await pending).value as Ws;
    expect(String((await ws.recv()).data)).toBe('finally');
    expect(refused.map((info) => (info.kind === 'refused' ? info.status : info.kind))).toEqual([503]);
    await connections.stop();
  });

  it('a 503 with Retry-After as an HTTP-date waits until that date', async () => {
    const scheduler = new ManualScheduler();
    const date = new Date(scheduler.now() + 12_000).toUTCString();
    const http = createServer().on('upgrade', (_request: IncomingMessage, socket: Duplex) => {
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${date}\r\nContent-Length: 0\r\n\r\n`);
    });
    const port = await startHttpServer(http);
    const connections = reconnect(`ws://${HOST}:${port}/`, { scheduler, random: () => 0 });
    const pending = settle(connections.next());
    expect(await scheduler.asked.next()).toBe(12_000);
    await connections.stop();
    expect(await pending).toEqual({ ok: true, value: { done: true, value: undefined } });
    // stop() cancelled the wait.
    expect(scheduler.pending).toBe(0);
  });

  it('a close with 1012 (service restart) waits 5-30 s, not the usual backoff', async () => {
    const server = await startServer({ handler: (ws) => ws.close(1012, 'restarting') });
    const scheduler = new ManualScheduler();
    const connections = reconnect(server.url, { scheduler, random: () => 0 });
    const ws = (await connections.next()).value as Ws;
    expect((await ws.closed).code).toBe(1012);
    const pending = connections.next();
    expect(await scheduler.asked.next()).toBe(5000);
    await connections.stop();
    await pending;
  });

  it('a close code of the application (4000-4999) stops: next() rejects with WS_ERR_GAVE_UP saying why', async () => {
    const server = await startServer({ handler: (ws) => ws.close(4001, 'banned') });
    const connections = reconnect(server.url, { scheduler: new ManualScheduler({ auto: true }) });
    let caught: unknown;
    try {
      for await (const ws of connections) await ws.closed;
    } catch (error) {
      caught = error;
    }
    const error = caught as ReconnectError;
    expect(error.code).toBe('WS_ERR_GAVE_UP');
    expect(error.info).toEqual({ kind: 'closed', code: 4001, reason: 'banned', wasClean: true });
    expect(error.message).toBe('gave up reconnecting: shouldReconnect() refused: the connection closed with 4001 (banned)');
    expect(connections.counters.attempts).toBe(1);
  });

  it('shouldReconnect can say otherwise: the same 4001 reconnects', async () => {
    const server = await startServer({ handler: (ws) => ws.close(4001, 'banned') });
    const connections = reconnect(server.url, { scheduler: new ManualScheduler({ auto: true }), shouldReconnect: () => true });
    let closes = 0;
    for await (const ws of connections) {
      await ws.closed;
      if (++closes === 3) break;
    }
    expect(connections.counters.connects).toBe(3);
  });

  it('a 403 (or 401) answer stops at once', async () => {
    const server = await startServer({ allowRequest: () => false });
    const scheduler = new ManualScheduler({ auto: true });
    const outcome = await settle(reconnect(server.url, { scheduler }).next());
    expect(outcome.ok).toBe(false);
    const error = (outcome as { error: ReconnectError }).error;
    expect(error.code).toBe('WS_ERR_GAVE_UP');
    expect(error.info?.kind === 'refused' && error.info.status).toBe(403);
    expect(scheduler.delays).toEqual([]);
  });

  it('maxAttempts failures in a row give up with WS_ERR_GAVE_UP', async () => {
    const closedPort = (await listenOn(0, () => undefined)).port;
    await cleanup();
    const scheduler = new ManualScheduler({ auto: true });
    const connections = reconnect(`ws://${HOST}:${closedPort}/`, { scheduler, maxAttempts: 3, random: () => 1 });
    const outcome = await settle(connections.next());
    expect((outcome as { error: ReconnectError }).error.code).toBe('WS_ERR_GAVE_UP');
    expect(((outcome as { error: ReconnectError }).error.info as { kind: string }).kind).toBe('failed');
    expect(connections.counters).toEqual({ attempts: 3, connects: 0, disconnects: 0 });
    expect(scheduler.delays).toEqual([1000, 2000]);
  });

  it('leaving the for-await loop stops reconnecting and closes the last connection', async () => {
    const server = await startServer({ handler: () => undefined });
    const connections = reconnect(server.url, { scheduler: new ManualScheduler({ auto: true }) });
    let last: Ws | undefined;
    for await (const ws of connections) {
      last = ws;
      break;
    }
    expect(last!.readyState).toBe('closed');
    expect((await last!.closed).code).toBe(1000);
    const serverSide = await server.connections.next();
    expect((await serverSide.closed).code).toBe(1000);
    expect(await connections.next()).toEqual({ done: true, value: undefined });
    expect(connections.counters.attempts).toBe(1);
  });

  it('stop() with a code that may not be sent rejects (never throws) with WS_ERR_INVALID_ARGUMENT, and stops nothing', async () => {
    const server = await startServer({ handler: () => undefined });
    const connections = reconnect(server.url, { scheduler: new ManualScheduler({ auto: true }) });
    const { value: ws } = await connections.next();
    await expectRejection(() => connections.stop(1006), 'WS_ERR_INVALID_ARGUMENT');
    expect((ws as Ws).readyState).toBe('open');
    await connections.stop(4000, 'done');
    expect((await (ws as Ws).closed).code).toBe(4000);
  });
});
