/**
 * The `ws` package's echo server for the benchmarks, with bufferutil (ws loads it by itself when
 * it is installed; this checks that it did, and refuses to run otherwise). `--deflate`:
 * `perMessageDeflate: true`, ws's defaults (threshold 1024, zlib's default level).
 */

import { WebSocketServer } from 'ws';
import { checkBufferutil } from './bufferutil-check.js';
import { HOST, deflateRequested, serve } from './common.js';

serve('ws', async () => {
  const versions = checkBufferutil();
  const server = new WebSocketServer({
    host: HOST,
    port: 0,
    perMessageDeflate: deflateRequested,
    maxPayload: 64 * 1024 * 1024,
  });
  server.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    ws.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as { port: number };
  return {
    port,
    connections: () => server.clients.size,
    info: {
      server: `ws ${versions.ws} + bufferutil ${versions.bufferutil}`,
      bufferutil: 'native',
      perMessageDeflate: deflateRequested,
    },
  };
});
