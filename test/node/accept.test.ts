/**
 * listen()'s accept path (src/node/accept.ts, issue 18): a node:net server reading each
 * connection's first request head with the core's parser. Over real TCP on 127.0.0.1: malformed
 * and smuggling-prone heads answered with exact bytes and reported to onRefused; a head split
 * byte by byte and frames in the same packet; plain requests handed to Node's http.Server with
 * full HTTP semantics (bodies, keep-alive, an upgrade after a plain request); a FIN in the head;
 * close() with connections that sent nothing; and an upgraded socket holding nothing of the
 * listener.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket as NetSocket, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RefusedHandshake, UpgradeRequest, Ws } from '../../src/index.js';
import {
  HOST,
  OP,
  acceptFor,
  cleanup,
  clientFrame,
  deadline,
  deferred,
  echoHandler,
  openRawClient,
  rawHttp,
  startServer,
  text,
  until,
  upgradeRequest,
} from './helpers.js';

afterEach(cleanup);

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function handshake(extra = ''): string {
  return (
    'GET /chat?room=1 HTTP/1.1\r\n' +
    `Host: ${HOST}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${KEY}\r\n` +
    'Sec-WebSocket-Version: 13\r\n' +
    extra +
    '\r\n'
  );
}

function errorResponse(status: string, body: string): string {
  return (
    `HTTP/1.1 ${status}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${body.length}\r\n` +
    '\r\n' +
    body
  );
}

/** Sends `request`, reads until the server closes, and returns every byte it sent, as latin1. */
async function exchange(port: number, request: string): Promise<string> {
  const client = await openRawClient(port);
  const received: Buffer[] = [];
  client.socket.on('data', (chunk: Buffer) => received.push(chunk));
  client.send(Buffer.from(request, 'latin1'));
  await deadline(client.closed, 5000, 'the server to close the connection');
  return Buffer.concat(received).toString('latin1');
}

describe('listen(): malformed and ambiguous request heads', () => {
  it.each([
    ['a bare LF (RFC 9112 2.2)', 'GET / HTTP/1.1\nHost: x\r\n\r\n', 'invalid HTTP request: an LF not preceded by CR at offset 14'],
    ['an obs-fold (RFC 9112 5.2)', handshake('X: a\r\n b\r\n'), `invalid HTTP request: a header line that starts with whitespace (obs-fold) at offset ${handshake().length - 2 + 6}`],
    ['a TLS ClientHello on the cleartext port', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 'invalid HTTP request: a request line that does not start with a method and a space at offset 0'],
    [
      'two Content-Length headers (RFC 9112 6.3)',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n',
      'invalid HTTP request: a second Content-Length header (RFC 9112 6.3) at offset 45',
    ],
    [
      'Content-Length and Transfer-Encoding (RFC 9112 6.1)',
      handshake('Content-Length: 0\r\nTransfer-Encoding: chunked\r\n'),
      `invalid HTTP request: both Transfer-Encoding and Content-Length (RFC 9112 6.1) at offset ${handshake().length - 2 + 19}`,
    ],
    ['an upgrade with a body', handshake('Content-Length: 2\r\n'), 'invalid HTTP request: an upgrade request with a body'],
    ['an upgrade with a chunked body', handshake('Transfer-Encoding: chunked\r\n'), 'invalid HTTP request: an upgrade request with a body'],
  ])('%s: 400 with the reason, exactly, and onRefused is told', async (_what, request, message) => {
    const refusals: RefusedHandshake[] = [];
    const handled: unknown[] = [];
    const { port } = await startServer({ handler: (ws) => void handled.push(ws), onRefused: (refused) => void refusals.push(refused) });
    expect(await exchange(port, request)).toBe(errorResponse('400 Bad Request', `${message}\n`));
    expect(refusals).toEqual([{ status: 400, code: 'WS_ERR_INVALID_HTTP_REQUEST', message, request: undefined }]);
    expect(handled).toEqual([]);
  });

  it('a head over maxHeaderSize: 431 as soon as the byte past the limit arrives, before any CRLFCRLF', async () => {
    const refusals: RefusedHandshake[] = [];
    const { port } = await startServer({ maxHeaderSize: 1024, onRefused: (refused) => void refusals.push(refused) });
    const body = 'the request head exceeds 1024 bytes\n';
    expect(await exchange(port, `GET / HTTP/1.1\r\nX: ${'a'.repeat(2000)}`)).toBe(errorResponse('431 Request Header Fields Too Large', body));
    expect(refusals.map((r) => r.code)).toEqual(['WS_ERR_HANDSHAKE_HEADERS']);
  });

  it('a FIN in the middle of the head: 400; a FIN before any byte: closed without a response', async () => {
    const { port } = await startServer({ handler: echoHandler });
    const client = await openRawClient(port);
    const received: Buffer[] = [];
    client.socket.on('data', (chunk: Buffer) => received.push(chunk));
    client.socket.end('GET / HTTP/1.1\r\nHost: x\r\n');
    await deadline(client.closed, 5000, 'the 400');
    const message = 'invalid HTTP request: the connection ended before the request head did\n';
    expect(Buffer.concat(received).toString('latin1')).toBe(errorResponse('400 Bad Request', message));

    const silent = await openRawClient(port);
    let bytes = 0;
    silent.socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    silent.socket.end();
    await deadline(silent.closed, 5000, 'the server to close');
    expect(bytes).toBe(0);
  });
});

describe('listen(): upgrades', () => {
  it('a head sent one byte at a time, then frames in the same write as its last byte: 101, and the frames are read', async () => {
    const requests: UpgradeRequest[] = [];
    const { port } = await startServer({
      handler: (ws, request) => {
        requests.push(request);
        return echoHandler(ws);
      },
    });
    const client = await openRawClient(port);
    const head = Buffer.from(handshake('Sec-WebSocket-Protocol: a\r\nsec-websocket-protocol: b\r\n'), 'latin1');
    for (let i = 0; i < head.length - 1; i++) {
      client.send(head.subarray(i, i + 1));
      // One byte per packet: wait for the server to have read it (nothing comes back).
      await new Promise((resolve) => setImmediate(resolve));
    }
    client.send(Buffer.concat([head.subarray(head.length - 1), clientFrame({ opcode: OP.TEXT, payload: text('hello') })]));
    const response = await deadline(client.responseHead(), 5000, 'the 101');
    expect(response.status).toBe(101);
    expect(response.headers['sec-websocket-accept']).toBe(acceptFor(KEY));
    const echo = await deadline(client.nextFrame(), 5000, 'the echo');
    expect(echo.payload.toString()).toBe('hello');
    expect(requests).toHaveLength(1);
    const [request] = requests as [UpgradeRequest & { rawHeaders: string[] }];
    expect(request).toMatchObject({ method: 'GET', url: '/chat?room=1', httpVersion: '1.1' });
    expect(request.headers['sec-websocket-protocol']).toBe('a, b');
    expect(request.rawHeaders.slice(0, 2)).toEqual(['Host', HOST]);
    expect(request.socket.remoteAddress).toBe('127.0.0.1');
    expect(request.socket.remotePort).toBe(client.socket.localPort);
  });

  it('an upgraded socket keeps nothing of the listener: only the connection listens to it', async () => {
    const opened = deferred<Ws>();
    const { port } = await startServer({ handler: (ws) => opened.resolve(ws) });
    const client = await openRawClient(port);
    client.send(Buffer.from(handshake(), 'latin1'));
    await deadline(client.responseHead(), 5000, 'the 101');
    const ws = await opened.promise;
    const socket = (ws as unknown as { socket: Socket }).socket;
    // What a bare net.Socket listens to itself ('end', for one), and the connection's one each.
    const bare = new NetSocket();
    for (const event of ['data', 'end', 'close', 'error', 'readable', 'timeout', 'drain'] as const) {
      const own = ['data', 'end', 'close', 'error'].includes(event) ? 1 : 0;
      expect(socket.listenerCount(event), event).toBe(bare.listenerCount(event) + own);
    }
    bare.destroy();
  });
});

describe('listen(): plain requests go to Node, with its HTTP semantics', () => {
  it('a POST whose body comes in pieces is read whole by onHttpRequest; then an upgrade on the same connection is accepted', async () => {
    const bodies: string[] = [];
    const { port } = await startServer({
      handler: echoHandler,
      onHttpRequest(request: IncomingMessage, response: ServerResponse) {
        let body = '';
        request.setEncoding('latin1');
        request.on('data', (chunk: string) => (body += chunk));
        request.on('end', () => {
          bodies.push(`${request.method} ${request.url} ${body}`);
          response.writeHead(200, { 'Content-Length': 2 });
          response.end('ok');
        });
        return true;
      },
    });
    const client = await openRawClient(port);
    const received: Buffer[] = [];
    client.socket.on('data', (chunk: Buffer) => received.push(chunk));
    client.send(Buffer.from(`POST /form HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 11\r\n\r\nhello`, 'latin1'));
    await new Promise((resolve) => setImmediate(resolve));
    client.send(Buffer.from(' world', 'latin1'));
    await until(() => Buffer.concat(received).toString('latin1').endsWith('\r\n\r\nok'), 'the 200');
    expect(bodies).toEqual(['POST /form hello world']);
    expect(Buffer.concat(received).toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    // Kept alive: the next request on this connection is Node's to parse, and an upgrade.
    received.length = 0;
    client.send(Buffer.from(handshake(), 'latin1'));
    await until(() => Buffer.concat(received).toString('latin1').includes('\r\n\r\n'), 'the 101');
    expect(Buffer.concat(received).toString('latin1')).toContain(`HTTP/1.1 101 Switching Protocols\r\n`);
    expect(Buffer.concat(received).toString('latin1')).toContain(`Sec-WebSocket-Accept: ${acceptFor(KEY)}\r\n`);
  });

  it('without a hook: 426, and an Upgrade without "Connection: upgrade" is told what is wrong', async () => {
    const { port } = await startServer({ handler: echoHandler });
    const plain = await rawHttp(port, `GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    expect(plain.statusLine).toBe('HTTP/1.1 426 Upgrade Required');
    const noConnection = await rawHttp(port, upgradeRequest({ headers: { Connection: 'keep-alive' } }));
    expect(noConnection.status).toBe(400);
    expect(noConnection.body).toMatch(/Connection/);
  });
});

describe('listen(): close()', () => {
  it('closes connections that sent nothing and those in the middle of a head, and resolves', async () => {
    const { server, port } = await startServer({ handler: echoHandler });
    const silent = await openRawClient(port);
    const partial = await openRawClient(port);
    partial.send(Buffer.from('GET / HTTP/1.1\r\nHo', 'latin1'));
    await until(() => server.address() !== null, 'listening');
    const result = await deadline(server.close({ timeout: 100 }), 5000, 'close()');
    expect(result).toEqual({ closed: 0, terminated: 0 });
    await deadline(Promise.all([silent.closed, partial.closed]), 5000, 'both connections closed');
    expect(server.address()).toBeNull();
  });
});
