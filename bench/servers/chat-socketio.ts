/**
 * The chat cases' peer: the same chat on Socket.IO 4.8 (`socket.io`, what users would pick
 * instead), as its documentation writes one: the default in-memory adapter and its rooms, the
 * websocket transport only (no long-polling, no upgrade), `io.to(room).emit(...)`.
 *
 * Protocol, in Socket.IO's terms: `join` (a room name, acknowledged) puts the socket in the room;
 * each `chat` ({ type: 'chat', content, room?, clientId? }) goes to every member of the room, the
 * sender included (its acknowledgment), as the chat's envelope (seed 004's):
 * `{ type, content, from, timestamp, id, data, room }`, `id` being `<epoch>-<offset>` with an offset
 * that grows by one per message of the room, as the chat's does. The username comes from the
 * handshake's query (`?username=...`), as the chat's does. No history, no presence messages, no
 * per-message logging.
 *
 * ws (under engine.io) loads bufferutil by itself when it is installed, as it is here: checked, as
 * for the ws servers, so that Socket.IO runs at its best.
 */

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, type Socket } from 'socket.io';
import { checkBufferutil } from './bufferutil-check.js';
import { HOST, serve } from './common.js';

interface ClientChat {
  readonly content?: unknown;
  readonly room?: unknown;
  readonly clientId?: unknown;
}

export interface SocketIoChat {
  readonly port: number;
  readonly io: Server;
  close(): Promise<void>;
}

/** Starts the Socket.IO chat on `host`, port 0; `engine` passes Engine.IO options (the tests' short heartbeat). */
export async function startSocketIoChat(
  host: string,
  engine: { readonly pingInterval?: number; readonly pingTimeout?: number } = {},
  /** For the chat-redis cases: @socket.io/redis-adapter's `createAdapter(...)`, and the port the cluster shares. */
  scale: { readonly adapter?: NonNullable<ConstructorParameters<typeof Server>[1]>['adapter']; readonly port?: number } = {},
): Promise<SocketIoChat> {
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'], serveClient: false, ...engine, ...(scale.adapter === undefined ? {} : { adapter: scale.adapter }) });
  // Per room: the epoch (a short token) and the offset of its last message.
  const epoch = randomBytes(4).toString('hex');
  const offsets = new Map<string, number>();

  io.on('connection', (socket: Socket) => {
    const username = String(socket.handshake.query['username'] ?? 'anonymous');
    let firstRoom: string | null = null;
    socket.on('join', (room: unknown, ack?: unknown) => {
      if (typeof room !== 'string' || room === '') return;
      void socket.join(room);
      firstRoom ??= room;
      if (typeof ack === 'function') ack();
    });
    socket.on('chat', (message: ClientChat) => {
      const room = typeof message?.room === 'string' ? message.room : firstRoom;
      if (room === null || !socket.rooms.has(room) || typeof message.content !== 'string') return;
      const offset = (offsets.get(room) ?? 0) + 1;
      offsets.set(room, offset);
      io.to(room).emit('chat', {
        type: 'chat',
        content: message.content,
        from: username,
        timestamp: Date.now(),
        id: `${epoch}-${offset}`,
        data: typeof message.clientId === 'string' ? { clientId: message.clientId } : null,
        room,
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(scale.port ?? 0, host, resolve);
  });
  const { port } = http.address() as { port: number };
  return {
    port,
    io,
    close: () => new Promise<void>((resolve) => void io.close(() => resolve())),
  };
}

/** An installed package's version, from the package.json above its entry point (engine.io exports no ./package.json). */
export function version(name: string): string {
  let dir = dirname(createRequire(import.meta.url).resolve(name));
  while (!existsSync(join(dir, 'package.json')) || !dir.endsWith(name)) {
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

// Run by the harness (not when a test imports startSocketIoChat).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  serve('socketio', async () => {
    const versions = checkBufferutil();
    const chat = await startSocketIoChat(HOST);
    return {
      port: chat.port,
      connections: () => chat.io.engine.clientsCount,
      info: {
        server: `socket.io ${version('socket.io')} (engine.io ${version('engine.io')}, ws ${versions.ws} + bufferutil ${versions.bufferutil}), websocket transport only, default in-memory adapter, io.to(room).emit`,
        bufferutil: 'native',
      },
    };
  });
}
