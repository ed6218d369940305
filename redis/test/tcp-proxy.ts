/**
 * A TCP proxy in front of a real Redis, to cut one node off while the others still reach it (a
 * network partition): testkit's relay. `cut()` resets every connection through it and stops
 * listening (new connections are refused), `restore()` listens again on the same port.
 */

import { startRelay } from '../../testkit/relay.js';

export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<TcpProxy> {
  const relay = await startRelay(() => targetPort);
  return {
    port: relay.port,
    url: `redis://127.0.0.1:${relay.port}`,
    cut: () => relay.stop(),
    restore: () => relay.restore(),
    close: () => relay.stop(),
  };
}
