/**
 * The chat-redis cases' server of ours: `npm run chat -- --workers 2 --redis URL --no-limits
 * --no-metrics` (two chat instances, node:cluster workers on one port, sharing rooms, history and
 * presence through Redis) on a redis-server of the run's own. Users are counted by /ws/stats'
 * presence (the same answer from either worker); CPU samples count every process (the primary, its
 * workers, redis-server) and read Redis' own CPU and commands.
 */

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CHAT_NODE_FLAGS } from '@rfc6455/chat/node-flags';
import { HOST, freePort, processCpuUs, serve } from './common.js';
import { startRedis } from './redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKERS = 2;

serve('ours', async () => {
  const redis = await startRedis();
  const port = await freePort();
  const args = [...CHAT_NODE_FLAGS, '--import', 'tsx/esm', 'chat/src/cli.ts', '--port', String(port), '--host', HOST, '--redis', redis.url, '--workers', String(WORKERS), '--no-limits', '--no-metrics'];
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  // Its pipes are this process's own; it is killed when this server exits (its workers follow their primary).
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  process.on('exit', () => child.kill('SIGKILL'));
  // Its log: one line per connection at most (none per message); read for the workers' pids.
  const workers = await new Promise<number[]>((resolve, reject) => {
    const pids: number[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.includes('"listening"')) return;
      pids.push((JSON.parse(line) as { pid: number }).pid);
      if (pids.length === WORKERS) resolve(pids);
    });
    child.once('exit', (code) => reject(new Error(`the chat exited (${code}) before listening`)));
  });
  const stats = `http://${HOST}:${port}/ws/stats`;
  return {
    port,
    connections: async () => ((await (await fetch(stats)).json()) as { presence: { users: number } }).presence.users,
    info: { server: `@rfc6455/chat --workers ${WORKERS} --redis (RedisBroker + RedisPresence), limits off, metrics off` },
    async sample() {
      const own = process.cpuUsage();
      const tree = own.user + own.system + processCpuUs(child.pid!) + processCpuUs(redis.pid) + workers.reduce((sum, pid) => sum + processCpuUs(pid), 0);
      return { tree, ...(await redis.sample()) };
    },
  };
});
