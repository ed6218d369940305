/**
 * rfc6455's echo server for the benchmarks: the library as built into dist/ (`npm run build`),
 * with the same echo as src/cli.ts. `--deflate`: permessage-deflate with every default
 * (`perMessageDeflate: true`, threshold 1024).
 */

// The built package (dist/), as users get it: `npm run bench` builds it first. Running src/ through
// tsx would measure tsx's runtime helpers too.
import { WebSocketServer, type Ws } from '../../dist/index.js';
import { HOST, deflateRequested, serve } from './common.js';

// Above this many unsent bytes the echo waits for the kernel to take them (as src/cli.ts does).
const ECHO_HIGH_WATER = 1024 * 1024;

async function echo(ws: Ws): Promise<void> {
  for await (const message of ws) {
    const sent = ws.send(message.data);
    if (ws.bufferedAmount > ECHO_HIGH_WATER) await sent;
  }
}

serve('ours', async () => {
  const server = new WebSocketServer({ handler: echo, perMessageDeflate: deflateRequested });
  const { port } = await server.listen(0, HOST);
  return {
    port,
    connections: () => server.clients.size,
    info: { server: 'rfc6455 (dist/)', perMessageDeflate: deflateRequested },
  };
});
