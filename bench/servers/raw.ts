/**
 * The ceiling: a raw TCP echo (node:net) that does no WebSocket work at all. It performs no
 * handshake (the generator skips it) and parses nothing: it returns the client's masked frames
 * byte for byte (the generator's parser accepts masked frames).
 *
 * Writes are batched per event-loop turn: the chunks read from a socket are kept and written back
 * together at setImmediate, corked, so one writev carries everything that arrived in that turn.
 * (rfc6455 flushes its writes once per turn the same way. Writing each chunk back as soon as it
 * was read was measured too: as fast for small messages, and 20-50% slower for 1 MiB ones, where
 * it made this "ceiling" slower than ws.)
 *
 * `--idle`: the floor of the idle case instead, a bare node:net server that accepts the sockets
 * and holds them: each one read (its bytes dropped), as a WebSocket server reads its idle
 * connections, by listeners shared by every socket (no closure, no buffer of its own). What a
 * WebSocket library adds to an idle connection is what it holds above this.
 */

import { createServer, type Socket } from 'node:net';
import { HOST, serve } from './common.js';

const idle = process.argv.includes('--idle');

const sockets = new Set<Socket>();

function drop(): void {}

function forget(this: Socket): void {
  sockets.delete(this);
}

/** `--idle`: the socket is held and read, and nothing else. */
function hold(socket: Socket): void {
  sockets.add(socket);
  socket.on('data', drop);
  socket.on('error', drop);
  socket.on('close', forget);
}

/** The echo: what a read brought goes back at the end of the event-loop turn, corked. */
function echo(socket: Socket): void {
  sockets.add(socket);
  let pending: Buffer[] = [];
  const flush = (): void => {
    const chunks = pending;
    pending = [];
    if (socket.destroyed) return;
    socket.cork();
    for (const chunk of chunks) socket.write(chunk);
    socket.uncork();
  };
  socket.on('data', (chunk: Buffer) => {
    if (pending.length === 0) setImmediate(flush);
    pending.push(chunk);
  });
  socket.on('error', () => {});
  socket.on('close', () => sockets.delete(socket));
}

serve('raw', async () => {
  const server = createServer({ noDelay: true }, idle ? hold : echo);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const { port } = server.address() as { port: number };
  return {
    port,
    connections: () => sockets.size,
    info: {
      server: idle
        ? 'bare node:net server holding idle sockets (read, bytes dropped)'
        : 'raw TCP echo (node:net, writes batched per event-loop turn)',
    },
  };
});
