/**
 * How connect() fails once a server has answered, and how it stops on its own: responses other
 * than 101 (status, headers, the first KiB of the body, chunked bodies decoded), invalid 101s
 * (RFC 6455 4.1: wrong accept, an unoffered subprotocol or extension), the handshake timeout, an
 * AbortSignal before and during, and redirects (followed, looped, credentials dropped across
 * hosts). Every error is a ConnectError with its stable code, phase, URL and timings.
 */

import { getEventListeners } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectError, HandshakeError, WebSocketServer, connect, type ClientOptions, type TransportRequest, type Ws } from '../../../src/index.js';
import { HOST, cleanup, deadline, deferred, defer, refusedPort, startHttpServer, startServer } from '../helpers.js';
import { connectFailure, expectNothingDialed, startRawServer, type RawPeer } from './helpers.js';

afterEach(cleanup);


/** Timings of an attempt on 127.0.0.1 (no DNS, no TLS) that reached the handshake. */
function expectHandshakeTimings(error: ConnectError): void {
  expect(error.timings.dns).toBeUndefined();
  expect(error.timings.tls).toBeUndefined();
  expect(error.timings.proxy).toBeUndefined();
  expect(error.timings.connect).toBeGreaterThanOrEqual(0);
  expect(error.timings.handshake).toBeGreaterThanOrEqual(0);
  expect(error.timings.total).toBeGreaterThanOrEqual(error.timings.connect! + error.timings.handshake!);
}

/** A raw server that answers the first request with `respond` and returns the peer. */
async function answerOnce(respond: (peer: RawPeer) => void, options: ClientOptions = {}, path = '/') {
  const server = await startRawServer();
  const pending = connect(`${server.url}${path}`, options);
  pending.catch(() => {});
  const peer = await server.peers.next();
  await peer.request();
  respond(peer);
  return { server, peer, pending };
}

async function echo(ws: Ws): Promise<void> {
  for await (const message of ws) await ws.send(message.data);
}

describe('responses other than 101', () => {
  it('404: status, headers and the first 1024 bytes of a 5 KiB body', async () => {
    const body = Buffer.from(Array.from({ length: 5 * 1024 }, (_, i) => 'abcdefghijklmnopqrstuvwxyz'.charCodeAt(i % 26)));
    const { peer, pending } = await answerOnce((p) => {
      p.write(`HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-Why: no such room\r\nContent-Length: ${body.length}\r\n\r\n`);
      // The body in later writes than the head.
      setImmediate(() => p.write(body.subarray(0, 1000)));
      setImmediate(() => setImmediate(() => p.write(body.subarray(1000))));
    }, {}, '/rooms/42');
    const error = await connectFailure(pending, 'WS_ERR_UNEXPECTED_RESPONSE', 'handshake');
    expect(error.status).toBe(404);
    expect(error.headers).toMatchObject({ 'content-type': 'text/plain', 'x-why': 'no such room', 'content-length': '5120' });
    expect(error.body).toEqual(body.subarray(0, 1024));
    expect(error.url).toBe(`ws://${HOST}:${(peer.socket.address() as { port: number }).port}/rooms/42`);
    expect(error.message).toContain('404');
    expectHandshakeTimings(error);
    // The client does not leave the socket open.
    await peer.gone;
  });

  it('a chunked body is decoded (and cut at 1024 bytes)', async () => {
    const { pending } = await answerOnce((p) =>
      p.write('HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'),
    );
    const error = await connectFailure(pending, 'WS_ERR_UNEXPECTED_RESPONSE', 'handshake');
    expect(error.status).toBe(400);
    expect(error.body?.toString()).toBe('hello world');

    const chunk = 'x'.repeat(700);
    const { pending: long } = await answerOnce((p) =>
      p.write(`HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n${`2bc\r\n${chunk}\r\n`.repeat(3)}0\r\n\r\n`),
    );
    const cut = await connectFailure(long, 'WS_ERR_UNEXPECTED_RESPONSE', 'handshake');
    expect(cut.body?.toString()).toBe('x'.repeat(1024));
  });

  it('a body that stops short of its Content-Length is reported as far as it came, without hanging', async () => {
    const { pending } = await answerOnce((p) => p.write('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5000\r\n\r\nbusy'));
    const error = await connectFailure(pending, 'WS_ERR_UNEXPECTED_RESPONSE', 'handshake');
    expect(error.status).toBe(503);
    expect(error.body?.toString()).toBe('busy');
  });

  it('403 from our own server (allowRequest refused), with its body', async () => {
    const server = await startServer({ allowRequest: () => false });
    const error = await connectFailure(connect(server.url), 'WS_ERR_UNEXPECTED_RESPONSE', 'handshake');
    expect(error.status).toBe(403);
    expect(error.headers?.['content-type']).toMatch(/^text\/plain/);
    expect(error.body?.length).toBeGreaterThan(0);
    expect(error.body?.toString()).toMatch(/refused/);
  });

  it('a redirect is not followed unless asked: the 3xx is the error', async () => {
    const { pending } = await answerOnce((p) => p.write('HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n'));
    const error = await connectFailure(pending, 'WS_ERR_UNEXPECTED_RESPONSE', 'handshake');
    expect(error.status).toBe(302);
    expect(error.headers?.location).toBe('/elsewhere');
    expect(error.body).toEqual(Buffer.alloc(0));
  });
});

describe('invalid 101 responses (RFC 6455 4.1: the client fails the connection)', () => {
  const cases: Array<{ name: string; headers: Record<string, string | null>; options?: ClientOptions; cause: HandshakeError['code'] }> = [
    { name: 'a wrong Sec-WebSocket-Accept', headers: { 'Sec-WebSocket-Accept': 'dGhlIHNhbXBsZSBub25jZQ==' }, cause: 'WS_ERR_HANDSHAKE_ACCEPT' },
    { name: 'no Sec-WebSocket-Accept', headers: { 'Sec-WebSocket-Accept': null }, cause: 'WS_ERR_HANDSHAKE_ACCEPT' },
    { name: 'no Upgrade header', headers: { Upgrade: null }, cause: 'WS_ERR_HANDSHAKE_UPGRADE' },
    { name: 'Connection without upgrade', headers: { Connection: 'keep-alive' }, cause: 'WS_ERR_HANDSHAKE_CONNECTION' },
    { name: 'a subprotocol when none was offered', headers: { 'Sec-WebSocket-Protocol': 'chat' }, cause: 'WS_ERR_HANDSHAKE_PROTOCOL' },
    {
      name: 'a subprotocol that was not offered',
      headers: { 'Sec-WebSocket-Protocol': 'other' },
      options: { protocols: ['chat', 'json'] },
      cause: 'WS_ERR_HANDSHAKE_PROTOCOL',
    },
    { name: 'an extension that was not offered', headers: { 'Sec-WebSocket-Extensions': 'x-webkit-deflate-frame' }, cause: 'WS_ERR_HANDSHAKE_EXTENSIONS' },
    {
      name: 'permessage-deflate when compression was off',
      headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' },
      options: { perMessageDeflate: false },
      cause: 'WS_ERR_HANDSHAKE_EXTENSIONS',
    },
    {
      name: 'a permessage-deflate parameter that does not exist',
      headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; color=blue' },
      cause: 'WS_ERR_HANDSHAKE_EXTENSIONS',
    },
    {
      name: 'server_max_window_bits out of range',
      headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_max_window_bits=16' },
      cause: 'WS_ERR_HANDSHAKE_EXTENSIONS',
    },
  ];
  for (const { name, headers, options, cause } of cases) {
    it(`${name}: WS_ERR_INVALID_RESPONSE caused by ${cause}`, async () => {
      const { peer, pending } = await answerOnce((p) => p.accept(headers), options);
      const error = await connectFailure(pending, 'WS_ERR_INVALID_RESPONSE', 'handshake');
      expect(error.status).toBe(101);
      expect(error.cause).toBeInstanceOf(HandshakeError);
      expect((error.cause as HandshakeError).code).toBe(cause);
      expectHandshakeTimings(error);
      // The connection is failed: the socket is destroyed, not kept.
      await peer.gone;
    });
  }

  it('a response that is not HTTP', async () => {
    const { peer, pending } = await answerOnce((p) => p.write('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    const error = await connectFailure(pending, 'WS_ERR_INVALID_RESPONSE', 'handshake');
    expect(error.status).toBeUndefined();
    // The client lets go of the socket (the server would otherwise hold it until its own timeout).
    await deadline(peer.gone, 5000, 'the client to close its socket');
  });

  it('a server that closes without answering', async () => {
    const { peer, pending } = await answerOnce((p) => p.socket.end());
    const error = await connectFailure(pending, 'WS_ERR_INVALID_RESPONSE', 'handshake');
    expect(error.message).toMatch(/without answering/);
    // Half-open sockets (allowHalfOpen) do not end by themselves: the client must end its side too.
    await deadline(peer.clientEnded, 5000, "the client's FIN");
  });
});

describe('handshakeTimeout', () => {
  it('a server that accepts TCP but never answers: WS_ERR_TIMEOUT in the handshake phase, the socket closed', async () => {
    // Timers and performance.now() on a fake clock (sockets stay real): the handshake timer runs
    // out, and the timings add up, exactly as the test moves time.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    vi.advanceTimersByTime(1000); // a fake performance.now() of 0 would read as "no phase started"
    const server = await startRawServer();
    const failed = connectFailure(connect(server.url, { handshakeTimeout: 150 }), 'WS_ERR_TIMEOUT', 'handshake');
    const peer = await server.peers.next();
    expect((await peer.request()).method).toBe('GET');
    await vi.advanceTimersByTimeAsync(149);
    expect(vi.getTimerCount()).toBe(1); // the handshake timer, still running
    await vi.advanceTimersByTimeAsync(1);
    const error = await deadline(failed, 5000, 'the timeout');
    expect(error.message).toContain('150 ms');
    expect(error.timings).toMatchObject({ connect: 0, handshake: 150, total: 150 });
    await deadline(peer.gone, 5000, 'the client to close its socket');
  });

  it('bounds the whole connect, redirects included', async () => {
    const server = await startRawServer();
    const pending = connect(server.url, { handshakeTimeout: 300, followRedirects: true });
    // The first answer redirects; the second never comes.
    const first = await server.peers.next();
    await first.request();
    first.write('HTTP/1.1 307 Temporary Redirect\r\nLocation: /slow\r\nContent-Length: 0\r\n\r\n');
    const second = await server.peers.next();
    expect((await second.request()).path).toBe('/slow');
    const error = await connectFailure(pending, 'WS_ERR_TIMEOUT', 'handshake');
    expect(error.url).toBe(`${server.url}/slow`);
    await second.gone;
  });
});

describe('signal', () => {
  it('an aborted signal rejects before any connection is made', async () => {
    const server = await startRawServer();
    const controller = new AbortController();
    controller.abort(new Error('not needed any more'));
    const error = await connectFailure(connect(server.url, { signal: controller.signal }), 'WS_ERR_ABORTED', undefined);
    expect((error.cause as Error).message).toBe('not needed any more');
    await expectNothingDialed(server);
  });

  it('aborting during the handshake rejects at once with the reason, and closes the socket', async () => {
    const server = await startRawServer();
    const controller = new AbortController();
    const pending = connect(server.url, { signal: controller.signal });
    const peer = await server.peers.next();
    await peer.request();
    const reason = new Error('user pressed cancel');
    controller.abort(reason);
    const error = await connectFailure(pending, 'WS_ERR_ABORTED', 'handshake');
    expect(error.cause).toBe(reason);
    await peer.gone;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('aborting during DNS', async () => {
    const controller = new AbortController();
    let asked = '';
    const pending = connect('ws://slow-resolver.test/', {
      signal: controller.signal,
      lookup: (hostname) => {
        asked = hostname;
        // Never calls back: only the abort can end this.
        controller.abort();
      },
    });
    const error = await connectFailure(pending, 'WS_ERR_ABORTED', 'dns');
    expect(asked).toBe('slow-resolver.test');
    expect(error.timings.dns).toBeGreaterThanOrEqual(0);
  });

  it('once connected, the signal no longer affects the connection, and its listener is gone', async () => {
    const server = await startServer({ handler: echo });
    const controller = new AbortController();
    const ws = await connect(server.url, { signal: controller.signal });
    defer(() => ws.terminate());
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort();
    await ws.send('still open');
    expect(await ws.recv()).toEqual({ type: 'text', data: 'still open' });
  });
});

// ---- redirects ---------------------------------------------------------------------------------

interface Router {
  readonly port: number;
  readonly url: string;
  /** Every upgrade request received, in order. */
  readonly requests: IncomingMessage[];
}

/**
 * An HTTP server whose upgrades are routed by `route`: a redirect (status and Location), or
 * 'accept' to hand the socket to our WebSocketServer (an echo).
 */
async function startRouter(route: (request: IncomingMessage) => { status: number; location: string } | 'accept'): Promise<Router> {
  const wss = new WebSocketServer({ handler: echo });
  defer(() => wss.close({ timeout: 100 }));
  const http = createHttpServer();
  const requests: IncomingMessage[] = [];
  http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    requests.push(request);
    const decision = route(request);
    if (decision === 'accept') void wss.handleUpgrade(request, socket, head);
    else socket.end(`HTTP/1.1 ${decision.status} Redirect\r\nLocation: ${decision.location}\r\nContent-Length: 0\r\n\r\n`);
  });
  const port = await startHttpServer(http);
  return { port, url: `ws://${HOST}:${port}`, requests };
}

describe('followRedirects', () => {
  for (const status of [301, 302, 303, 307, 308]) {
    it(`follows a ${status} to another path on the same server`, async () => {
      const router = await startRouter((request) => (request.url === '/old' ? { status, location: '/new?x=1' } : 'accept'));
      const ws = await connect(`${router.url}/old`, { followRedirects: true });
      defer(() => ws.terminate());
      expect(router.requests.map((request) => request.url)).toEqual(['/old', '/new?x=1']);
      await ws.send('arrived');
      expect(await ws.recv()).toEqual({ type: 'text', data: 'arrived' });
    });
  }

  it('a redirect loop: WS_ERR_TOO_MANY_REDIRECTS after maxRedirects', async () => {
    const router = await startRouter(() => ({ status: 302, location: '/loop' }));
    const error = await connectFailure(connect(`${router.url}/loop`, { followRedirects: true, maxRedirects: 3 }), 'WS_ERR_TOO_MANY_REDIRECTS', 'handshake');
    expect(error.status).toBe(302);
    expect(router.requests).toHaveLength(4);
    expect(error.message).toContain('3 redirects');

    const defaults = await startRouter(() => ({ status: 301, location: '/again' }));
    await connectFailure(connect(defaults.url, { followRedirects: true }), 'WS_ERR_TOO_MANY_REDIRECTS', 'handshake');
    // The default maxRedirects is 10: the first request and 10 redirects followed.
    expect(defaults.requests).toHaveLength(11);
  });

  it('keeps credentials and cookies on the same host, drops them when the host changes', async () => {
    const target = await startRouter(() => 'accept');
    const origin = await startRouter((request) =>
      request.url === '/start' ? { status: 302, location: '/same-host' } : { status: 307, location: `${target.url}/landing` },
    );
    const ws = await connect(`ws://alice:s3cret@${HOST}:${origin.port}/start`, {
      followRedirects: true,
      headers: { Cookie: 'session=abc', 'X-Request-Id': '42' },
    });
    defer(() => ws.terminate());
    const basic = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
    expect(origin.requests.map((request) => [request.url, request.headers.authorization, request.headers.cookie])).toEqual([
      ['/start', basic, 'session=abc'],
      ['/same-host', basic, 'session=abc'],
    ]);
    // Another port is another origin: no Authorization, no Cookie; other headers stay.
    const landed = target.requests[0]!;
    expect(landed.url).toBe('/landing');
    expect(landed.headers.authorization).toBeUndefined();
    expect(landed.headers.cookie).toBeUndefined();
    expect(landed.headers['x-request-id']).toBe('42');
    expect(landed.headers.host).toBe(`${HOST}:${target.port}`);
  });

  it('drops an explicit Authorization header when the host changes', async () => {
    const target = await startRouter(() => 'accept');
    const origin = await startRouter(() => ({ status: 302, location: `http://${HOST}:${target.port}/` }));
    const ws = await connect(origin.url, { followRedirects: true, headers: { Authorization: 'Bearer token' } });
    defer(() => ws.terminate());
    expect(origin.requests[0]!.headers.authorization).toBe('Bearer token');
    // http: in Location is mapped to ws: (WHATWG WebSocket).
    expect(target.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('refuses a redirect to a URL that is not a WebSocket URL', async () => {
    const router = await startRouter(() => ({ status: 302, location: 'ftp://files.example/' }));
    const error = await connectFailure(connect(router.url, { followRedirects: true }), 'WS_ERR_REDIRECT_REFUSED', 'handshake');
    expect(error.status).toBe(302);
  });

  it('refuses a redirect from a TCP URL to a Unix socket', async () => {
    const router = await startRouter(() => ({ status: 302, location: 'ws+unix:/var/run/docker.sock:/' }));
    await connectFailure(connect(router.url, { followRedirects: true }), 'WS_ERR_REDIRECT_REFUSED', 'handshake');
  });
});

describe('createConnection', () => {
  it('carries the connection over any transport; Host names the URL host, with the port only when not the default', async () => {
    const router = await startRouter(() => 'accept');
    const asked: Array<{ hostname: string; port: number; secure: boolean }> = [];
    const options: ClientOptions = {
      createConnection: ({ hostname, port, secure }) => {
        asked.push({ hostname, port, secure });
        return netConnect(router.port, HOST);
      },
    };
    for (const url of ['ws://virtual.example/path', 'ws://virtual.example:8080/', 'wss://virtual.example/', 'wss://virtual.example:8443/']) {
      // wss: the transport is trusted to provide TLS; a plain socket here stands for a TLS terminator.
      const ws = await connect(url, options);
      defer(() => ws.terminate());
      await ws.send(url);
      expect(await ws.recv()).toEqual({ type: 'text', data: url });
    }
    expect(asked).toEqual([
      { hostname: 'virtual.example', port: 80, secure: false },
      { hostname: 'virtual.example', port: 8080, secure: false },
      { hostname: 'virtual.example', port: 443, secure: true },
      { hostname: 'virtual.example', port: 8443, secure: true },
    ]);
    expect(router.requests.map((request) => [request.url, request.headers.host])).toEqual([
      ['/path', 'virtual.example'],
      ['/', 'virtual.example:8080'],
      ['/', 'virtual.example'],
      ['/', 'virtual.example:8443'],
    ]);
  });

  it('a socket from createConnection that cannot connect: WS_ERR_CONNECT in the connect phase', async () => {
    const port = await refusedPort();
    const error = await connectFailure(connect('ws://virtual.example/', { createConnection: () => netConnect(port, HOST) }), 'WS_ERR_CONNECT', 'connect');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('aborted while createConnection is pending: its signal is aborted, and the socket it gives later is closed', async () => {
    const server = await startRawServer();
    const controller = new AbortController();
    const requested = deferred<TransportRequest>();
    const transport = deferred<Duplex>();
    const pending = connect('ws://virtual.example/', {
      signal: controller.signal,
      createConnection: (request) => {
        requested.resolve(request);
        return transport.promise;
      },
    });
    const request = await requested.promise;
    expect(request.signal.aborted).toBe(false);
    controller.abort();
    await connectFailure(pending, 'WS_ERR_ABORTED', 'connect');
    expect(request.signal.aborted).toBe(true);
    // A transport that ignores the signal and delivers anyway: nobody would ever close its socket.
    const late = netConnect(server.port, HOST);
    defer(() => late.destroy());
    transport.resolve(late);
    await deadline(new Promise((resolve) => late.once('close', resolve)), 5000, 'the late socket to be closed');
    expect(late.destroyed).toBe(true);
  });

  it('a createConnection that throws: WS_ERR_CONNECT with the cause', async () => {
    const cause = new Error('no route');
    const error = await connectFailure(
      connect('ws://virtual.example/', {
        createConnection: () => {
          throw cause;
        },
      }),
      'WS_ERR_CONNECT',
      'connect',
    );
    expect(error.cause).toBe(cause);
  });
});
