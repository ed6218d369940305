/**
 * A TCP relay on 127.0.0.1, a hop a test or benchmark controls: a load balancer that switches
 * its target (bench/drain), a network partition (redis/test/tcp-proxy.ts). It only moves bytes;
 * an error on either side ends both.
 */

import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface Relay {
  readonly port: number;
  /** Resets every connection through it and stops listening: new connections are refused. */
  stop(): Promise<void>;
  /** Listens again on the same port (after stop()). */
  restore(): Promise<void>;
}

/** Listens on a free port; each connection goes to the port `target()` names when it arrives. */
export async function startRelay(target: () => number): Promise<Relay> {
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  const listen = async (port: number): Promise<number> => {
    const made = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: target() });
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      made.once('error', reject);
      made.listen(port, '127.0.0.1', () => resolve());
    });
    server = made;
    return (made.address() as { port: number }).port;
  };
  const port = await listen(0);
  return {
    port,
    async stop() {
      const current = server;
      server = null;
      for (const socket of sockets) socket.resetAndDestroy();
      if (current !== null) await new Promise((resolve) => current.close(resolve));
    },
    async restore() {
      if (server === null) await listen(port);
    },
  };
}
