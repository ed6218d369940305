/**
 * The servers that run as node:cluster workers on one port (ours.ts --workers, the Socket.IO chat
 * on Redis): the primary serves nothing itself, forks the workers, and asks each how many
 * connections it holds.
 */

import cluster, { type Worker } from 'node:cluster';
import { processCpuUs } from './common.js';

/** In a worker, once it listens: answers the primary's count requests, then says it is listening. */
export function answerCounts(connections: () => number): void {
  process.on('message', (message: { type?: string; id?: number }) => {
    if (message.type === 'count') process.send!({ type: 'count', id: message.id, connections: connections() });
  });
  process.send!({ type: 'listening' });
}

export interface Workers {
  /** Every worker's connections, summed. */
  connections(): Promise<number>;
  /** The workers' CPU time (user + system), µs. */
  cpuUs(): number;
}

/** In the primary: forks `count` workers with `env`; resolves once every one listens. */
export async function forkWorkers(count: number, env: Record<string, string>): Promise<Workers> {
  const forked = Array.from({ length: count }, () => cluster.fork(env));
  await Promise.all(forked.map((worker) => new Promise<void>((resolve) => worker.on('message', (m: { type?: string }) => m.type === 'listening' && resolve()))));
  let nextId = 0;
  const countOf = (worker: Worker): Promise<number> =>
    new Promise((resolve) => {
      const id = ++nextId;
      const listener = (m: { type?: string; id?: number; connections?: number }): void => {
        if (m.type !== 'count' || m.id !== id) return;
        worker.off('message', listener);
        resolve(m.connections ?? 0);
      };
      worker.on('message', listener);
      worker.send({ type: 'count', id });
    });
  return {
    connections: async () => (await Promise.all(forked.map(countOf))).reduce((sum, n) => sum + n, 0),
    cpuUs: () => forked.reduce((sum, worker) => sum + processCpuUs(worker.process.pid!), 0),
  };
}
