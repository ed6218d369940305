/**
 * `npm run chat -- --workers N --redis URL`: the primary process of a node:cluster. It serves
 * nothing itself: it forks N workers, each a whole chat server listening on the same port (the
 * cluster shares it; on Linux the primary hands connections out round-robin), which share rooms,
 * history and presence through Redis (hence `--workers` needs `--redis`).
 *
 * - A worker that dies (a crash, a SIGKILL, an out-of-memory) is forked again after a backoff that
 *   doubles with each death in a row (from 100 ms, at most 10 s; a worker that lived a minute resets
 *   it), so a worker that cannot start does not make the primary spin. Its users leave presence
 *   within the presence bound (RedisPresence: lease + lease/8 + grace), from another worker.
 * - SIGTERM, SIGINT and SIGHUP are passed to every worker (SIGTERM drains each, SIGHUP reloads the
 *   certificate); after SIGTERM or SIGINT no worker is forked again, and the primary exits 0 once
 *   every worker has exited.
 */

import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './log.js';

const FIRST_DELAY = 100;
const MAX_DELAY = 10_000;
/** A worker that lived this long was healthy: the next death starts the backoff over. */
const HEALTHY_AFTER = 60_000;

export interface WorkerOptions {
  readonly workers: number;
  readonly logger: Logger;
}

/** Runs the primary: forks the workers and keeps them running until a signal stops them all. */
export function runPrimary({ workers, logger }: WorkerOptions): void {
  let stopping = false;
  let deathsInARow = 0;
  const started = new Map<Worker, number>();
  const fork = (): void => {
    const worker = cluster.fork();
    started.set(worker, performance.now());
    logger.info({ event: 'worker_started', worker: worker.id, workerPid: worker.process.pid }, 'worker started');
  };
  cluster.on('exit', (worker, code, signal) => {
    const lived = performance.now() - (started.get(worker) ?? 0);
    started.delete(worker);
    if (stopping) {
      logger.info({ event: 'worker_stopped', worker: worker.id, workerPid: worker.process.pid, code, signal }, 'worker stopped');
      if (started.size === 0) {
        logger.info({ event: 'stopped' }, 'every worker stopped');
        process.exit(0);
      }
      return;
    }
    deathsInARow = lived >= HEALTHY_AFTER ? 1 : deathsInARow + 1;
    const delay = Math.min(MAX_DELAY, FIRST_DELAY * 2 ** (deathsInARow - 1));
    logger.warn({ event: 'worker_died', worker: worker.id, workerPid: worker.process.pid, code, signal, restartIn: delay }, 'worker died: restarting');
    setTimeout(() => {
      if (!stopping) fork();
    }, delay);
  });
  const pass = (signal: NodeJS.Signals): void => {
    logger.info({ event: 'signal', signal }, `${signal}: passed to the workers`);
    if (signal !== 'SIGHUP') {
      if (stopping) return;
      stopping = true;
      if (started.size === 0) process.exit(0);
    }
    for (const worker of started.keys()) worker.process.kill(signal);
  };
  process.on('SIGTERM', () => pass('SIGTERM'));
  process.on('SIGINT', () => pass('SIGINT'));
  process.on('SIGHUP', () => pass('SIGHUP'));
  logger.info({ event: 'primary', pid: process.pid, workers }, `starting ${workers} workers`);
  for (let i = 0; i < workers; i++) fork();
}
