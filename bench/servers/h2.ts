/**
 * rfc6455's echo server over HTTP/2 (RFC 8441) for the benchmarks: the built package's
 * WebSocketServer attached to a cleartext `node:http2` server (h2c), the echo of src/cli.ts.
 * Every WebSocket of the generator (bench/load-h2.ts) is a stream of one HTTP/2 session.
 */

import { createServer } from 'node:http2';
import type { Ws } from '../../dist/index.js';
import { LIBRARY_BUILD, library } from '../lib/library.js';
import { HOST, serve } from './common.js';

const { WebSocketServer } = library;

// Above this many unsent bytes the echo waits for the session to take them (as src/cli.ts does).
const ECHO_HIGH_WATER = 1024 * 1024;

async function echo(ws: Ws): Promise<void> {
  for await (const message of ws) {
    const sent = ws.send(message.data);
    if (ws.bufferedAmount > ECHO_HIGH_WATER) await sent;
  }
}

serve('ours over HTTP/2', async () => {
  const wss = new WebSocketServer({ handler: echo });
  const server = createServer();
  wss.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    connections: () => wss.clients.size,
    info: { server: `rfc6455 (${LIBRARY_BUILD}) on node:http2 (h2c)`, perMessageDeflate: false },
  };
});
