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
 *
 * `--handshake`: the ceiling of the handshake case (issue 18: "the raw ceiling from the same run"):
 * Node's cost of a connection that does what the case asks and nothing more. The request head is
 * not parsed, only searched for its Sec-WebSocket-Key (the generator's own casing), and answered
 * with a canned 101; the next bytes (the generator's close frame) are answered with a close frame
 * (1000) and the end of TCP. The accept values are kept per key (the generator reuses 256 keys),
 * so not even the SHA-1 is paid per connection.
 */

import { hash } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { HOST, serve } from './common.js';

const idle = process.argv.includes('--idle');
const handshake = process.argv.includes('--handshake');

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

const KEY_HEADER = 'Sec-WebSocket-Key: ';
const CLOSE_1000 = Buffer.from([0x88, 0x02, 0x03, 0xe8]);
const accepts = new Map<string, Buffer>();

/** The 101 for a request head holding `key` (RFC 6455 4.2.2), made once per key. */
function switching(key: string): Buffer {
  let response = accepts.get(key);
  if (response === undefined) {
    const accept = hash('sha1', `${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`, 'base64');
    response = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`, 'latin1');
    accepts.set(key, response);
  }
  return response;
}

/** `--handshake`: a canned 101 for the head, a close frame and FIN for what comes after it. */
function shake(socket: Socket): void {
  sockets.add(socket);
  let head = '';
  let upgraded = false;
  socket.on('data', (chunk: Buffer) => {
    if (upgraded) {
      socket.end(CLOSE_1000);
      return;
    }
    head += chunk.toString('latin1');
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    const at = head.indexOf(KEY_HEADER);
    if (at < 0 || at > end) {
      socket.destroy();
      return;
    }
    const key = head.slice(at + KEY_HEADER.length, head.indexOf('\r\n', at));
    upgraded = true;
    socket.write(switching(key));
    // A close frame that came with the head (it never does: the generator waits for the 101).
    if (head.length > end + 4) socket.end(CLOSE_1000);
  });
  socket.on('error', drop);
  socket.on('close', forget);
}

serve('raw', async () => {
  const server = createServer({ noDelay: true }, idle ? hold : handshake ? shake : echo);
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
        : handshake
          ? 'node:net answering each connection with a canned 101 and a close frame (no parsing)'
          : 'raw TCP echo (node:net, writes batched per event-loop turn)',
    },
  };
});
