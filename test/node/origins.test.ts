/**
 * The server's `origins` option (issue 14): safe by default against cross-site WebSocket hijacking.
 * Raw handshake requests with exact responses; the browser's own view is in
 * test/interop/chromium-origin.test.ts.
 */

import { createServer as createHttpsServer } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from '../../src/index.js';
import type { RefusedHandshake } from '../../src/node/server-options.js';
import { HOST, cleanup, defer, echoHandler, openRawClient, startServer, upgradeRequest, type HttpHead, type RawHttpResult } from './helpers.js';
import { OPENSSL, describeWithTools, makeCertificate } from './client/tools.js';

afterEach(cleanup);

const FORBIDDEN_HEAD = 'HTTP/1.1 403 Forbidden';

/** A handshake with `headers`; a refusal is read to its end (body included), a 101 to its head. */
async function handshake(port: number, headers: Record<string, string | undefined>): Promise<HttpHead | RawHttpResult> {
  const client = await openRawClient(port);
  client.send(Buffer.from(upgradeRequest({ headers: { Host: `${HOST}:${port}`, ...headers } }), 'latin1'));
  const head = await client.responseHead();
  if (head.status === 101) return head;
  await client.closed;
  return { ...head, body: client.body.toString('utf8') };
}

describe('origins, by default (same-origin)', () => {
  it('accepts a request without Origin (a client that is not a browser page)', async () => {
    const server = await startServer({ handler: echoHandler });
    const response = await handshake(server.port, {});
    expect(response.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
  });

  it("accepts the server's own origin: the Origin's host and port equal Host's", async () => {
    const server = await startServer({ handler: echoHandler });
    const response = await handshake(server.port, { Origin: `http://${HOST}:${server.port}` });
    expect(response.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
  });

  it.each([
    ['another site', 'https://evil.example'],
    ['the same host on another port', 'http://127.0.0.1:1'],
    ['another name for the same server', 'http://localhost:PORT'],
    ['an opaque origin (sandboxed iframe, file:)', 'null'],
  ])('refuses %s with 403, exactly, and tells onRefused (WS_ERR_HANDSHAKE_ORIGIN)', async (_name, template) => {
    const refused: RefusedHandshake[] = [];
    let handled = 0;
    const server = await startServer({ handler: () => void handled++, onRefused: (info) => refused.push(info) });
    const origin = template.replace('PORT', String(server.port));
    const response = await handshake(server.port, { Origin: origin });
    const body = origin === 'null' ? 'origin "null" is not allowed\n' : `origin ${origin} is not allowed\n`;
    expect(response.statusLine).toBe(FORBIDDEN_HEAD);
    expect(response.headers).toEqual({
      connection: 'close',
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
    });
    expect((response as RawHttpResult).body).toBe(body);
    expect(refused.map(({ status, code, message }) => ({ status, code, message }))).toEqual([
      { status: 403, code: 'WS_ERR_HANDSHAKE_ORIGIN', message: body.trimEnd() },
    ]);
    expect(handled).toBe(0);
  });

  it('is checked before allowRequest, which a foreign origin never reaches', async () => {
    let asked = 0;
    const server = await startServer({ handler: echoHandler, allowRequest: () => (asked++, true) });
    expect((await handshake(server.port, { Origin: 'https://evil.example' })).statusLine).toBe(FORBIDDEN_HEAD);
    expect(asked).toBe(0);
    expect((await handshake(server.port, { Origin: `http://${HOST}:${server.port}` })).statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(asked).toBe(1);
  });
});

describe('origins, configured', () => {
  it("'*' accepts every origin (ws's behaviour)", async () => {
    const server = await startServer({ handler: echoHandler, origins: '*' });
    expect((await handshake(server.port, { Origin: 'https://evil.example' })).statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect((await handshake(server.port, { Origin: 'null' })).statusLine).toBe('HTTP/1.1 101 Switching Protocols');
  });

  it('a list of exact origins and host patterns accepts those and refuses the rest', async () => {
    const server = await startServer({ handler: echoHandler, origins: ['https://app.example.com', '*.example.org', 'localhost:*'] });
    for (const origin of ['https://app.example.com', 'https://app.example.com:443', 'https://a.example.org', 'http://localhost:5173']) {
      expect((await handshake(server.port, { Origin: origin })).statusLine, origin).toBe('HTTP/1.1 101 Switching Protocols');
    }
    for (const origin of ['http://app.example.com', 'https://example.org', `http://${HOST}:${server.port}`]) {
      expect((await handshake(server.port, { Origin: origin })).statusLine, origin).toBe(FORBIDDEN_HEAD);
    }
  });

  it('requireOrigin refuses a request without Origin with 403', async () => {
    const server = await startServer({ handler: echoHandler, requireOrigin: true });
    const response = await handshake(server.port, {});
    expect(response.statusLine).toBe(FORBIDDEN_HEAD);
    expect((response as RawHttpResult).body).toBe('a request without Origin\n');
    expect((await handshake(server.port, { Origin: `http://${HOST}:${server.port}` })).statusLine).toBe('HTTP/1.1 101 Switching Protocols');
  });

  it.each([
    ['origins', { origins: 'self' }],
    ['origins', { origins: ['https://example.com/app'] }],
    ['requireOrigin', { requireOrigin: 'yes' }],
  ])('a bad %s option throws WS_ERR_INVALID_ARGUMENT from the constructor', (_name, options) => {
    expect(() => new WebSocketServer(options as never)).toThrow(expect.objectContaining({ code: 'WS_ERR_INVALID_ARGUMENT' }));
  });
});

describeWithTools('origins over TLS', [OPENSSL], () => {
  it("same-origin over https: an Origin without a port is port 443's, Host without a port too", async () => {
    const { cert, key } = makeCertificate('localhost');
    const wss = new WebSocketServer({ handler: echoHandler });
    defer(() => wss.close({ timeout: 100 }));
    const server = createHttpsServer({ cert, key });
    wss.attach(server);
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
    defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as { port: number };
    const ask = (host: string, origin: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = tlsConnect({ host: HOST, port, servername: 'localhost', rejectUnauthorized: false });
        defer(() => socket.destroy());
        let received = '';
        socket.on('error', reject);
        socket.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
          if (received.includes('\r\n')) resolve(received.slice(0, received.indexOf('\r\n')));
        });
        socket.write(upgradeRequest({ headers: { Host: host, Origin: origin } }));
      });
    // The TLS port here is not 443, so Host names it; an Origin naming it matches.
    expect(await ask(`localhost:${port}`, `https://localhost:${port}`)).toBe('HTTP/1.1 101 Switching Protocols');
    // Host without a port means 443 on TLS: https://localhost (443) is the same origin, http://localhost (80) is not.
    expect(await ask('localhost', 'https://localhost')).toBe('HTTP/1.1 101 Switching Protocols');
    expect(await ask('localhost', 'http://localhost')).toBe(FORBIDDEN_HEAD);
  });
});
