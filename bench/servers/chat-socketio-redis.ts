/**
 * The chat-redis cases' Socket.IO peer: the chat of chat-socketio.ts in two node:cluster workers on
 * one port, with @socket.io/redis-adapter (what Socket.IO's documentation gives for several
 * servers) on a redis-server of the run's own, as Socket.IO users would run it: the websocket
 * transport only (no long-polling, so no sticky sessions needed), `io.to(room).emit` through the
 * adapter. CPU samples count every process (the workers and redis-server).
 */

import cluster from 'node:cluster';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { startSocketIoChat, version } from './chat-socketio.js';
import { answerCounts, forkWorkers } from './cluster.js';
import { HOST, freePort, processCpuUs, serve } from './common.js';
import { startRedis } from './redis.js';

const WORKERS = 2;

if (cluster.isWorker) {
  const url = process.env['BENCH_REDIS']!;
  const pub = createClient({ url });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const chat = await startSocketIoChat(HOST, {}, { adapter: createAdapter(pub, sub), port: Number(process.env['BENCH_PORT']) });
  answerCounts(() => chat.io.engine.clientsCount);
} else {
  serve('socketio-redis', async () => {
    const redis = await startRedis();
    const port = await freePort();
    const forked = await forkWorkers(WORKERS, { BENCH_PORT: String(port), BENCH_REDIS: redis.url });
    return {
      port,
      connections: () => forked.connections(),
      info: {
        server: `socket.io ${version('socket.io')} with @socket.io/redis-adapter ${version('@socket.io/redis-adapter')}, ${WORKERS} node:cluster workers, websocket transport only`,
      },
      async sample() {
        const own = process.cpuUsage();
        const tree = own.user + own.system + processCpuUs(redis.pid) + forked.cpuUs();
        return { tree, ...(await redis.sample()) };
      },
    };
  });
}
