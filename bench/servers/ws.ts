/**
 * The `ws` package's echo server for the benchmarks, with bufferutil (ws loads it by itself when
 * it is installed; this checks that it did, and refuses to run otherwise). `--deflate`:
 * `perMessageDeflate: true`, ws's defaults (threshold 1024, zlib's default level).
 */

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { WebSocketServer } from 'ws';
import { HOST, deflateRequested, serve } from './common.js';

const require = createRequire(import.meta.url);

/** Whether ws's mask/unmask are bufferutil's (ws/lib/buffer-util.js replaces them when it loads it). */
function wsUsesBufferutil(): boolean {
  const bufferUtil = require(join(dirname(require.resolve('ws')), 'lib', 'buffer-util.js')) as {
    mask: (...args: unknown[]) => void;
  };
  return /bufferUtil\.mask/.test(bufferUtil.mask.toString());
}

serve('ws', async () => {
  // bufferutil's index.js loads the prebuilt binary through node-gyp-build, falling back to
  // fallback.js (plain JS) when it cannot: a native function prints as "[native code]".
  const bufferutil = require('bufferutil') as { mask: (...args: unknown[]) => void };
  const native = /\[native code\]/.test(bufferutil.mask.toString());
  if (!native || !wsUsesBufferutil()) {
    throw new Error(`ws is not using bufferutil's native binary (native: ${native})`);
  }
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
  const versions = {
    ws: (require('ws/package.json') as { version: string }).version,
    bufferutil: (require('bufferutil/package.json') as { version: string }).version,
  };
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
