/**
 * testkit's clientHandshake on real loopback sockets: a 101 with a frame in the same write, a
 * refusal, and a server that hangs up.
 */

import { connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OP, acceptResponse, clientHandshake, newKey, readRequest, unmaskedFrame } from '../../testkit/index.js';
import { HOST, cleanup, defer } from '../node/helpers.js';

afterEach(cleanup);

/** A TCP server that answers each request head with `answer(key)` (null: hang up). */
async function serverAnswering(answer: (key: string) => Buffer | null): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const read = readRequest(received);
      if (read === null) return;
      const bytes = answer(read.request.headers['sec-websocket-key'] ?? '');
      if (bytes === null) socket.destroy();
      else socket.write(bytes);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

async function dial(port: number): Promise<Socket> {
  const socket = connect(port, HOST);
  defer(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

describe('clientHandshake', () => {
  it('resolves with the 101, the frame that came with it in rest, and leaves the socket paused', async () => {
    const port = await serverAnswering((key) =>
      Buffer.concat([Buffer.from(acceptResponse(key, { 'Sec-WebSocket-Extensions': 'x' })), unmaskedFrame(OP.TEXT, 'hi')]),
    );
    const socket = await dial(port);
    const response = await clientHandshake(socket, { host: HOST, key: newKey() });
    expect(response.extensions).toBe('x');
    expect(response.rest).toEqual(unmaskedFrame(OP.TEXT, 'hi'));
    expect(socket.isPaused()).toBe(true);
  });

  it('rejects a wrong accept and a refusal', async () => {
    const wrong = await serverAnswering(() => Buffer.from(acceptResponse('another key')));
    await expect(clientHandshake(await dial(wrong), { host: HOST, key: newKey() })).rejects.toThrow('wrong Sec-WebSocket-Accept');
    const refused = await serverAnswering(() => Buffer.from('HTTP/1.1 403 Forbidden\r\n\r\n'));
    await expect(clientHandshake(await dial(refused), { host: HOST, key: newKey() })).rejects.toThrow('handshake refused: HTTP/1.1 403 Forbidden');
  });

  it('rejects when the server hangs up before answering', async () => {
    const port = await serverAnswering(() => null);
    await expect(clientHandshake(await dial(port), { host: HOST, key: newKey() })).rejects.toThrow('the connection closed during the handshake');
  });
});
