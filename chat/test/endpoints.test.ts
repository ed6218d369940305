/**
 * The HTTP side: /healthz, /readyz (503 while draining), the pages with their Content-Security-
 * Policy, 404/405/426, and the handlers mounted in an application's own HTTP server. Draining:
 * connections close with 1001, new handshakes get 503.
 */

import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createChatServer } from '../src/index.js';
import { HOST, cleanup, connectClient, defer, get, rawRequest, startChat, upgradeRequest } from './helpers.js';

afterEach(cleanup);

describe('health', () => {
  it('/healthz is 200 while alive; /readyz is 200 when ready, 503 while draining; connections close with 1001', async () => {
    const test = await startChat({ closeTimeout: 30_000 });
    expect(await get(test, '/healthz')).toMatchObject({ status: 200, text: 'ok\n' });
    expect(await get(test, '/readyz')).toMatchObject({ status: 200, text: 'ready\n' });
    // A client that does not answer the close keeps the drain going while the test looks.
    const socket = connect(test.port, HOST);
    defer(() => socket.destroy());
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'connect');
    socket.write(upgradeRequest(test.port, '/ws?username=Ana&userId=ana'));
    while (!Buffer.concat(chunks).includes('user_list')) await once(socket, 'data');
    const closing = test.chat.close();
    expect(test.chat.ready).toBe(false);
    expect(await get(test, '/readyz')).toMatchObject({ status: 503, text: 'draining\n' });
    expect(await get(test, '/healthz')).toMatchObject({ status: 200 });
    const late = await rawRequest(test.port, upgradeRequest(test.port, '/ws?username=Bo&userId=bo'));
    expect(late.head.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    // The close frame: 1001 "server shutting down" (RFC 6455 7.4.1: going away).
    const closeFrame = Buffer.from([0x88, 2 + 20, 0x03, 0xe9, ...Buffer.from('server shutting down')]);
    while (!Buffer.concat(chunks).includes(closeFrame)) await once(socket, 'data');
    socket.destroy();
    await closing;
  });
});

describe('pages and routes', () => {
  it('/ws/test and /websocket: HTML with a strict Content-Security-Policy, their script and stylesheet', async () => {
    const test = await startChat();
    const csp =
      "default-src 'none'; script-src 'self'; style-src 'self'; " +
      `connect-src 'self' ws://${HOST}:${test.port} wss://${HOST}:${test.port}; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
    for (const path of ['/ws/test', '/websocket']) {
      const page = await get(test, path);
      expect([path, page.status, page.type]).toEqual([path, 200, 'text/html; charset=utf-8']);
      expect(page.headers.get('content-security-policy')).toBe(csp);
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
      expect(page.text).not.toMatch(/<script>|<[^>]*\son[a-z]+\s*=/); // no inline script, no inline handler
    }
    const page = (await get(test, '/ws/test')).text;
    for (const hook of ['username', 'room', 'join', 'message', 'send', 'messages', 'users']) expect(page).toContain(`data-testid="${hook}"`);
    expect((await get(test, '/ws/test.js')).type).toBe('text/javascript; charset=utf-8');
    expect((await get(test, '/ws/chat.css')).type).toBe('text/css; charset=utf-8');
  });

  it('/ws without an upgrade is 426; an unknown path is 404; / goes to the test page; POST is 405; HEAD has no body', async () => {
    const test = await startChat();
    const plain = await get(test, '/ws');
    expect([plain.status, plain.headers.get('sec-websocket-version')]).toEqual([426, '13']);
    expect((await get(test, '/nothing-here')).status).toBe(404);
    const root = await fetch(`${test.http}/`, { redirect: 'manual' });
    expect([root.status, root.headers.get('location')]).toEqual([302, '/ws/test']);
    const post = await fetch(`${test.http}/ws/stats`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    const head = await fetch(`${test.http}/healthz`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), await head.text()]).toEqual([200, '3', '']);
    const elsewhere = await rawRequest(test.port, upgradeRequest(test.port, '/chat?username=Ana&userId=ana'));
    expect(elsewhere.head.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
  });
});

describe('mounted in an application’s own HTTP server', () => {
  it('handleRequest and handleUpgrade take the chat’s paths and leave the others to the application', async () => {
    const chat = await createChatServer({ logLevel: 'silent' });
    defer(() => chat.close());
    const app = createServer((request: IncomingMessage, response: ServerResponse) => {
      if (chat.handleRequest(request, response)) return;
      response.writeHead(200, { 'Content-Type': 'text/plain' });
      response.end('the application\n');
    });
    app.on('upgrade', (request: IncomingMessage, socket, head: Buffer) => {
      if (chat.handleUpgrade(request, socket, head)) return;
      socket.end('HTTP/1.1 418 I am a teapot\r\nContent-Length: 0\r\n\r\n');
    });
    await new Promise<void>((resolve) => app.listen(0, HOST, resolve));
    defer(() => new Promise<void>((resolve) => {
      app.close(() => resolve());
      app.closeAllConnections();
    }));
    const { port } = app.address() as { port: number };
    expect(await (await fetch(`http://${HOST}:${port}/app`)).text()).toBe('the application\n');
    expect((await fetch(`http://${HOST}:${port}/healthz`)).status).toBe(200);
    expect(chat.address).toBeNull();
    const client = await connectClient(`ws://${HOST}:${port}/ws`);
    expect((await client.nextOf('user_list')).data).toEqual({ users: [{ username: 'Ana', userId: 'Ana' }] });
    const other = await rawRequest(port, upgradeRequest(port, '/other'));
    expect(other.head.split('\r\n')[0]).toBe('HTTP/1.1 418 I am a teapot');
  });
});
