/**
 * connect() through a real HTTP CONNECT proxy (RFC 9110 9.3.6): Debian's tinyproxy, started by
 * each test on a free port in the foreground with a config of its own. ws: and wss: through the
 * tunnel, `proxy: 'env'` (HTTP_PROXY / HTTPS_PROXY / NO_PROXY), a proxy that refuses the port
 * (403), one that cannot reach the target (500), and one that wants credentials (407, BasicAuth).
 */

import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, connect, type Ws } from '../../../src/index.js';
import { HOST, cleanup, defer, refusedPort, startServer } from '../helpers.js';
import { connectFailure, dial, listen, startRawServer, stopAfterTest } from './helpers.js';
import { OPENSSL, TINYPROXY, describeWithTools, makeCertificate, setEnv, startTinyproxy, type Certificate } from './tools.js';

afterEach(cleanup);

async function echo(ws: Ws): Promise<void> {
  for await (const message of ws) await ws.send(message.data);
}



/** Our echo server, recording each upgrade request. */
async function startTarget(): Promise<{ port: number; url: string; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = await startServer({ handler: echo, allowRequest: (request: IncomingMessage) => (requests.push(request), true) });
  return { port: server.port, url: server.url, requests };
}

async function roundTrip(ws: Ws, text: string): Promise<void> {
  await ws.send(text);
  expect(await ws.recv()).toEqual({ type: 'text', data: text });
}

describeWithTools('through tinyproxy', [TINYPROXY, OPENSSL], () => {
  let certificate: Certificate;
  beforeAll(() => {
    certificate = makeCertificate();
  });

  async function startSecureTarget(): Promise<{ port: number; requests: IncomingMessage[] }> {
    const requests: IncomingMessage[] = [];
    const wss = new WebSocketServer({ handler: echo, allowRequest: (request: IncomingMessage) => (requests.push(request), true) });
    defer(() => wss.close({ timeout: 100 }));
    const https = createHttpsServer({ cert: certificate.cert, key: certificate.key });
    wss.attach(https);
    stopAfterTest(https);
    return { port: await listen(https), requests };
  }

  it('ws: through the tunnel: the proxy gets CONNECT host:port, the server the WebSocket request', async () => {
    const target = await startTarget();
    const proxy = await startTinyproxy({ connectPorts: [target.port] });
    const ws = await dial(`${target.url}/through?proxy=1`, { proxy: proxy.url });
    await roundTrip(ws, 'tunnelled');
    await proxy.waitForLog(`CONNECT ${HOST}:${target.port} HTTP/1.1`);
    expect(target.requests.map((request) => [request.url, request.headers.host])).toEqual([['/through?proxy=1', `${HOST}:${target.port}`]]);
    // The WebSocket request went inside the tunnel: the proxy logged no GET of its own.
    expect(proxy.log()).not.toContain('GET ');
    expect(await ws.close(1000)).toMatchObject({ code: 1000, wasClean: true });
  });

  it('wss: through the tunnel: TLS end to end with the target, by address and by name', async () => {
    const target = await startSecureTarget();
    const proxy = await startTinyproxy({ connectPorts: [target.port] });
    const ws = await dial(`wss://${HOST}:${target.port}/secure`, { proxy: proxy.url, ca: certificate.cert });
    await roundTrip(ws, 'tls inside the tunnel');
    // The proxy resolves the name (the client sends it in CONNECT); the certificate is checked against it.
    const byName = await dial(`wss://localhost:${target.port}/`, { proxy: proxy.url, ca: certificate.cert });
    await roundTrip(byName, 'by name');
    await proxy.waitForLog(`CONNECT ${HOST}:${target.port} HTTP/1.1`);
    await proxy.waitForLog(`CONNECT localhost:${target.port} HTTP/1.1`);
    expect(target.requests.map((request) => request.headers.host)).toEqual([`${HOST}:${target.port}`, `localhost:${target.port}`]);
  });

  it('wss: through the tunnel still verifies the certificate (WS_ERR_TLS)', async () => {
    const target = await startSecureTarget();
    const proxy = await startTinyproxy({ connectPorts: [target.port] });
    const error = await connectFailure(connect(`wss://${HOST}:${target.port}/`, { proxy: proxy.url }), 'WS_ERR_TLS', 'tls');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(error.timings.proxy).toBeGreaterThanOrEqual(0);
  });

  it("proxy: 'env': HTTP_PROXY for ws:, HTTPS_PROXY for wss:, NO_PROXY bypasses", async () => {
    const target = await startTarget();
    const secure = await startSecureTarget();
    const proxy = await startTinyproxy({ connectPorts: [target.port, secure.port] });
    const refused = `http://${HOST}:${await refusedPort()}`;

    setEnv({
      HTTP_PROXY: proxy.url,
      HTTPS_PROXY: proxy.url,
      ...Object.fromEntries(['http_proxy', 'https_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'].map((name) => [name, undefined])),
    });
    await roundTrip(await dial(target.url, { proxy: 'env' }), 'via HTTP_PROXY');
    await proxy.waitForLog(`CONNECT ${HOST}:${target.port} HTTP/1.1`);
    await roundTrip(await dial(`wss://${HOST}:${secure.port}/`, { proxy: 'env', ca: certificate.cert }), 'via HTTPS_PROXY');
    await proxy.waitForLog(`CONNECT ${HOST}:${secure.port} HTTP/1.1`);

    // The environment is read only with proxy: 'env' (the default is no proxy).
    setEnv({ HTTP_PROXY: refused });
    await roundTrip(await dial(target.url, {}), 'direct by default');
    // ...and then it is really used: a proxy that is not there fails in the connect phase.
    const error = await connectFailure(connect(target.url, { proxy: 'env' }), 'WS_ERR_CONNECT', 'connect');
    expect(error.message).toContain(refused.slice('http://'.length));

    // NO_PROXY lists hosts that connect directly.
    setEnv({ NO_PROXY: `example.com, ${HOST}` });
    await roundTrip(await dial(target.url, { proxy: 'env' }), 'bypassed');
    setEnv({ NO_PROXY: `${HOST}:1` });
    await connectFailure(connect(target.url, { proxy: 'env' }), 'WS_ERR_CONNECT', 'connect');
    setEnv({ NO_PROXY: '*' });
    await roundTrip(await dial(target.url, { proxy: 'env' }), 'everything bypassed');

    // wss: reads HTTPS_PROXY only: an unusable HTTP_PROXY does not matter to it.
    setEnv({ NO_PROXY: undefined, HTTPS_PROXY: undefined });
    await roundTrip(await dial(`wss://${HOST}:${secure.port}/`, { proxy: 'env', ca: certificate.cert }), 'wss direct');
    // Lower-case names are read too (curl prefers them).
    setEnv({ HTTP_PROXY: undefined, http_proxy: proxy.url });
    await roundTrip(await dial(`${target.url}/lower`, { proxy: 'env' }), 'via http_proxy');
    expect(target.requests.map((request) => request.url)).toContain('/lower');
  });

  it('a port the proxy does not allow: WS_ERR_PROXY with its 403, headers and body', async () => {
    const target = await startTarget();
    const proxy = await startTinyproxy({ connectPorts: [1] });
    const error = await connectFailure(connect(target.url, { proxy: proxy.url }), 'WS_ERR_PROXY', 'proxy');
    expect(error.status).toBe(403);
    expect(error.headers?.server).toMatch(/^tinyproxy\//);
    expect(error.body?.toString()).toContain('Access violation');
    expect(error.message).toContain(`${HOST}:${proxy.port}`);
    expect(error.timings.connect).toBeGreaterThanOrEqual(0);
    expect(error.timings.proxy).toBeGreaterThanOrEqual(0);
    expect(error.timings.handshake).toBeUndefined();
    expect(target.requests).toHaveLength(0);
  });

  it('a target the proxy cannot reach: WS_ERR_PROXY with its 500', async () => {
    const port = await refusedPort();
    const proxy = await startTinyproxy({ connectPorts: [port] });
    const error = await connectFailure(connect(`ws://${HOST}:${port}/`, { proxy: proxy.url }), 'WS_ERR_PROXY', 'proxy');
    expect(error.status).toBe(500);
    expect(error.body?.toString()).toContain('Unable to connect');
  });

  it('a proxy that wants credentials: 407 without them, refused with wrong ones, through with them', async () => {
    const target = await startTarget();
    const proxy = await startTinyproxy({ connectPorts: [target.port], basicAuth: { user: 'proxyuser', password: 'pr0xy' } });
    const missing = await connectFailure(connect(target.url, { proxy: proxy.url }), 'WS_ERR_PROXY', 'proxy');
    expect(missing.status).toBe(407);
    expect(missing.headers?.['proxy-authenticate']).toMatch(/^Basic /);
    const wrong = await connectFailure(connect(target.url, { proxy: `http://proxyuser:nope@${HOST}:${proxy.port}` }), 'WS_ERR_PROXY', 'proxy');
    // tinyproxy 1.11 answers wrong credentials with 401, not 407; either way the status is passed on.
    expect(wrong.status).toBe(401);
    const ws = await dial(target.url, { proxy: `http://proxyuser:pr0xy@${HOST}:${proxy.port}` });
    await roundTrip(ws, 'authenticated');
    // Proxy credentials are for the proxy: the target never sees them.
    expect(target.requests).toHaveLength(1);
    expect(target.requests[0]!.headers['proxy-authorization']).toBeUndefined();
    expect(target.requests[0]!.headers.authorization).toBeUndefined();
  });
});

describe('proxies without tinyproxy (a refused port, a silent raw server)', () => {
  it('a proxy that is not listening: WS_ERR_CONNECT naming the proxy', async () => {
    const target = await startTarget();
    const port = await refusedPort();
    const error = await connectFailure(connect(target.url, { proxy: `http://${HOST}:${port}` }), 'WS_ERR_CONNECT', 'connect');
    expect(error.message).toContain(`${HOST}:${port}`);
  });

  it('a "proxy" that answers CONNECT with something that is not HTTP: WS_ERR_PROXY, the socket closed', async () => {
    const target = await startTarget();
    const broken = await startRawServer();
    const pending = connect(target.url, { proxy: `http://u%40x:p%3Aw@${HOST}:${broken.port}` });
    const peer = await broken.peers.next();
    const request = await peer.request();
    // Credentials in the proxy URL are percent-decoded into Proxy-Authorization.
    expect(request.headers['proxy-authorization']).toBe(`Basic ${Buffer.from('u@x:p:w').toString('base64')}`);
    peer.write('garbage\r\n\r\n');
    const error = await connectFailure(pending, 'WS_ERR_PROXY', 'proxy');
    expect(error.message).toContain(`${HOST}:${broken.port}`);
    await peer.gone;
  });

  it('handshakeTimeout covers the proxy phase', async () => {
    const target = await startTarget();
    // A "proxy" that accepts TCP and never answers CONNECT.
    const silent = await startRawServer();
    const pending = connect(target.url, { proxy: `http://${HOST}:${silent.port}`, handshakeTimeout: 200 });
    const peer = await silent.peers.next();
    const request = await peer.request();
    expect(request.method).toBe('CONNECT');
    expect(request.path).toBe(`${HOST}:${target.port}`);
    expect(request.headers.host).toBe(`${HOST}:${target.port}`);
    await connectFailure(pending, 'WS_ERR_TIMEOUT', 'proxy');
    await peer.gone;
  });
});
