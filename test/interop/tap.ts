/**
 * A TCP tap: a loopback proxy in front of a server that records every byte of every connection in
 * both directions, so that a test sees what the server under test really received and sent (the
 * server's view on the wire) while the peer talks to it unchanged.
 */

import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TappedConnection {
  /** Bytes from the client to the server, in order. */
  readonly toServer: Buffer[];
  /** Bytes from the server to the client, in order. */
  readonly toClient: Buffer[];
  /** Resolves once both sides have closed. */
  readonly closed: Promise<void>;
}

export interface Tap {
  readonly port: number;
  readonly connections: readonly TappedConnection[];
  close(): Promise<void>;
}

export async function startTap(targetPort: number, host = '127.0.0.1'): Promise<Tap> {
  const connections: TappedConnection[] = [];
  const sockets = new Set<Socket>();
  // Half-open on both sides: a FIN is passed on (pipe ends the other side), never turned into a
  // close of our own while the other direction may still carry bytes.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = createConnection({ port: targetPort, host, allowHalfOpen: true });
    const toServer: Buffer[] = [];
    const toClient: Buffer[] = [];
    const closedSide = (socket: Socket): Promise<void> => new Promise((resolve) => socket.once('close', () => resolve()));
    const closed = Promise.all([closedSide(client), closedSide(upstream)]).then(() => undefined);
    connections.push({ toServer, toClient, closed });
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      // A reset on one side resets the other; the bytes recorded so far stay.
      socket.once('close', (hadError) => {
        sockets.delete(socket);
        if (hadError) other.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => toServer.push(chunk));
    upstream.on('data', (chunk: Buffer) => toClient.push(chunk));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
