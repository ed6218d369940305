/**
 * rfc6455's echo server for the benchmarks: the library as built into dist/ (`npm run build`),
 * with the same echo as src/cli.ts. `--deflate`: permessage-deflate with every default
 * (`perMessageDeflate: true`, threshold 1024). `--limits`: every abuse limit on (issue 15: "with
 * them on, the echo benchmark stays within 5% of them off"), set high enough that the load never
 * reaches them: what is measured is their bookkeeping, a bucket checked per message. `--workers N`
 * (echo-64b-workers): a node:cluster primary that serves nothing itself and N workers sharing its
 * port, each this echo server; its CPU samples count every process (`tree`).
 */

import cluster from 'node:cluster';
// The built package (dist/), as users get it: `npm run bench` builds it first. Running src/ through
// tsx would measure tsx's runtime helpers too.
import type { LimitOptions, Ws } from '../../dist/index.js';
import { LIBRARY_BUILD, library } from '../lib/library.js';
import { answerCounts, forkWorkers } from './cluster.js';
import { HOST, deflateRequested, freePort, serve } from './common.js';

const { WebSocketServer } = library;

// Above this many unsent bytes the echo waits for the kernel to take them (as src/cli.ts does).
const ECHO_HIGH_WATER = 1024 * 1024;

async function echo(ws: Ws): Promise<void> {
  for await (const message of ws) {
    const sent = ws.send(message.data);
    if (ws.bufferedAmount > ECHO_HIGH_WATER) await sent;
  }
}

const LIMITS: LimitOptions | undefined = process.argv.includes('--limits')
  ? {
      messageRate: { perSecond: 1_000_000, burst: 1_000_000 },
      byteRate: { perSecond: 1 << 30, burst: 1 << 30 },
      handshakeRate: { perSecond: 100_000, burst: 100_000 },
      connectionsPerAddress: 100_000,
    }
  : undefined;

const at = process.argv.indexOf('--workers');
const workers = at < 0 ? 0 : Number(process.argv[at + 1]);

if (workers > 0 && cluster.isWorker) {
  // A worker: the echo on the primary's port; it answers the primary's count requests.
  const server = new WebSocketServer({ handler: echo, perMessageDeflate: deflateRequested, limits: LIMITS });
  await server.listen(Number(process.env['BENCH_PORT']), HOST);
  answerCounts(() => server.clients.size);
} else if (workers > 0) {
  serve('ours', async () => {
    const port = await freePort();
    const forked = await forkWorkers(workers, { BENCH_PORT: String(port) });
    return {
      port,
      connections: () => forked.connections(),
      info: { server: `rfc6455 (${LIBRARY_BUILD}), ${workers} node:cluster workers on one port`, perMessageDeflate: deflateRequested },
      sample: () => {
        const own = process.cpuUsage();
        return Promise.resolve({ tree: own.user + own.system + forked.cpuUs() });
      },
    };
  });
} else {
  serve('ours', async () => {
    const server = new WebSocketServer({ handler: echo, perMessageDeflate: deflateRequested, limits: LIMITS });
    const { port } = await server.listen(0, HOST);
    return {
      port,
      connections: () => server.clients.size,
      info: { server: `rfc6455 (${LIBRARY_BUILD})`, perMessageDeflate: deflateRequested, limits: LIMITS !== undefined },
    };
  });
}
