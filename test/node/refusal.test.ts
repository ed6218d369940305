/**
 * allowRequest's answers (issue 15): true accepts, false is the plain 403, a HandshakeRefusal
 * `{ status, body?, headers? }` is written as given (the chat's 400 with a JSON body naming the
 * field, its 401 for a bad token) and reported to onRefused as WS_ERR_HANDSHAKE_REFUSED; anything
 * else is the hook's bug (WS_ERR_INVALID_ARGUMENT to onError, 500 to the client).
 */

import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { HandshakeRefusal, RefusedHandshake } from '../../src/index.js';
import { HOST, cleanup, defer, echoHandler, startServer, upgradeRequest, wsConnect } from './helpers.js';

afterEach(cleanup);

/** Every byte the server writes to a raw request, up to its FIN. */
async function exchange(port: number, request: string): Promise<string> {
  const socket = connect(port, HOST);
  defer(() => socket.destroy());
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise<void>((resolve, reject) => {
    socket.once('end', resolve);
    socket.once('error', reject);
    socket.write(request, 'latin1');
  });
  return Buffer.concat(chunks).toString('utf8');
}

describe('allowRequest returning a HandshakeRefusal', () => {
  it('writes the status, the headers and the body exactly, and reports WS_ERR_HANDSHAKE_REFUSED', async () => {
    const refused: RefusedHandshake[] = [];
    const body = '{"error":"invalid_query","field":"username","problem":"must be 1-32 letters, digits, _ . -: é"}';
    const server = await startServer({
      handler: echoHandler,
      allowRequest: () => ({ status: 400, body, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' } }),
      onRefused: (r) => refused.push(r),
    });
    const response = await exchange(server.port, upgradeRequest());
    expect(response).toBe(
      'HTTP/1.1 400 Bad Request\r\n' +
        'Connection: close\r\n' +
        'Content-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Cache-Control: no-store\r\n' +
        '\r\n' +
        body,
    );
    expect(refused.map((r) => [r.status, r.code, r.message])).toEqual([[400, 'WS_ERR_HANDSHAKE_REFUSED', body]]);
    expect(server.server.clients.size).toBe(0);
    expect(server.errors).toEqual([]);
  });

  it('a promise of one, without a body: the status and a plain-text default body', async () => {
    const server = await startServer({
      handler: echoHandler,
      allowRequest: async () => ({ status: 401, headers: { 'WWW-Authenticate': 'Bearer' } }),
    });
    const response = await exchange(server.port, upgradeRequest());
    expect(response).toBe(
      'HTTP/1.1 401 Unauthorized\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 24\r\n' +
        'WWW-Authenticate: Bearer\r\n' +
        '\r\n' +
        'the request was refused\n',
    );
  });

  it('the ws client sees the status', async () => {
    const server = await startServer({ handler: echoHandler, allowRequest: () => ({ status: 401 }) });
    await expect(wsConnect(server.url)).rejects.toThrow(/401/);
  });

  it.each<[string, unknown]>([
    ['a 2xx status', { status: 200 }],
    ['a 3xx status', { status: 302, headers: { Location: '/' } }],
    ['a status that is not an integer', { status: 400.5 }],
    ['no status', { body: 'x' }],
    ['a body that is not a string', { status: 400, body: { a: 1 } }],
    ['a header value that is not a string', { status: 400, headers: { 'X-A': 1 } }],
    ['a header with CR LF', { status: 400, headers: { 'X-A': 'a\r\nSet-Cookie: x=1' } }],
    ['Content-Length set by the hook', { status: 400, headers: { 'Content-Length': '1' } }],
    ['undefined', undefined],
    ['a truthy string', 'yes'],
  ])('%s is WS_ERR_INVALID_ARGUMENT: reported to onError, answered 500', async (_name, decision) => {
    const refused: RefusedHandshake[] = [];
    const server = await startServer({
      handler: echoHandler,
      allowRequest: () => decision as HandshakeRefusal,
      onRefused: (r) => refused.push(r),
    });
    const response = await exchange(server.port, upgradeRequest());
    expect(response.startsWith('HTTP/1.1 500 Internal Server Error\r\n')).toBe(true);
    expect(server.errors).toHaveLength(1);
    expect(server.errors[0]).toMatchObject({ code: 'WS_ERR_INVALID_ARGUMENT' });
    expect(refused.map((r) => [r.status, r.code])).toEqual([[500, 'WS_ERR_HOOK_FAILED']]);
  });

  it('false is still the plain 403 WS_ERR_HANDSHAKE_FORBIDDEN', async () => {
    const refused: RefusedHandshake[] = [];
    const server = await startServer({ handler: echoHandler, allowRequest: () => false, onRefused: (r) => refused.push(r) });
    const response = await exchange(server.port, upgradeRequest());
    expect(response.startsWith('HTTP/1.1 403 Forbidden\r\n')).toBe(true);
    expect(refused.map((r) => [r.status, r.code])).toEqual([[403, 'WS_ERR_HANDSHAKE_FORBIDDEN']]);
  });
});
