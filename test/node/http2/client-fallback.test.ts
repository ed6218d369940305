/**
 * connect() with `http2` when the WebSocket cannot (or can only partly) go over HTTP/2: the
 * fallback to HTTP/1.1 (ALPN chose it, the server does not advertise the extended CONNECT, a
 * cleartext server without HTTP/2), `http2: 'only'` failing with WS_ERR_HTTP2_UNSUPPORTED, errors
 * by phase as over HTTP/1.1, refusals and redirects answered on the stream, the session pool
 * (sharing, keys, closing), and the WebSocket class and the reconnecting client with `http2`.
 */

import { createServer as createHttpsServer } from 'node:https';
import {
  connect as http2Connect,
  createSecureServer,
  createServer as createH2cServer,
  type Http2SecureServer,
  type Http2Server,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectError,
  ReconnectingClient,
  WebSocket,
  WebSocketServer,
  connect,
  type ClientOptions,
} from '../../../src/index.js';
import { http2Sessions } from '../../../src/node/client/http2-sessions.js';
import { HOST, cleanup, defer, echoHandler, settle, startServer, until } from '../helpers.js';
import { connectFailure, dial } from '../client/helpers.js';
import { OPENSSL, describeWithTools, makeCertificate, type Certificate } from '../client/tools.js';
import { startHttp2Server } from './helpers.js';

afterEach(cleanup);



/** A node:http2 server answering each stream with `answer`, on 127.0.0.1:0 (h2c), closed after the test. */
async function startRawHttp2(answer: (stream: ServerHttp2Stream) => void, enableConnectProtocol = true): Promise<{ port: number; server: Http2Server }> {
  const server = createH2cServer({ settings: { enableConnectProtocol } });
  server.on('stream', (stream: ServerHttp2Stream) => {
    stream.on('error', () => {});
    answer(stream);
  });
  return { port: await listen(server), server };
}

/** Listens on 127.0.0.1:0; closes the server and its sessions or sockets after the test. */
async function listen(server: Http2Server | Http2SecureServer | import('node:https').Server | import('node:net').Server): Promise<number> {
  const connections = new Set<{ destroy(): void }>();
  server.on('session', (session: { destroy(): void }) => connections.add(session));
  server.on('connection', (socket: Socket) => connections.add(socket));
  await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const connection of connections) connection.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

/** TCP connections a server accepted (to tell a reused connection from a new one). */
function countConnections(server: { on(event: 'connection', listener: () => void): unknown }): () => number {
  let count = 0;
  server.on('connection', () => count++);
  return () => count;
}

describe('falling back to HTTP/1.1, or not (http2: only)', () => {
  it('a cleartext server without HTTP/2 (prior knowledge fails): HTTP/1.1 on a new connection', async () => {
    const server = await startServer({ handler: echoHandler });
    const ws = await dial(server.url, { http2: true });
    expect(ws.transport).toBe('http/1.1');
    await ws.send('over 1.1');
    expect(await ws.recv()).toEqual({ type: 'text', data: 'over 1.1' });
    await connectFailure(connect(server.url, { http2: 'only' }), 'WS_ERR_HTTP2_UNSUPPORTED', 'handshake');
  });

  it('an HTTP/2 server that does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL: HTTP/1.1 on a new connection', async () => {
    const { port } = await startRawHttp2((stream) => stream.close(), false);
    const error = await connectFailure(connect(`ws://${HOST}:${port}/`, { http2: 'only' }), 'WS_ERR_HTTP2_UNSUPPORTED', 'handshake');
    expect(error.message).toContain('SETTINGS_ENABLE_CONNECT_PROTOCOL');
    // The fallback's new connection is an HTTP/1.1 one, which this HTTP/2-only server cannot take.
    await connectFailure(connect(`ws://${HOST}:${port}/`, { http2: true }), 'WS_ERR_INVALID_RESPONSE', 'handshake');
  });
});

describeWithTools('falling back over TLS', [OPENSSL], () => {
  let certificate: Certificate;
  const cert = (): Certificate => (certificate ??= makeCertificate());

  it('a TLS server without h2 (ALPN chose HTTP/1.1): HTTP/1.1 on the same connection', async () => {
    const https = createHttpsServer({ cert: cert().cert, key: cert().key });
    const connections = countConnections(https);
    new WebSocketServer({ handler: echoHandler }).attach(https);
    const port = await listen(https);
    const ws = await dial(`wss://localhost:${port}/`, { http2: true, ca: cert().cert });
    expect(ws.transport).toBe('http/1.1');
    await ws.send('one connection');
    expect(await ws.recv()).toEqual({ type: 'text', data: 'one connection' });
    expect(connections()).toBe(1);
    await connectFailure(connect(`wss://localhost:${port}/`, { http2: 'only', ca: cert().cert }), 'WS_ERR_HTTP2_UNSUPPORTED', 'tls');
  });

  it('an HTTP/2 server that takes WebSockets over HTTP/1.1 only (allowHTTP1, no extended CONNECT): a new HTTP/1.1 connection', async () => {
    const server = createSecureServer({ cert: cert().cert, key: cert().key, allowHTTP1: true });
    const wss = new WebSocketServer({ handler: echoHandler });
    server.on('upgrade', (request, socket, head) => void wss.handleUpgrade(request, socket, head));
    defer(() => wss.close({ timeout: 10 }));
    const port = await listen(server);
    const ws = await dial(`wss://localhost:${port}/`, { http2: true, ca: cert().cert });
    expect(ws.transport).toBe('http/1.1');
    await connectFailure(connect(`wss://localhost:${port}/`, { http2: 'only', ca: cert().cert }), 'WS_ERR_HTTP2_UNSUPPORTED', 'handshake');
  });

  it('over TLS: an untrusted certificate is WS_ERR_TLS', async () => {
    const server = await startHttp2Server({ handler: echoHandler }, { tls: cert() });
    await connectFailure(connect(server.url, { http2: true }), 'WS_ERR_TLS', 'tls');
  });

  it('sessions are kept apart by TLS options: another CA object, another session', async () => {
    const server = await startHttp2Server({ handler: echoHandler }, { tls: cert() });
    const ca = cert().cert;
    await dial(server.url, { http2: true, ca });
    await dial(server.url, { http2: true, ca });
    expect(server.sessions).toHaveLength(1);
    await dial(server.url, { http2: true, ca: Buffer.from(ca) });
    expect(server.sessions).toHaveLength(2);
  });
});

describe('errors by phase over HTTP/2', () => {
  it('dns: WS_ERR_DNS', async () => {
    const lookup = ((_host: string, _options: unknown, callback: (error: Error | null) => void) => {
      callback(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }));
    }) as unknown as ClientOptions['lookup'];
    await connectFailure(connect('ws://nowhere.example.test/', { http2: true, lookup }), 'WS_ERR_DNS', 'dns');
  });

  it('connect: WS_ERR_CONNECT (nothing listens)', async () => {
    const probe = createNetServer();
    const port = await listen(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await connectFailure(connect(`ws://${HOST}:${port}/`, { http2: true }), 'WS_ERR_CONNECT', 'connect');
  });

  it('a refusal on the stream: WS_ERR_UNEXPECTED_RESPONSE with the status, headers and body', async () => {
    const server = await startHttp2Server({ handler: echoHandler, origins: ['https://app.example'] });
    const error = await connectFailure(connect(server.url, { http2: true, origin: 'https://evil.example' }), 'WS_ERR_UNEXPECTED_RESPONSE', 'handshake');
    expect(error.status).toBe(403);
    expect(error.headers).toMatchObject({ 'content-type': 'text/plain; charset=utf-8' });
    expect(error.body?.toString()).toBe('origin https://evil.example is not allowed\n');
    // The session was the refused connect's only user: it is closed.
    await until(() => server.sessions.every((session) => session.closed), 'the session closed');
  });

  it('an invalid 200 (a subprotocol not offered): WS_ERR_INVALID_RESPONSE, the stream reset', async () => {
    const { port } = await startRawHttp2((stream) => stream.respond({ ':status': 200, 'sec-websocket-protocol': 'unasked' }));
    const error = await connectFailure(connect(`ws://${HOST}:${port}/`, { http2: 'only' }), 'WS_ERR_INVALID_RESPONSE', 'handshake');
    expect(error.status).toBe(200);
    expect((error.cause as { code?: string }).code).toBe('WS_ERR_HANDSHAKE_PROTOCOL');
  });

  it('a stream reset before any answer: WS_ERR_INVALID_RESPONSE naming the code', async () => {
    const { port } = await startRawHttp2((stream) => stream.close(7)); // REFUSED_STREAM
    const error = await connectFailure(connect(`ws://${HOST}:${port}/`, { http2: 'only' }), 'WS_ERR_INVALID_RESPONSE', 'handshake');
    expect(error.message).toContain('REFUSED_STREAM');
  });

  it('no answer within handshakeTimeout: WS_ERR_TIMEOUT in the handshake phase; the session is closed', async () => {
    const streams: ServerHttp2Stream[] = [];
    const { port, server } = await startRawHttp2((stream) => void streams.push(stream));
    let closedSessions = 0;
    server.on('session', (session) => session.once('close', () => closedSessions++));
    await connectFailure(connect(`ws://${HOST}:${port}/`, { http2: true, handshakeTimeout: 300 }), 'WS_ERR_TIMEOUT', 'handshake');
    await until(() => closedSessions === 1, 'the session closed');
    expect(streams).toHaveLength(1);
  });

  it('an abort while waiting for the answer: WS_ERR_ABORTED', async () => {
    const { port } = await startRawHttp2(() => {});
    const controller = new AbortController();
    const pending = connect(`ws://${HOST}:${port}/`, { http2: true, signal: controller.signal });
    await until(() => http2Sessions.size > 0, 'the session');
    controller.abort();
    await connectFailure(pending, 'WS_ERR_ABORTED', 'handshake');
  });

  it('a redirect on the stream is followed when asked', async () => {
    const target = await startHttp2Server({ handler: echoHandler });
    const { port } = await startRawHttp2((stream) => {
      stream.respond({ ':status': 302, location: `${target.url}/there` });
      stream.end();
    });
    await connectFailure(connect(`ws://${HOST}:${port}/`, { http2: true }), 'WS_ERR_UNEXPECTED_RESPONSE', 'handshake');
    const ws = await dial(`ws://${HOST}:${port}/`, { http2: true, followRedirects: true });
    expect(ws.transport).toBe('h2');
    expect((await target.connections.next()).transport).toBe('h2');
  });

  it('a bad extra header is WS_ERR_INVALID_ARGUMENT before anything is dialled', async () => {
    let sessions = 0;
    const { port, server } = await startRawHttp2(() => {});
    server.on('session', () => sessions++);
    const outcome = await settle(connect(`ws://${HOST}:${port}/`, { http2: true, headers: { Connection: 'close' } }));
    expect(!outcome.ok && (outcome.error as ConnectError).code).toBe('WS_ERR_INVALID_ARGUMENT');
    expect(sessions).toBe(0);
  });
});

describe('the session pool', () => {
  it('concurrent connects to one origin share one dial and one session', async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const connections = countConnections(server.http2);
    const sockets = await Promise.all(Array.from({ length: 20 }, () => dial(server.url, { http2: true })));
    expect(sockets.every((ws) => ws.transport === 'h2')).toBe(true);
    expect(connections()).toBe(1);
    expect(server.sessions).toHaveLength(1);
  });

  it('another origin (the same server by another name) gets its own session', async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    await dial(`ws://${HOST}:${server.port}/`, { http2: true });
    await dial(`ws://localhost:${server.port}/`, { http2: true, family: 4 });
    expect(server.sessions).toHaveLength(2);
  });

  it('a connect that fails for one user leaves the session to the others', async () => {
    const server = await startHttp2Server({ handler: echoHandler, allowRequest: (request) => request.url !== '/refused' });
    const ws = await dial(`${server.url}/ok`, { http2: true });
    await connectFailure(connect(`${server.url}/refused`, { http2: true }), 'WS_ERR_UNEXPECTED_RESPONSE', 'handshake');
    await ws.send('still on it');
    expect(await ws.recv()).toEqual({ type: 'text', data: 'still on it' });
    expect(server.sessions).toHaveLength(1);
  });
});

describe('the WebSocket class and the reconnecting client take http2', () => {
  it('new WebSocket(url, { http2: true })', async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const socket = new WebSocket(server.url, { http2: true });
    defer(() => socket.close());
    const message = await new Promise<string>((resolve, reject) => {
      socket.onopen = () => socket.send('from the standard class');
      socket.onmessage = (event) => resolve(String(event.data));
      socket.onerror = () => reject(new Error('error event'));
    });
    expect(message).toBe('from the standard class');
    expect((await server.connections.next()).transport).toBe('h2');
  });

  it('ReconnectingClient with http2', async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const client = new ReconnectingClient(server.url, { http2: true });
    defer(() => client.close());
    await client.send('reconnecting over h2');
    expect(await client.next()).toEqual({ done: false, value: { type: 'text', data: 'reconnecting over h2' } });
    expect(client.ws?.transport).toBe('h2');
    expect((await server.connections.next()).transport).toBe('h2');
  });
});

describe('a raw HTTP/2 session as a second user', () => {
  it("Node's own client sees our server's answer: the test's sanity check of the raw peer", async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const session = http2Connect(server.url.replace('ws:', 'http:'));
    defer(() => session.destroy());
    const settings = await new Promise<{ enableConnectProtocol?: boolean }>((resolve) => session.once('remoteSettings', resolve));
    expect(settings.enableConnectProtocol).toBe(true);
  });
});
