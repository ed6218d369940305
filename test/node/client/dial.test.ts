/**
 * The phases before the HTTP handshake, each provoked for real: DNS (a lookup option that fails,
 * a .invalid name), TCP connect (a refused port, a missing Unix socket), TLS (a trusted throwaway
 * certificate made by openssl, one that is not trusted, a name that does not match, a server that
 * never speaks TLS, a plain server), and the transports: ws+unix: and wss:.
 */

import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { LookupFunction, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, connect, type Ws } from '../../../src/index.js';
import { HOST, cleanup, defer, refusedPort, startServer } from '../helpers.js';
import { connectFailure, dial, expectNothingDialed, listen, startRawServer, stopAfterTest } from './helpers.js';
import { OPENSSL, describeWithTools, makeCertificate, type Certificate } from './tools.js';

afterEach(cleanup);


async function echo(ws: Ws): Promise<void> {
  for await (const message of ws) await ws.send(message.data);
}


/** A lookup that answers every name with 127.0.0.1, recording what it was asked. */
function loopbackLookup(asked: Array<{ hostname: string; family: unknown }>): LookupFunction {
  return ((hostname: string, options: { family?: unknown }, callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void) => {
    asked.push({ hostname, family: options.family });
    callback(null, HOST, 4);
  }) as LookupFunction;
}

describe('DNS', () => {
  it('a lookup option that fails: WS_ERR_DNS with the cause, timed', async () => {
    const cause = Object.assign(new Error('getaddrinfo ENOTFOUND db.internal.test'), { code: 'ENOTFOUND' });
    const lookup = ((_hostname: string, _options: unknown, callback: (error: Error) => void) => callback(cause)) as unknown as LookupFunction;
    const error = await connectFailure(connect('ws://db.internal.test:9000/', { lookup }), 'WS_ERR_DNS', 'dns');
    expect(error.cause).toBe(cause);
    expect(error.message).toContain('db.internal.test');
    expect(error.url).toBe('ws://db.internal.test:9000/');
    expect(error.timings.dns).toBeGreaterThanOrEqual(0);
    expect(error.timings.connect).toBeUndefined();
  });

  it('a lookup that throws, and one that gives no address', async () => {
    const throwing = (() => {
      throw new Error('resolver broken');
    }) as unknown as LookupFunction;
    const thrown = await connectFailure(connect('ws://a.test/', { lookup: throwing }), 'WS_ERR_DNS', 'dns');
    expect((thrown.cause as Error).message).toBe('resolver broken');
    const empty = ((_h: string, _o: unknown, callback: (error: null, address: undefined) => void) => callback(null, undefined)) as unknown as LookupFunction;
    await connectFailure(connect('ws://b.test/', { lookup: empty }), 'WS_ERR_DNS', 'dns');
  });

  it('a .invalid name (RFC 6761 6.4: never resolves) through the system resolver', async () => {
    const error = await connectFailure(connect('ws://no-such-host.invalid/'), 'WS_ERR_DNS', 'dns');
    expect((error.cause as NodeJS.ErrnoException).code).toMatch(/^(ENOTFOUND|EAI_AGAIN)$/);
  });

  it('a lookup option that resolves: used with the family option, Host keeps the name', async () => {
    const requests: IncomingMessage[] = [];
    const server = await startServer({ handler: echo, allowRequest: (request: IncomingMessage) => (requests.push(request), true) });
    const asked: Array<{ hostname: string; family: unknown }> = [];
    const ws = await dial(`ws://chat.example.test:${server.port}/`, { lookup: loopbackLookup(asked), family: 4 });
    expect(asked).toEqual([{ hostname: 'chat.example.test', family: 4 }]);
    expect(requests[0]!.headers.host).toBe(`chat.example.test:${server.port}`);
    await ws.send('resolved');
    expect(await ws.recv()).toEqual({ type: 'text', data: 'resolved' });
  });
});

describe('TCP connect', () => {
  it('a refused port: WS_ERR_CONNECT with ECONNREFUSED, no DNS for an address', async () => {
    const port = await refusedPort();
    const error = await connectFailure(connect(`ws://${HOST}:${port}/`), 'WS_ERR_CONNECT', 'connect');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(error.message).toContain(`${HOST}:${port}`);
    expect(error.timings.dns).toBeUndefined();
    expect(error.timings.connect).toBeGreaterThanOrEqual(0);
    expect(error.timings.handshake).toBeUndefined();
  });

  it('a name that resolves to a refused port: both phases timed', async () => {
    const port = await refusedPort();
    const error = await connectFailure(connect(`ws://refused.test:${port}/`, { lookup: loopbackLookup([]) }), 'WS_ERR_CONNECT', 'connect');
    expect(error.timings.dns).toBeGreaterThanOrEqual(0);
    expect(error.timings.connect).toBeGreaterThanOrEqual(0);
  });
});

describe('cancelled between phases', () => {
  it('aborted in the same tick as connect() (new WebSocket() then close()): no TCP connection is opened', async () => {
    // The CI failure this pins: the cancellation came while the address step settled, before the
    // socket existed; the socket was opened anyway and its refusal was an 'error' nobody heard.
    const server = await startRawServer();
    const controller = new AbortController();
    const pending = connect(server.url, { signal: controller.signal });
    controller.abort();
    // An address needs no lookup, so no phase had started.
    await connectFailure(pending, 'WS_ERR_ABORTED', undefined);
    await expectNothingDialed(server);
  });

  it('aborted while the lookup runs: WS_ERR_ABORTED in the dns phase, no TCP connection', async () => {
    const server = await startRawServer();
    const controller = new AbortController();
    const lookup = ((_h: string, _o: unknown, callback: (error: null, address: string, family: number) => void) => {
      controller.abort();
      callback(null, HOST, 4);
    }) as unknown as LookupFunction;
    await connectFailure(connect(`ws://late.test:${server.port}/`, { lookup, signal: controller.signal }), 'WS_ERR_ABORTED', 'dns');
    await expectNothingDialed(server);
  });
});

describe('ws+unix:', () => {
  it('connects to a server listening on a Unix socket path, with the request path after the socket path', async () => {
    const path = join(tmpdir(), `rfc6455-${randomBytes(6).toString('hex')}.sock`);
    const requests: IncomingMessage[] = [];
    const wss = new WebSocketServer({ handler: echo, allowRequest: (request: IncomingMessage) => (requests.push(request), true) });
    defer(() => wss.close({ timeout: 100 }));
    const http = createHttpServer();
    wss.attach(http);
    stopAfterTest(http);
    await listen(http, path);
    const ws = await dial(`ws+unix:${path}:/chat?room=7`);
    await ws.send('over a Unix socket');
    expect(await ws.recv()).toEqual({ type: 'text', data: 'over a Unix socket' });
    expect(requests.map((request) => [request.url, request.headers.host])).toEqual([['/chat?room=7', 'localhost']]);
    // Without a request path: '/'.
    await dial(`ws+unix:${path}`);
    expect(requests[1]!.url).toBe('/');
    // The request path is sent as written (percent-encoded), only the socket path is decoded.
    await dial(`ws+unix:${path}:/a%20b/caf%C3%A9?q=%C3%A9&r=1`);
    expect(requests[2]!.url).toBe('/a%20b/caf%C3%A9?q=%C3%A9&r=1');
  });

  it('follows a relative redirect on the same Unix socket', async () => {
    const path = join(tmpdir(), `rfc6455-${randomBytes(6).toString('hex')}.sock`);
    const wss = new WebSocketServer({ handler: echo });
    defer(() => wss.close({ timeout: 100 }));
    const http = createHttpServer();
    const urls: string[] = [];
    http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
      urls.push(request.url ?? '');
      if (request.url === '/old/place') socket.end('HTTP/1.1 301 Moved Permanently\r\nLocation: ../new?x=1\r\nContent-Length: 0\r\n\r\n');
      else void wss.handleUpgrade(request, socket, head);
    });
    stopAfterTest(http);
    await listen(http, path);
    const ws = await dial(`ws+unix:${path}:/old/place`, { followRedirects: true });
    await ws.send('moved');
    expect(await ws.recv()).toEqual({ type: 'text', data: 'moved' });
    expect(urls).toEqual(['/old/place', '/new?x=1']);
  });

  it('a socket path where nothing listens: WS_ERR_CONNECT (ENOENT)', async () => {
    const path = join(tmpdir(), `rfc6455-missing-${randomBytes(6).toString('hex')}.sock`);
    const error = await connectFailure(connect(`ws+unix:${path}:/`), 'WS_ERR_CONNECT', 'connect');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});

describeWithTools('TLS (wss:) with a throwaway certificate from openssl', [OPENSSL], () => {
  let certificate: Certificate;
  beforeAll(() => {
    certificate = makeCertificate();
  });

  /** An https server (the certificate above) whose upgrades go to our WebSocketServer (echo). */
  async function startWssServer(): Promise<{ port: number; requests: IncomingMessage[] }> {
    const requests: IncomingMessage[] = [];
    const wss = new WebSocketServer({ handler: echo, allowRequest: (request: IncomingMessage) => (requests.push(request), true) });
    defer(() => wss.close({ timeout: 100 }));
    const https = createHttpsServer({ cert: certificate.cert, key: certificate.key });
    wss.attach(https);
    stopAfterTest(https);
    return { port: await listen(https), requests };
  }

  it('connects with the certificate as ca, to the address and to localhost (SAN IP and DNS)', async () => {
    const server = await startWssServer();
    const ws = await dial(`wss://${HOST}:${server.port}/secure`, { ca: certificate.cert });
    await ws.send('encrypted');
    expect(await ws.recv()).toEqual({ type: 'text', data: 'encrypted' });
    const big = randomBytes(3 * 1024 * 1024);
    await ws.send(big);
    expect(((await ws.recv()).data as Buffer).equals(big)).toBe(true);
    expect((server.requests[0]!.socket as TLSSocket).encrypted).toBe(true);
    expect(server.requests[0]!.url).toBe('/secure');
    const byName = await dial(`wss://localhost:${server.port}/`, { ca: certificate.cert, family: 4 });
    await byName.send('by name');
    expect(await byName.recv()).toEqual({ type: 'text', data: 'by name' });
    expect(server.requests[1]!.headers.host).toBe(`localhost:${server.port}`);
    // SNI carries the host name (RFC 6066 3), not an address.
    expect((server.requests[1]!.socket as TLSSocket & { servername?: string }).servername).toBe('localhost');
    expect(await ws.close()).toMatchObject({ code: 1000, wasClean: true });
  });

  it('rejectUnauthorized: false connects to a certificate nobody vouches for', async () => {
    const server = await startWssServer();
    const ws = await dial(`wss://${HOST}:${server.port}/`, { rejectUnauthorized: false });
    await ws.send('unverified');
    expect(await ws.recv()).toEqual({ type: 'text', data: 'unverified' });
  });

  it('an untrusted certificate: WS_ERR_TLS with the verification code as the cause', async () => {
    const server = await startWssServer();
    const error = await connectFailure(connect(`wss://${HOST}:${server.port}/`), 'WS_ERR_TLS', 'tls');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(error.timings.connect).toBeGreaterThanOrEqual(0);
    expect(error.timings.tls).toBeGreaterThanOrEqual(0);
    expect(error.timings.handshake).toBeUndefined();
    expect(server.requests).toHaveLength(0);
  });

  it('a certificate for another name: WS_ERR_TLS (ERR_TLS_CERT_ALTNAME_INVALID)', async () => {
    const server = await startWssServer();
    const error = await connectFailure(
      connect(`wss://${HOST}:${server.port}/`, { ca: certificate.cert, servername: 'other.example' }),
      'WS_ERR_TLS',
      'tls',
    );
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('a TCP server that never speaks TLS: WS_ERR_TIMEOUT in the tls phase', async () => {
    const server = await startRawServer();
    const pending = connect(`wss://${HOST}:${server.port}/`, { handshakeTimeout: 200 });
    const peer = await server.peers.next();
    const error = await connectFailure(pending, 'WS_ERR_TIMEOUT', 'tls');
    expect(error.timings.tls).toBeGreaterThan(100);
    await peer.gone;
  });

  it('a plain HTTP server spoken to with wss: WS_ERR_TLS', async () => {
    const server = await startServer({ handler: echo });
    const error = await connectFailure(connect(`wss://${HOST}:${server.port}/`, { ca: certificate.cert }), 'WS_ERR_TLS', 'tls');
    // The server's HTTP 400 is not a TLS record.
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ERR_SSL_WRONG_VERSION_NUMBER');
  });

  it('a server that drops the connection during the TLS handshake: WS_ERR_TLS', async () => {
    const server = await startRawServer();
    const pending = connect(`wss://${HOST}:${server.port}/`, { ca: certificate.cert });
    const peer = await server.peers.next();
    peer.socket.once('data', () => peer.socket.destroy());
    await connectFailure(pending, 'WS_ERR_TLS', 'tls');
  });

  it('never follows a redirect from wss: to ws: (WS_ERR_REDIRECT_REFUSED)', async () => {
    const plain = await startServer({ handler: echo });
    const https = createHttpsServer({ cert: certificate.cert, key: certificate.key });
    https.on('upgrade', (_request: IncomingMessage, socket: Socket) => {
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ws://${HOST}:${plain.port}/\r\nContent-Length: 0\r\n\r\n`);
    });
    stopAfterTest(https);
    const port = await listen(https);
    const error = await connectFailure(
      connect(`wss://${HOST}:${port}/`, { ca: certificate.cert, followRedirects: true }),
      'WS_ERR_REDIRECT_REFUSED',
      'handshake',
    );
    expect(error.status).toBe(302);
    expect(error.message).toContain('drops TLS');
  });

  it('wss+unix: speaks TLS over the Unix socket (never plain text)', async () => {
    const path = join(tmpdir(), `rfc6455-tls-${randomBytes(6).toString('hex')}.sock`);
    const requests: IncomingMessage[] = [];
    const wss = new WebSocketServer({ handler: echo, allowRequest: (request: IncomingMessage) => (requests.push(request), true) });
    defer(() => wss.close({ timeout: 100 }));
    const https = createHttpsServer({ cert: certificate.cert, key: certificate.key });
    wss.attach(https);
    stopAfterTest(https);
    await listen(https, path);
    const ws = await dial(`wss+unix:${path}:/secure-local`, { ca: certificate.cert });
    await ws.send('tls over a Unix socket');
    expect(await ws.recv()).toEqual({ type: 'text', data: 'tls over a Unix socket' });
    expect(requests.map((request) => [request.url, (request.socket as TLSSocket).encrypted])).toEqual([['/secure-local', true]]);

    // A plain server on a Unix socket: wss+unix: must fail in TLS rather than talk in the clear.
    const plainPath = join(tmpdir(), `rfc6455-plain-${randomBytes(6).toString('hex')}.sock`);
    const plainWss = new WebSocketServer({ handler: echo });
    defer(() => plainWss.close({ timeout: 100 }));
    const http = createHttpServer();
    plainWss.attach(http);
    stopAfterTest(http);
    await listen(http, plainPath);
    await connectFailure(connect(`wss+unix:${plainPath}:/`, { ca: certificate.cert }), 'WS_ERR_TLS', 'tls');
  });

  it('https: URLs mean wss: (WHATWG WebSocket)', async () => {
    const server = await startWssServer();
    const ws = await dial(`https://${HOST}:${server.port}/mapped`, { ca: certificate.cert });
    await ws.send('mapped');
    expect(await ws.recv()).toEqual({ type: 'text', data: 'mapped' });
    expect(server.requests[0]!.url).toBe('/mapped');
  });
});
