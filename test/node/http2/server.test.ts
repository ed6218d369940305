/**
 * The server over HTTP/2 (RFC 8441), against Node's own `http2` client as a raw peer: the
 * extended CONNECT written by the test, the response's exact fields, the exact bytes on the
 * stream, refusals as statuses on the stream (never a connection error), routing of the streams
 * that are not ours, the closing handshake mapped onto END_STREAM and RST_STREAM, and flow
 * control: one stuck WebSocket never stalls the others on its session.
 */

import { randomBytes } from 'node:crypto';
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RefusedHandshake, UpgradeRequest, Ws } from '../../../src/index.js';
import { compressMessage, inflateMessage } from '../../../testkit/index.js';
import { HOST, OP, cleanup, clientFrame, closePayload, deadline, deferred, echoHandler, nextTurn, serverFrame, text, until } from '../helpers.js';
import {
  RawStreamClient,
  connectHeaders,
  nextH2Connection,
  rawSession,
  rawStreamConnect,
  startHttp2Server,
} from './helpers.js';

afterEach(cleanup);

const CANCEL = constants.NGHTTP2_CANCEL;
const NO_ERROR = constants.NGHTTP2_NO_ERROR;

/** A response's fields as plain data: without Node's `date` and its sensitive-headers symbol. */
function fields(headers: IncomingHttpHeaders): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'date'));
}

/** A stream's full answer to a refused request: its fields, body and reset code. */
async function refusal(client: RawStreamClient): Promise<{ headers: Record<string, unknown>; body: string; rstCode: number | undefined }> {
  const response = await client.response;
  await client.closed;
  return { headers: fields(response), body: client.body.toString('utf8'), rstCode: client.rstCode };
}

describe('the extended CONNECT, accepted', () => {
  it('attach() advertises SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 3)', async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const session = await rawSession(server.port);
    expect(session.remoteSettings.enableConnectProtocol).toBe(true);
  });

  it('answers 200 with no Sec-WebSocket-Accept (RFC 8441 5), and echoes frames byte for byte', async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const client = await rawStreamConnect(server.port);
    expect(fields(await client.response)).toEqual({ ':status': 200 });
    client.sendFrame({ opcode: OP.TEXT, payload: text('héllo over h2') });
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'héllo over h2'));
    client.sendFrame({ opcode: OP.BINARY, payload: Buffer.from([0, 0xff, 0x80]) });
    expect((await client.nextFrame()).raw).toEqual(Buffer.from([0x82, 0x03, 0, 0xff, 0x80]));
    client.sendFrame({ opcode: OP.PING, payload: text('p') });
    expect((await client.nextFrame()).raw).toEqual(Buffer.from([0x8a, 0x01, 0x70]));
  });

  it('gives the handler the request: CONNECT, the path, the headers with :authority, the client address; ws.transport is h2', async () => {
    const requests: UpgradeRequest[] = [];
    const server = await startHttp2Server({ handler: (_ws, request) => void requests.push(request) });
    await rawStreamConnect(server.port, { path: '/chat?room=1', headers: { cookie: 'a=b' } });
    const ws = await nextH2Connection(server);
    expect(ws.transport).toBe('h2');
    const [request] = requests;
    expect(request!.method).toBe('CONNECT');
    expect(request!.url).toBe('/chat?room=1');
    expect(request!.httpVersion).toBe('2.0');
    expect(request!.headers[':authority']).toBe(`${HOST}:${server.port}`);
    expect(request!.headers[':protocol']).toBe('websocket');
    expect(request!.headers['cookie']).toBe('a=b');
    expect(request!.socket.remoteAddress).toMatch(/127\.0\.0\.1$/);
    expect(typeof request!.socket.remotePort).toBe('number');
    expect(server.server.clients.has(ws)).toBe(true);
  });

  it('negotiates the subprotocol and permessage-deflate from the lower-case fields, as over HTTP/1.1', async () => {
    const server = await startHttp2Server({
      handler: echoHandler,
      selectProtocol: (offered) => offered.at(-1),
      perMessageDeflate: { threshold: 0 },
    });
    const client = await rawStreamConnect(server.port, {
      headers: { 'sec-websocket-protocol': 'a, b', 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' },
    });
    expect(fields(await client.response)).toEqual({ ':status': 200, 'sec-websocket-protocol': 'b', 'sec-websocket-extensions': 'permessage-deflate' });
    const ws = await nextH2Connection(server);
    expect(ws.protocol).toBe('b');
    expect(ws.deflateAgreement).toMatchObject({ ourMaxWindowBits: 15, theirMaxWindowBits: 15 });
    // A compressed message each way: RSV1 on both (RFC 7692 6).
    client.sendFrame({ opcode: OP.TEXT, rsv1: true, payload: compressMessage('squeeze me, squeeze me') });
    const echo = await client.nextFrame();
    expect(echo.rsv & 4).toBe(4);
    expect(inflateMessage(echo.payload).toString()).toBe('squeeze me, squeeze me');
  });
});

describe('refusals: a status on the stream, never a connection error', () => {
  it.each([
    ['another WebSocket version', { 'sec-websocket-version': '8' }, {}, 426, 'WS_ERR_HANDSHAKE_VERSION', { 'sec-websocket-version': '13' }],
    ['a page of another origin', { origin: 'https://evil.example' }, {}, 403, 'WS_ERR_HANDSHAKE_ORIGIN', {}],
    ['a request allowRequest refuses', { 'x-refuse': '1' }, { allowRequest: (request: UpgradeRequest) => request.headers['x-refuse'] === undefined }, 403, 'WS_ERR_HANDSHAKE_FORBIDDEN', {}],
    ['headers over maxHeaderSize', { 'x-big': 'x'.repeat(2000) }, { maxHeaderSize: 1024 }, 431, 'WS_ERR_HANDSHAKE_HEADERS', {}],
    ['more header fields than maxHeaderCount', Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`x-${i}`, '1'])), { maxHeaderCount: 8 }, 431, 'WS_ERR_HANDSHAKE_HEADERS', {}],
    ['repeated subprotocols', { 'sec-websocket-protocol': 'a, a' }, {}, 400, 'WS_ERR_HANDSHAKE_PROTOCOL', {}],
    [
      'a hook that throws',
      { 'x-refuse': '1' },
      {
        allowRequest: (request: UpgradeRequest) => {
          if (request.headers['x-refuse'] !== undefined) throw new Error('bug');
          return true;
        },
      },
      500,
      'WS_ERR_HOOK_FAILED',
      {},
    ],
  ])('%s: its status on the stream, reported to onRefused, and the session goes on', async (_name, headers, options, status, code, extra) => {
    const refused: RefusedHandshake[] = [];
    const server = await startHttp2Server({ handler: echoHandler, onError: () => {}, onRefused: (info) => refused.push(info), ...options });
    const session = await rawSession(server.port);
    const client = new RawStreamClient(session, connectHeaders(server.port, { headers }));
    const answer = await refusal(client);
    expect(answer.headers).toMatchObject({ ':status': status, 'content-type': 'text/plain; charset=utf-8', ...extra });
    expect(answer.body).toBe(`${refused[0]!.message}\n`);
    // RFC 9113 8.1: the answer is complete, the rest of the request is not wanted: NO_ERROR.
    expect(answer.rstCode).toBe(NO_ERROR);
    expect(refused).toMatchObject([{ status, code, request: { method: 'CONNECT', httpVersion: '2.0' } }]);
    // Not a connection error: the next WebSocket on the same session opens.
    const next = await rawStreamConnect(server.port, { session });
    next.sendFrame({ opcode: OP.TEXT, payload: text('still here') });
    expect((await next.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'still here'));
    expect(session.closed).toBe(false);
  });

  it("allowRequest's own refusal (a HandshakeRefusal): its status, type, headers and body on the stream, WS_ERR_HANDSHAKE_REFUSED", async () => {
    const refused: RefusedHandshake[] = [];
    const body = '{"error":"invalid_query","field":"username"}';
    const server = await startHttp2Server({
      handler: echoHandler,
      allowRequest: () => ({ status: 400, body, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' } }),
      onRefused: (info) => refused.push(info),
    });
    const session = await rawSession(server.port);
    const answer = await refusal(new RawStreamClient(session, connectHeaders(server.port)));
    expect(answer.headers).toEqual({
      ':status': 400,
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'content-length': String(Buffer.byteLength(body)),
    });
    expect(answer.body).toBe(body);
    expect(answer.rstCode).toBe(NO_ERROR);
    expect(refused.map((r) => [r.status, r.code])).toEqual([[400, 'WS_ERR_HANDSHAKE_REFUSED']]);
  });

  it("the origin is checked against :authority ('same-origin')", async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const client = await rawStreamConnect(server.port, { headers: { origin: `http://${HOST}:${server.port}` } });
    expect((await client.response)[':status']).toBe(200);
  });

  it('limits per address count HTTP/2 WebSockets too: 429 past connectionsPerAddress, a slot back when one closes', async () => {
    const server = await startHttp2Server({ handler: echoHandler, limits: { connectionsPerAddress: 2 } });
    const session = await rawSession(server.port);
    const first = await rawStreamConnect(server.port, { session });
    await rawStreamConnect(server.port, { session });
    const third = new RawStreamClient(session, connectHeaders(server.port));
    expect((await refusal(third)).headers[':status']).toBe(429);
    first.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await first.closed;
    await until(() => server.server.clients.size === 1, 'the first connection is gone');
    expect((await (await rawStreamConnect(server.port, { session })).response)[':status']).toBe(200);
  });

  it('handshakeRate answers 429 with retry-after', async () => {
    const server = await startHttp2Server({ handler: echoHandler, limits: { handshakeRate: { perSecond: 1, burst: 1 } } });
    const session = await rawSession(server.port);
    await rawStreamConnect(server.port, { session });
    const answer = await refusal(new RawStreamClient(session, connectHeaders(server.port)));
    expect(answer.headers).toMatchObject({ ':status': 429, 'retry-after': '1' });
  });

  it('a handshake still deciding after handshakeTimeout gets 408 on its stream', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const decided = deferred<boolean>();
    const refused: RefusedHandshake[] = [];
    const server = await startHttp2Server({ handshakeTimeout: 1000, allowRequest: () => decided.promise, onRefused: (info) => refused.push(info) });
    const session = await rawSession(server.port);
    const client = new RawStreamClient(session, connectHeaders(server.port));
    await until(() => vi.getTimerCount() === 1, 'the handshake clock');
    await vi.advanceTimersByTimeAsync(1000);
    const answer = await deadline(refusal(client), 5000, 'the 408');
    expect(answer.headers[':status']).toBe(408);
    expect(refused.map((info) => info.code)).toEqual(['WS_ERR_HANDSHAKE_TIMEOUT']);
    decided.resolve(true);
    expect(server.server.clients.size).toBe(0);
  });

  it('a server shutting down answers 503', async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const session = await rawSession(server.port);
    await server.server.close({ timeout: 10 });
    expect((await refusal(new RawStreamClient(session, connectHeaders(server.port)))).headers[':status']).toBe(503);
  });
});

describe('streams that are not WebSockets', () => {
  it('a CONNECT without :protocol, or with another, gets 501 when nobody else listens; another method 405', async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const session = await rawSession(server.port);
    const tunnel = new RawStreamClient(session, { ':method': 'CONNECT', ':authority': 'example.com:443' });
    expect((await refusal(tunnel)).headers[':status']).toBe(501);
    const udp = new RawStreamClient(session, connectHeaders(server.port, { headers: { ':protocol': 'connect-udp' } }));
    expect((await refusal(udp)).headers[':status']).toBe(501);
    const get = new RawStreamClient(session, { ':method': 'GET', ':path': '/', ':scheme': 'http', ':authority': 'x' });
    expect((await refusal(get)).headers).toMatchObject({ ':status': 405, allow: 'CONNECT' });
  });

  it("are left to the application's own 'stream' listeners, which see the WebSocket ones too", async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const seen: string[] = [];
    server.http2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      seen.push(`${headers[':method']} ${headers[':protocol'] ?? ''}`.trim());
      if (headers[':protocol'] === 'websocket') return; // ours
      stream.respond({ ':status': 200 });
      stream.end('the app answered');
    });
    const session = await rawSession(server.port);
    const tunnel = new RawStreamClient(session, { ':method': 'CONNECT', ':authority': 'example.com:443' });
    expect((await tunnel.response)[':status']).toBe(200);
    const ws = await rawStreamConnect(server.port, { session });
    ws.sendFrame({ opcode: OP.TEXT, payload: text('mine') });
    expect((await ws.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'mine'));
    expect(seen).toEqual(['CONNECT', 'CONNECT websocket']);
  });

  it("with a request handler (Node's compatibility layer): pages are the app's, WebSockets ours, other CONNECTs 501 or the app's 'connect'", async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    server.http2.on('request', (_request, response) => response.end('a page'));
    const session = await rawSession(server.port);
    const page = new RawStreamClient(session, { ':method': 'GET', ':path': '/', ':scheme': 'http', ':authority': 'x' });
    expect((await page.response)[':status']).toBe(200);
    const ws = await rawStreamConnect(server.port, { session });
    ws.sendFrame({ opcode: OP.TEXT, payload: text('over compat') });
    expect((await ws.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'over compat'));
    const tunnel = new RawStreamClient(session, { ':method': 'CONNECT', ':authority': 'example.com:443' });
    expect((await refusal(tunnel)).headers[':status']).toBe(501);
    server.http2.on('connect', (_request, response) => (response as unknown as { end(body: string): void }).end('the app tunnels'));
    const tunnel2 = new RawStreamClient(session, { ':method': 'CONNECT', ':authority': 'example.com:443' });
    expect((await tunnel2.response)[':status']).toBe(200);
  });

  it('handleStream() serves a server that routes streams itself', async () => {
    const server = await startHttp2Server({ handler: echoHandler }, { attach: false });
    server.http2.updateSettings({ enableConnectProtocol: true });
    server.http2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      if (headers[':path'] === '/ws') void server.server.handleStream(stream, headers);
      else stream.close(CANCEL);
    });
    const client = await rawStreamConnect(server.port, { path: '/ws' });
    client.sendFrame({ opcode: OP.TEXT, payload: text('routed') });
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'routed'));
  });
});

describe('closing (RFC 8441 5): END_STREAM, or RST_STREAM with CANCEL', () => {
  it('the closing handshake, then END_STREAM both ways: the stream closes with no reset', async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const client = await rawStreamConnect(server.port);
    const ws = await nextH2Connection(server);
    client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000, 'bye') });
    expect((await client.nextFrame()).raw).toEqual(Buffer.from([0x88, 0x02, 0x03, 0xe8]));
    await client.ended; // the server ends its side first (RFC 6455 7.1.1)
    await client.closed;
    expect(client.rstCode).toBe(NO_ERROR);
    expect(await ws.closed).toEqual({ code: 1000, reason: 'bye', wasClean: true });
  });

  it('terminate() resets the stream with CANCEL; the session and its other WebSockets go on', async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const session = await rawSession(server.port);
    const doomed = await rawStreamConnect(server.port, { session });
    const ws = await nextH2Connection(server);
    const other = await rawStreamConnect(server.port, { session });
    ws.terminate();
    await doomed.closed;
    expect(doomed.rstCode).toBe(CANCEL);
    expect(await ws.closed).toMatchObject({ code: 1006, wasClean: false });
    other.sendFrame({ opcode: OP.TEXT, payload: text('unaffected') });
    expect((await other.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'unaffected'));
  });

  it('a peer that never answers our close is reset with CANCEL after closeTimeout (1006)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = await startHttp2Server({ closeTimeout: 200 });
    const client = await rawStreamConnect(server.port);
    const ws = await nextH2Connection(server);
    const closing = ws.close(4000, 'bye');
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.CLOSE, closePayload(4000, 'bye')));
    await vi.advanceTimersByTimeAsync(200);
    expect(await deadline(closing, 5000, 'the close timeout')).toMatchObject({ code: 1006, errorCode: 'WS_ERR_CLOSE_TIMEOUT' });
    await client.closed;
    expect(client.rstCode).toBe(CANCEL);
  });

  it('a stream the peer resets (CANCEL) is a 1006 for that WebSocket only', async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const session = await rawSession(server.port);
    const reset = await rawStreamConnect(server.port, { session });
    const resetWs = await nextH2Connection(server);
    const other = await rawStreamConnect(server.port, { session });
    const otherWs = await nextH2Connection(server);
    reset.socket.close(CANCEL);
    expect(await resetWs.closed).toMatchObject({ code: 1006, wasClean: false });
    expect(otherWs.readyState).toBe('open');
    other.sendFrame({ opcode: OP.TEXT, payload: text('go on') });
    expect((await other.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'go on'));
    expect(server.server.clients.size).toBe(1);
  });

  it('the session going away closes each of its WebSockets with 1006', async () => {
    const server = await startHttp2Server({ handler: echoHandler });
    const session = await rawSession(server.port);
    await rawStreamConnect(server.port, { session });
    await rawStreamConnect(server.port, { session });
    const first = await nextH2Connection(server);
    const second = await nextH2Connection(server);
    session.destroy();
    expect(await first.closed).toMatchObject({ code: 1006 });
    expect(await second.closed).toMatchObject({ code: 1006 });
  });
});

describe('flow control: a stuck WebSocket is bounded, and never stalls the others on its session', () => {
  it('a peer that stops reading: sends overflow at maxBufferedAmount (reject), the other WebSockets and new ones go on', async () => {
    const connections: Ws[] = [];
    const server = await startHttp2Server({
      maxBufferedAmount: 4 * 1024 * 1024,
      sendOverflow: 'reject',
      handler: async (ws) => {
        connections.push(ws);
        for await (const message of ws) await ws.send(message.data);
      },
    });
    const session = await rawSession(server.port);
    const stuck = await rawStreamConnect(server.port, { session });
    stuck.socket.pause(); // reads nothing: its stream window fills, then our buffer
    const other = await rawStreamConnect(server.port, { session });
    await until(() => connections.length === 2, 'both connections');
    const [stuckWs] = connections;
    const chunk = randomBytes(256 * 1024);
    let overflow: unknown;
    // Sends nobody awaits, a turn apart (the stream takes what its window allows), until one overflows.
    for (let i = 0; i < 64 && overflow === undefined; i++) {
      stuckWs!.send(chunk).catch((error: unknown) => {
        overflow ??= error;
      });
      await nextTurn();
    }
    expect(overflow).toMatchObject({ code: 'WS_ERR_BUFFER_FULL' });
    expect(stuckWs!.bufferedAmount).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(stuckWs!.bufferedAmount).toBeLessThan(4 * 1024 * 1024 + chunk.length + 64 * 1024);
    // The other WebSocket on the same session echoes, 1 MiB and back, and a new one opens:
    // the stuck stream holds no connection window and at most 64 KiB of the session's memory.
    const big = randomBytes(1024 * 1024);
    other.sendFrame({ opcode: OP.BINARY, payload: big });
    expect((await other.nextFrame()).payload.equals(big)).toBe(true);
    const late = await rawStreamConnect(server.port, { session });
    late.sendFrame({ opcode: OP.TEXT, payload: text('opened after') });
    expect((await late.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'opened after'));
    expect(stuckWs!.readyState).toBe('open');
  });

  it("sendOverflow 'close': the stuck WebSocket is closed with 1008, then reset after closeTimeout; the session goes on", async () => {
    const connections: Ws[] = [];
    const server = await startHttp2Server({
      maxBufferedAmount: 1024 * 1024,
      closeTimeout: 100,
      handler: async (ws) => {
        connections.push(ws);
        for await (const message of ws) await ws.send(message.data);
      },
    });
    const session = await rawSession(server.port);
    const stuck = await rawStreamConnect(server.port, { session });
    stuck.socket.pause();
    const other = await rawStreamConnect(server.port, { session });
    await until(() => connections.length === 2, 'both connections');
    const stuckWs = connections[0]!;
    const chunk = randomBytes(128 * 1024);
    while (stuckWs.readyState === 'open') void stuckWs.send(chunk).catch(() => {});
    expect(await stuckWs.closed).toMatchObject({ code: 1008, reason: 'too slow', errorCode: 'WS_ERR_BUFFER_FULL' });
    await stuck.closed;
    expect(stuck.rstCode).toBe(CANCEL);
    other.sendFrame({ opcode: OP.TEXT, payload: text('fine') });
    expect((await other.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'fine'));
  });

  it('an application that stops reading one WebSocket pauses its stream only: the peer stops after one stream window', async () => {
    const server = await startHttp2Server({
      receiveHighWaterMark: 64 * 1024,
      handler: async (ws) => {
        if ((await ws.recv()).data === 'stop') return; // reads no more
        for await (const message of ws) await ws.send(message.data);
      },
    });
    const session = await rawSession(server.port);
    const stuck = await rawStreamConnect(server.port, { session });
    stuck.sendFrame({ opcode: OP.TEXT, payload: text('stop') });
    const other = await rawStreamConnect(server.port, { session });
    other.sendFrame({ opcode: OP.TEXT, payload: text('go') });
    // 8 MiB of valid messages offered to the stuck stream (64 KiB masked binary frames: bytes the
    // server would fail with 1002 would be read and discarded, not held): HTTP/2 flow control holds
    // most of them at the client.
    const frame = clientFrame({ opcode: OP.BINARY, payload: Buffer.alloc(64 * 1024, 7) });
    const flood = Buffer.concat(Array.from({ length: 128 }, () => frame));
    stuck.socket.write(flood);
    const big = randomBytes(2 * 1024 * 1024);
    other.sendFrame({ opcode: OP.BINARY, payload: big });
    expect((await other.nextFrame()).payload.equals(big)).toBe(true);
    // What the stuck stream let through: our unread messages plus one stream window and Node's buffer.
    expect(stuck.socket.writableLength).toBeGreaterThan(flood.length - 1024 * 1024);
  });
});

describe('the request type', () => {
  it('a hook written for IncomingMessage still type-checks (and runs over HTTP/1.1)', async () => {
    // The type check is `npm run typecheck`; here the same hooks serve a request.
    const { hooksForIncomingMessage } = await import('./upgrade-request-types.js');
    const server = await startHttp2Server(hooksForIncomingMessage);
    const client = await rawStreamConnect(server.port);
    expect((await client.response)[':status']).toBe(200);
  });
});
