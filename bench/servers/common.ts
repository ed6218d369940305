/**
 * What every benchmark server shares: the IPC side. A server runs as a child process of
 * bench/run.ts (pinned to its own core, started with --expose-gc), prints its port on stdout, and
 * answers:
 *   { type: 'cpu', id }     -> process.cpuUsage() and the time, to compute its CPU% over a window
 *   { type: 'measure', id } -> process.memoryUsage() after forced full GCs, and its CPU
 *   { type: 'stats', id }   -> how many connections it holds
 *   { type: 'snapshot', id, path } -> a heap snapshot written to path (bench/idle-heap.ts)
 * It exits when run.ts goes away (the IPC channel closes).
 */

import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { writeHeapSnapshot } from 'node:v8';
import type { CpuSample, FromServer, MemorySample, ToServer } from '../lib/ipc.js';

const gc = globalThis.gc;

/** The process's write system calls so far (write, writev, sendmsg...), or undefined off Linux. */
function writeCalls(): number | undefined {
  try {
    const match = /^syscw:\s*(\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

function cpu(): CpuSample {
  const { user, system } = process.cpuUsage();
  const writes = writeCalls();
  return writes === undefined ? { user, system, at: performance.now() } : { user, system, at: performance.now(), writes };
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function memory(): Promise<MemorySample> {
  // Several full GCs with event-loop turns between them: weak callbacks and finalizers (socket
  // handles among them) run between collections, and what they release goes in the next one.
  for (let i = 0; i < 4; i++) {
    gc!();
    await turn();
  }
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, heapTotal, external, arrayBuffers };
}

export interface BenchServer {
  readonly port: number;
  /** Open connections (WebSocket connections, or TCP sockets for the raw echo). */
  connections(): number | Promise<number>;
  readonly info: Record<string, string | boolean>;
  /** A server of several processes, or on Redis: what to add to each CPU sample (CpuSample's tree, redisCpuUs, redisCommands). */
  sample?(): Promise<Partial<CpuSample>>;
}

/** user + system CPU microseconds of a process (Linux: /proc/<pid>/stat, in clock ticks of 10 ms), or 0. */
export function processCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime), counted from the state (field 3) here.
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return 0;
  }
}

export function serve(name: string, start: () => Promise<BenchServer>): void {
  const send = process.send?.bind(process);
  if (gc === undefined || send === undefined) {
    console.error(`bench server ${name}: start me from bench/run.ts (I need --expose-gc and an IPC channel)`);
    process.exit(2);
  }
  const reply = (message: FromServer): void => void send(message);
  process.on('disconnect', () => process.exit(0));
  start().then(
    (server) => {
      process.on('message', (message: ToServer) => {
        switch (message.type) {
          case 'cpu': {
            const own = cpu();
            if (server.sample === undefined) reply({ type: 'cpu', id: message.id, cpu: own });
            else void server.sample().then((extra) => reply({ type: 'cpu', id: message.id, cpu: { ...own, ...extra } }));
            break;
          }
          case 'measure':
            void memory().then((sample) => reply({ type: 'measure', id: message.id, memory: sample, cpu: cpu() }));
            break;
          case 'snapshot':
            void memory().then(() => reply({ type: 'snapshot', id: message.id, path: writeHeapSnapshot(message.path) }));
            break;
          case 'stats':
            void Promise.resolve(server.connections()).then((connections) =>
              reply({ type: 'stats', id: message.id, connections }),
            );
            break;
        }
      });
      console.log(`${name} listening on port ${server.port}`);
      reply({ type: 'ready', port: server.port, info: server.info });
    },
    (error: unknown) => {
      console.error(`bench server ${name}: cannot start:`, error);
      process.exit(1);
    },
  );
}

/** A port free on HOST right now, for a server that must be told its port rather than take port 0. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** `--deflate` on the command line: permessage-deflate on. */
export const deflateRequested = process.argv.includes('--deflate');
export const HOST = '127.0.0.1';
