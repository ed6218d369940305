/**
 * A TCP proxy in front of a real Redis, to cut one node off while the others still reach it (a
 * network partition). It only moves bytes; `cut()` resets every connection through it and stops
 * listening (new connections are refused), `restore()` listens again on the same port.
 */

import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  const listen = async (port: number): Promise<number> => {
    const made = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
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
  const stopListening = async (): Promise<void> => {
    const current = server;
    server = null;
    for (const socket of sockets) socket.resetAndDestroy();
    if (current !== null) await new Promise((resolve) => current.close(resolve));
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cut: stopListening,
    async restore() {
      if (server === null) await listen(port);
    },
    close: stopListening,
  };
}
