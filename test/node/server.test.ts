/**
 * The server over real HTTP on 127.0.0.1: listen(), the opening handshake and its refusals with
 * exact statuses, subprotocols, running inside an application's own HTTP server (handleUpgrade,
 * attach, the `head` bytes), handler failures, and shutdown.
 */

import { once } from 'node:events';
import { createServer, get, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type Ws } from '../../src/index.js';
import {
  HOST,
  OP,
  RawClient,
  cleanup,
  clientFrame,
  closePayload,
  deadline,
  defer,
  deferred,
  echoHandler,
  instrument,
  rawConnect,
  rawHttp,
  serverFrame,
  startHttpServer,
  startServer,
  text,
  until,
  upgradeRequest,
  wsConnect,
} from './helpers.js';

afterEach(cleanup);

/** A plain HTTP GET with node:http; resolves with the status and body. */
function httpGet(port: number, path = '/'): Promise<{ status: number; body: string; headers: IncomingMessage['headers'] }> {
  return new Promise((resolve, reject) => {
    const request = get({ host: HOST, port, path, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: response.headers }),
      );
    });
    request.on('error', reject);
  });
}

const INTERNAL_ERROR_CLOSE = serverFrame(OP.CLOSE, closePayload(1011, 'internal error'));

describe('listen()', () => {
  it('binds the requested address and reports it', async () => {
    const server = new WebSocketServer();
    const address = await server.listen(0, HOST);
    defer(() => server.close({ timeout: 100 }));
    expect(address.address).toBe(HOST);
    expect(address.family).toBe('IPv4');
    expect(address.port).toBeGreaterThan(0);
    expect(server.address()).toEqual(address);
    await expect(server.listen(0, HOST)).rejects.toMatchObject({ code: 'WS_ERR_INVALID_ARGUMENT' });
  });

  it('address() is null before listen() and after close()', async () => {
    const server = new WebSocketServer();
    expect(server.address()).toBeNull();
    await server.listen(0, HOST);
    await server.close();
    expect(server.address()).toBeNull();
  });

  it('rejects when the port is taken', async () => {
    const first = await startServer();
    const second = new WebSocketServer();
    await expect(second.listen(first.port, HOST)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('answers a plain HTTP GET with 426 and closes the connection', async () => {
    const { port } = await startServer({ handler: echoHandler });
    const response = await rawHttp(port, `GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    expect(response.status).toBe(426);
    expect(response.statusLine).toBe('HTTP/1.1 426 Upgrade Required');
    expect(response.headers['upgrade']).toBe('websocket');
    expect(response.headers['sec-websocket-version']).toBe('13');
    expect(response.headers['connection']).toBe('close');
    expect(response.body).toBe('this is a WebSocket endpoint: connect with a WebSocket client\n');
  });

  it('answers 426 to node:http GET too', async () => {
    const { port } = await startServer();
    const response = await httpGet(port, '/anything');
    expect(response.status).toBe(426);
  });

  it('answers an upgrade request without "Connection: Upgrade" with 400', async () => {
    const { port, connections } = await startServer({ handler: echoHandler });
    const response = await rawHttp(port, upgradeRequest({ headers: { Connection: 'keep-alive' } }));
    expect(response.status).toBe(400);
    expect(response.body).toBe('the Connection header must list "Upgrade"\n');
    expect(connections.size).toBe(0);
  });
});

describe('options', () => {
  it.each([
    ['maxPayload', -1],
    ['maxPayload', 1.5],
    ['maxPayload', 2 ** 31],
    ['maxFragments', 0],
    ['closeTimeout', 0],
    ['closeTimeout', 'soon'],
  ])('refuses %s = %s with WS_ERR_INVALID_ARGUMENT', (name, value) => {
    expect(() => new WebSocketServer({ [name]: value })).toThrow(
      expect.objectContaining({ code: 'WS_ERR_INVALID_ARGUMENT' }),
    );
  });
});

describe('handshake', () => {
  it('answers a valid request with the exact 101 response', async () => {
    const { port } = await startServer({ handler: echoHandler });
    // The sample key of RFC 6455 1.3 and its accept value.
    const client = await rawConnect(port, { key: 'dGhlIHNhbXBsZSBub25jZQ==' });
    expect(client.response?.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(client.response?.headers).toEqual({
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
    });
  });

  it('matches the Upgrade and Connection tokens case-insensitively, within lists', async () => {
    const { port } = await startServer({ handler: echoHandler });
    const client = await rawConnect(port, { headers: { Upgrade: 'WebSocket', Connection: 'keep-alive, upgrade' } });
    expect(client.response?.status).toBe(101);
    client.sendFrame({ opcode: OP.TEXT, payload: text('ok') });
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'ok'));
  });

  it('gives the handler the request and adds the connection to clients', async () => {
    const requests: IncomingMessage[] = [];
    const server = await startServer({
      handler: (_ws, request: IncomingMessage) => {
        requests.push(request);
      },
    });
    await rawConnect(server.port, { path: '/chat?room=1', headers: { 'X-Test': 'yes' } });
    const ws = await server.connections.next();
    expect(requests[0]?.url).toBe('/chat?room=1');
    expect(requests[0]?.headers['x-test']).toBe('yes');
    expect(server.server.clients.has(ws)).toBe(true);
  });

  const refusals: Array<[string, string, number, string, Record<string, string>]> = [
    [
      'version 8',
      upgradeRequest({ headers: { 'Sec-WebSocket-Version': '8' } }),
      426,
      'HTTP/1.1 426 Upgrade Required',
      { 'sec-websocket-version': '13' },
    ],
    [
      'a missing version',
      upgradeRequest({ headers: { 'Sec-WebSocket-Version': undefined } }),
      426,
      'HTTP/1.1 426 Upgrade Required',
      { 'sec-websocket-version': '13' },
    ],
    ['a bad key', upgradeRequest({ headers: { 'Sec-WebSocket-Key': 'not-a-key' } }), 400, 'HTTP/1.1 400 Bad Request', {}],
    [
      'a key of 15 bytes',
      upgradeRequest({ headers: { 'Sec-WebSocket-Key': Buffer.alloc(15).toString('base64') } }),
      400,
      'HTTP/1.1 400 Bad Request',
      {},
    ],
    ['a missing key', upgradeRequest({ headers: { 'Sec-WebSocket-Key': undefined } }), 400, 'HTTP/1.1 400 Bad Request', {}],
    ['POST', upgradeRequest({ method: 'POST' }), 405, 'HTTP/1.1 405 Method Not Allowed', { allow: 'GET' }],
    [
      'HTTP/1.0',
      upgradeRequest().replace('GET / HTTP/1.1', 'GET / HTTP/1.0'),
      400,
      'HTTP/1.1 400 Bad Request',
      {},
    ],
    ['a missing Host', upgradeRequest({ headers: { Host: undefined } }), 400, 'HTTP/1.1 400 Bad Request', {}],
    [
      'duplicate subprotocols',
      upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'chat, chat' } }),
      400,
      'HTTP/1.1 400 Bad Request',
      {},
    ],
  ];

  it.each(refusals)('refuses %s with the exact status, then closes the socket', async (_name, request, status, statusLine, headers) => {
    const server = await startServer({ handler: echoHandler });
    const response = await rawHttp(server.port, request); // resolves only once the server closed it
    expect(response.status).toBe(status);
    expect(response.statusLine).toBe(statusLine);
    expect(response.headers).toMatchObject({ connection: 'close', ...headers });
    expect(Number(response.headers['content-length'])).toBe(Buffer.byteLength(response.body));
    expect(server.connections.size).toBe(0);
    expect(server.server.clients.size).toBe(0);
    expect(server.errors).toEqual([]);
  });

  it.each([
    ['false', () => false],
    ['a promise of false', () => Promise.resolve(false)],
  ])('allowRequest returning %s answers 403', async (_name, allowRequest) => {
    const seen: string[] = [];
    const server = await startServer({
      handler: echoHandler,
      // Every origin passes the origins check, so that allowRequest decides.
      origins: '*',
      allowRequest: (request) => {
        seen.push(request.headers.origin ?? '');
        return allowRequest();
      },
    });
    const response = await rawHttp(server.port, upgradeRequest({ headers: { Origin: 'https://evil.example' } }));
    expect(response.status).toBe(403);
    expect(response.statusLine).toBe('HTTP/1.1 403 Forbidden');
    expect(seen).toEqual(['https://evil.example']);
    expect(server.connections.size).toBe(0);
  });

  it('a refused client that keeps its side open is disconnected after closeTimeout', async () => {
    // Timers on a fake clock (sockets stay real): the linger after the refusal ends when the test
    // moves time.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const wss = new WebSocketServer({ handler: echoHandler, closeTimeout: 200 });
    defer(() => wss.close({ timeout: 100 }));
    const http = createServer();
    const serverSockets: Duplex[] = [];
    http.on('upgrade', (_request, socket: Duplex) => serverSockets.push(socket));
    wss.attach(http);
    const port = await startHttpServer(http);
    const socket = connect({ port, host: HOST, allowHalfOpen: true });
    defer(() => socket.destroy());
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    let received = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
    socket.write(upgradeRequest({ headers: { 'Sec-WebSocket-Version': '8' } }));
    await once(socket, 'end'); // the response is complete; this client does not end its side
    expect(received.startsWith('HTTP/1.1 426 Upgrade Required\r\n')).toBe(true);
    // The server ended its side with the response and lingers, reading, for closeTimeout.
    const serverSocket = serverSockets[0]!;
    await vi.advanceTimersByTimeAsync(199);
    expect(serverSocket.destroyed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(serverSocket.destroyed).toBe(true);
    if (!serverSocket.closed) await deadline(once(serverSocket, 'close'), 5000, "the server socket's 'close'");
  });

  it('allowRequest returning true (even later) accepts', async () => {
    const server = await startServer({ handler: echoHandler, allowRequest: async () => true });
    const client = await wsConnect(server.url);
    client.ws.send('allowed');
    expect((await client.messages.next()).data.toString()).toBe('allowed');
  });

  it('an allowRequest that throws answers 500 and is reported once', async () => {
    const failure = new Error('hook failed');
    const server = await startServer({
      handler: echoHandler,
      allowRequest: () => {
        throw failure;
      },
    });
    const response = await rawHttp(server.port, upgradeRequest());
    expect(response.status).toBe(500);
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(server.errors).toEqual([failure]);
  });

  it('the ws client sees the refusal status', async () => {
    const server = await startServer({ handler: echoHandler, allowRequest: () => false });
    await expect(wsConnect(server.url)).rejects.toThrow(/403/);
  });
});

describe('subprotocols', () => {
  it('selectProtocol picks from the offered list; the 101 carries it and ws.protocol matches', async () => {
    const offers: string[][] = [];
    const server = await startServer({
      handler: echoHandler,
      selectProtocol: (offered) => {
        offers.push([...offered]);
        return offered.includes('superchat') ? 'superchat' : undefined;
      },
    });
    const client = await rawConnect(server.port, { headers: { 'Sec-WebSocket-Protocol': 'chat, superchat' } });
    expect(client.response?.headers['sec-websocket-protocol']).toBe('superchat');
    expect(offers).toEqual([['chat', 'superchat']]);
    const ws = await server.connections.next();
    expect(ws.protocol).toBe('superchat');
  });

  it('works with the ws client', async () => {
    const server = await startServer({ handler: echoHandler, selectProtocol: (offered) => offered[1] });
    const client = await wsConnect(server.url, ['v1.proto', 'v2.proto']);
    expect(client.ws.protocol).toBe('v2.proto');
    expect((await server.connections.next()).protocol).toBe('v2.proto');
    client.ws.send('with a protocol');
    expect((await client.messages.next()).data.toString()).toBe('with a protocol');
  });

  it('sends no Sec-WebSocket-Protocol header when none is chosen', async () => {
    const server = await startServer({ handler: echoHandler, selectProtocol: () => undefined });
    const client = await rawConnect(server.port, { headers: { 'Sec-WebSocket-Protocol': 'chat' } });
    expect(client.response?.headers['sec-websocket-protocol']).toBeUndefined();
    expect((await server.connections.next()).protocol).toBe('');
  });

  it('sends no header without selectProtocol, and does not call it without an offer', async () => {
    const calls: unknown[] = [];
    const server = await startServer({ handler: echoHandler });
    const client = await rawConnect(server.port, { headers: { 'Sec-WebSocket-Protocol': 'chat' } });
    expect(client.response?.headers['sec-websocket-protocol']).toBeUndefined();
    const other = await startServer({
      handler: echoHandler,
      selectProtocol: (offered) => {
        calls.push(offered);
        return undefined;
      },
    });
    await rawConnect(other.port);
    expect(calls).toEqual([]);
  });

  it('a selectProtocol that returns a protocol not offered answers 500 and is reported', async () => {
    const server = await startServer({ handler: echoHandler, selectProtocol: () => 'never-offered' });
    const response = await rawHttp(server.port, upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'chat' } }));
    expect(response.status).toBe(500);
    expect(server.errors).toHaveLength(1);
    expect(server.errors[0]).toMatchObject({ code: 'WS_ERR_INVALID_ARGUMENT' });
    expect(server.connections.size).toBe(0);
  });
});

describe('inside an existing HTTP server', () => {
  async function appServer(mode: 'handleUpgrade' | 'attach'): Promise<{
    port: number;
    wss: WebSocketServer;
    heads: Buffer[];
    upgrades: Array<Promise<Ws | undefined>>;
    connections: ReturnType<typeof instrument>['connections'];
  }> {
    const { options, connections } = instrument({ handler: echoHandler });
    const wss = new WebSocketServer(options);
    defer(() => wss.close({ timeout: 100 }));
    const http = createServer((request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/plain' });
      response.end(`hello from the app at ${request.url}`);
    });
    const heads: Buffer[] = [];
    const upgrades: Array<Promise<Ws | undefined>> = [];
    if (mode === 'attach') {
      http.on('upgrade', (_request, _socket, head: Buffer) => heads.push(Buffer.from(head)));
      wss.attach(http);
    } else {
      http.on('upgrade', (request, socket, head: Buffer) => {
        heads.push(Buffer.from(head));
        upgrades.push(wss.handleUpgrade(request, socket, head));
      });
    }
    const port = await startHttpServer(http);
    return { port, wss, heads, upgrades, connections };
  }

  it.each(['handleUpgrade', 'attach'] as const)('%s: normal requests get the app, upgrades a WebSocket', async (mode) => {
    const { port, connections } = await appServer(mode);
    const page = await httpGet(port, '/page');
    expect(page.status).toBe(200);
    expect(page.body).toBe('hello from the app at /page');
    const client = await wsConnect(`ws://${HOST}:${port}/socket`);
    client.ws.send('through the app server');
    const reply = await client.messages.next();
    expect(reply.data.toString()).toBe('through the app server');
    expect(connections.size).toBe(1);
    // And the app still serves requests afterwards.
    expect((await httpGet(port, '/again')).status).toBe(200);
  });

  it('handleUpgrade resolves with the connection', async () => {
    const { port, upgrades } = await appServer('handleUpgrade');
    await rawConnect(port);
    const ws = await upgrades[0];
    expect(ws).toBeDefined();
    expect(ws?.readyState).toBe('open');
  });

  it('handleUpgrade resolves with undefined for a refused request', async () => {
    const { port, upgrades } = await appServer('handleUpgrade');
    const response = await rawHttp(port, upgradeRequest({ headers: { 'Sec-WebSocket-Version': '7' } }));
    expect(response.status).toBe(426);
    expect(await upgrades[0]).toBeUndefined();
  });

  it.each(['handleUpgrade', 'attach'] as const)('%s: bytes sent with the request (head) are parsed as the first frames', async (mode) => {
    const { port, heads } = await appServer(mode);
    const head = Buffer.concat([
      clientFrame({ opcode: OP.TEXT, payload: text('in the head €') }),
      clientFrame({ opcode: OP.PING, payload: text('p') }),
    ]);
    const client = await rawConnect(port, { head });
    expect(heads).toHaveLength(1);
    expect(heads[0]).toEqual(head); // the test really exercised the head path
    const first = await client.nextFrame();
    const second = await client.nextFrame();
    // The pong is written as the head is parsed; the echo after the handler's send.
    expect([first.raw, second.raw]).toEqual([serverFrame(OP.PONG, 'p'), serverFrame(OP.TEXT, 'in the head €')]);
  });

  it('handleUpgrade takes a handler for this connection only', async () => {
    const wss = new WebSocketServer({ handler: echoHandler });
    defer(() => wss.close({ timeout: 100 }));
    const http = createServer();
    http.on('upgrade', (request: IncomingMessage, socket, head: Buffer) => {
      void wss.handleUpgrade(request, socket, head, async (ws) => {
        for await (const message of ws) await ws.send(`custom: ${String(message.data)}`);
      });
    });
    const port = await startHttpServer(http);
    const client = await wsConnect(`ws://${HOST}:${port}`);
    client.ws.send('x');
    expect((await client.messages.next()).data.toString()).toBe('custom: x');
  });

  it('a handshake whose socket dies while allowRequest decides is abandoned', async () => {
    const allow = deferred<boolean>();
    const asked = deferred();
    const { options, connections } = instrument({
      handler: echoHandler,
      allowRequest: () => {
        asked.resolve();
        return allow.promise;
      },
    });
    const wss = new WebSocketServer(options);
    defer(() => wss.close({ timeout: 100 }));
    const results: Array<Promise<Ws | undefined>> = [];
    const sockets: Duplex[] = [];
    const http = createServer();
    http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      sockets.push(socket);
      results.push(wss.handleUpgrade(request, socket, head));
    });
    const port = await startHttpServer(http);
    const client = new RawClient(port);
    await once(client.socket, 'connect');
    client.sendRequest();
    await asked.promise;
    sockets[0]!.destroy();
    allow.resolve(true);
    expect(await results[0]).toBeUndefined();
    await client.closed;
    expect(client.response).toBeNull();
    expect(connections.size).toBe(0);
    expect(wss.clients.size).toBe(0);
  });
});

describe('handler failures', () => {
  const boom = new Error('boom');

  async function failingServer(onError?: (error: unknown, ws: Ws | undefined) => void): Promise<Awaited<ReturnType<typeof startServer>>> {
    return startServer({
      onError,
      handler: (ws, request) => {
        if (request.url === '/throw') throw boom;
        if (request.url === '/reject') {
          return (async () => {
            await ws.recv();
            throw boom;
          })();
        }
        return echoHandler(ws);
      },
    });
  }

  it('a handler that throws synchronously closes with 1011 and reports once', async () => {
    const reportedWith: Array<Ws | undefined> = [];
    const server = await failingServer((_error, ws) => reportedWith.push(ws));
    const survivor = await wsConnect(server.url);
    await server.connections.next();
    const client = await rawConnect(server.port, { path: '/throw' });
    const ws = await server.connections.next();
    const frame = await client.nextFrame();
    expect(frame.raw).toEqual(INTERNAL_ERROR_CLOSE);
    expect(frame.raw).toEqual(Buffer.from([0x88, 0x10, 0x03, 0xf3, ...Buffer.from('internal error')]));
    await client.ended;
    expect(await ws.closed).toMatchObject({ code: 1011 });
    expect(server.errors).toEqual([boom]);
    expect(reportedWith).toEqual([ws]);
    // The process is fine and other connections keep working.
    survivor.ws.send('still here');
    expect((await survivor.messages.next()).data.toString()).toBe('still here');
    const fresh = await wsConnect(server.url);
    fresh.ws.send('new one');
    expect((await fresh.messages.next()).data.toString()).toBe('new one');
    expect(server.errors).toEqual([boom]);
  });

  it('a handler that rejects closes with 1011 and reports once', async () => {
    const server = await failingServer();
    const survivor = await wsConnect(server.url);
    const client = await rawConnect(server.port, { path: '/reject' });
    client.sendFrame({ opcode: OP.TEXT, payload: text('trigger') });
    await expect(client.nextFrame()).resolves.toMatchObject({ raw: INTERNAL_ERROR_CLOSE });
    await client.ended;
    expect(server.errors).toEqual([boom]);
    survivor.ws.send('still here');
    expect((await survivor.messages.next()).data.toString()).toBe('still here');
  });

  it('the ws client sees 1011 "internal error"', async () => {
    const server = await failingServer();
    const client = await wsConnect(`${server.url}/throw`);
    expect(await client.closed).toEqual({ code: 1011, reason: 'internal error' });
    expect(server.errors).toEqual([boom]);
  });

  it('without onError, the error goes to console.error', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    defer(() => spy.mockRestore());
    const server = new WebSocketServer({
      handler: () => {
        throw boom;
      },
    });
    const { port } = await server.listen(0, HOST);
    defer(() => server.close({ timeout: 100 }));
    const client = await rawConnect(port);
    expect((await client.nextFrame()).raw).toEqual(INTERNAL_ERROR_CLOSE);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]).toContain(boom);
  });

  it('an onError that throws does not crash the server', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    defer(() => spy.mockRestore());
    const server = await failingServer(() => {
      throw new Error('onError failed');
    });
    const client = await rawConnect(server.port, { path: '/throw' });
    expect((await client.nextFrame()).raw).toEqual(INTERNAL_ERROR_CLOSE);
    expect(spy).toHaveBeenCalledTimes(1);
    const fresh = await wsConnect(server.url);
    fresh.ws.send('ok');
    expect((await fresh.messages.next()).data.toString()).toBe('ok');
  });

  it('a handler failing after the connection closed is still reported, with no second close', async () => {
    const release = deferred();
    const server = await startServer({
      handler: async () => {
        await release.promise;
        throw boom;
      },
    });
    const client = await wsConnect(server.url);
    const ws = await server.connections.next();
    client.ws.close(1000);
    expect(await ws.closed).toMatchObject({ code: 1000, wasClean: true });
    release.resolve();
    await until(() => server.errors.length > 0, 'the error is reported');
    expect(server.errors).toEqual([boom]);
    expect(ws.closeResult).toMatchObject({ code: 1000, wasClean: true });
  });
});

describe('server.close()', () => {
  it('sends 1001 to every connection and counts the clean closes', async () => {
    const server = await startServer({ handler: echoHandler });
    const a = await wsConnect(server.url);
    const b = await wsConnect(server.url);
    const raw = await rawConnect(server.port);
    await until(() => server.server.clients.size === 3, 'connections accepted');
    const closing = server.server.close();
    await expect(raw.nextFrame()).resolves.toMatchObject({
      raw: Buffer.concat([Buffer.from([0x88, 0x16, 0x03, 0xe9]), Buffer.from('server shutting down')]),
    });
    raw.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1001) });
    expect(await closing).toEqual({ closed: 3, terminated: 0 });
    expect(await a.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(await b.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(server.server.clients.size).toBe(0);
  });

  it('uses the given code and destroys connections that do not answer within timeout', async () => {
    // Timers on a fake clock (sockets stay real): close()'s timeout ends when the test moves time.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = await startServer({ handler: echoHandler });
    const answering = await wsConnect(server.url);
    const silent = await rawConnect(server.port);
    await until(() => server.server.clients.size === 2, 'connections accepted');
    const closing = server.server.close({ code: 1012, timeout: 200 });
    expect((await answering.closed).code).toBe(1012);
    // close()'s timeout and the silent connection's close timer, both still pending 1 ms before.
    await until(() => server.server.clients.size === 1, 'the answering connection to go');
    const timers = vi.getTimerCount();
    await vi.advanceTimersByTimeAsync(199);
    expect(vi.getTimerCount()).toBe(timers);
    expect(server.server.clients.size).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await deadline(closing, 5000, 'close() to resolve')).toEqual({ closed: 1, terminated: 1 });
    expect((await silent.nextFrame()).raw.subarray(0, 4)).toEqual(Buffer.from([0x88, 0x16, 0x03, 0xf4]));
    await silent.closed;
  });

  it('when close() resolves, every connection has settled and left clients (terminated ones too)', async () => {
    const server = await startServer({ handler: echoHandler });
    await wsConnect(server.url);
    await rawConnect(server.port); // never answers: terminated at the timeout
    await until(() => server.server.clients.size === 2, 'connections accepted');
    const connections = [...server.server.clients];
    const settled = connections.map(() => false);
    connections.forEach((ws, i) => void ws.closed.then(() => (settled[i] = true)));
    const result = await server.server.close({ timeout: 200 });
    expect(result).toEqual({ closed: 1, terminated: 1 });
    expect(connections.map((ws) => ws.readyState)).toEqual(['closed', 'closed']);
    expect(settled).toEqual([true, true]);
    expect(server.server.clients.size).toBe(0);
  });

  it('refuses a close code that may not be sent before stopping anything', async () => {
    const server = await startServer({ handler: echoHandler });
    const client = await wsConnect(server.url);
    await until(() => server.server.clients.size === 1, 'connection accepted');
    await expect(server.server.close({ code: 1006 })).rejects.toMatchObject({ code: 'WS_ERR_INVALID_ARGUMENT' });
    await expect(server.server.close({ timeout: -1 })).rejects.toMatchObject({ code: 'WS_ERR_INVALID_ARGUMENT' });
    // Still serving: the open connection echoes and a new one is accepted.
    client.ws.send('still here');
    expect((await client.messages.next()).data.toString()).toBe('still here');
    const second = await wsConnect(server.url);
    second.ws.send('new');
    expect((await second.messages.next()).data.toString()).toBe('new');
  });

  it('resolves at once with no connections, and stops listening', async () => {
    const server = await startServer();
    expect(await server.server.close()).toEqual({ closed: 0, terminated: 0 });
    const client = new RawClient(server.port);
    const [error] = (await once(client.socket, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
  });

  it('a handshake that arrives during shutdown gets 503 (attached server)', async () => {
    const { options } = instrument({ handler: echoHandler });
    const wss = new WebSocketServer(options);
    const http = createServer();
    wss.attach(http);
    const port = await startHttpServer(http);
    const raw = await rawConnect(port);
    await until(() => wss.clients.size === 1, 'connections accepted');
    const closing = wss.close({ timeout: 5000 }); // held open by the raw client, which does not answer yet
    const response = await rawHttp(port, upgradeRequest());
    expect(response.status).toBe(503);
    expect(response.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
    raw.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1001) });
    expect(await closing).toEqual({ closed: 1, terminated: 0 });
  });

  it('a handshake waiting on allowRequest when shutdown starts gets 503 (listen server)', async () => {
    const asked = deferred();
    const allow = deferred<boolean>();
    const server = await startServer({
      handler: echoHandler,
      allowRequest: () => {
        asked.resolve();
        return allow.promise;
      },
    });
    const client = new RawClient(server.port);
    await once(client.socket, 'connect');
    client.sendRequest();
    await asked.promise;
    const closing = server.server.close();
    allow.resolve(true);
    const head = await client.responseHead();
    expect(head.status).toBe(503);
    await client.ended;
    expect(await closing).toEqual({ closed: 0, terminated: 0 });
    expect(server.connections.size).toBe(0);
  });
});
