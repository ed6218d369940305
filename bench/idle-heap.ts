/**
 * What an idle connection keeps on the server's heap, by type: heap snapshots of a benchmark
 * server (bench/servers/<kind>.ts) before and after it accepts N idle connections, their objects
 * grouped by constructor (or by V8's node type: closure, array, string, code...), and the growth
 * per connection of each group, in bytes (self sizes: what the objects themselves take).
 *
 *   npx tsx bench/idle-heap.ts [--servers ours,ws,raw] [--connections 10000] [--out DIR] [--top 40]
 *
 * `raw` runs bench/servers/raw.ts --idle, the floor: a bare node:net server holding the sockets.
 * The servers run as in `npm run bench` (node --expose-gc --import tsx, ours from dist/: build
 * first), unpinned; the connections are opened from this process, 200 handshakes at a time, after
 * a warm-up of 300 handshake and close cycles. Memory is the server's process.memoryUsage() after
 * forced full GCs; the snapshots are left in DIR.
 */

import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { OP, closePayload, makeKeyPool, maskedFrame, type HandshakeKey } from '../testkit/index.js';
import { FrameParser } from './lib/frames.js';
import { open, pool } from './lib/generator.js';
import type { FromServer, LoadSpec, MemorySample, ToServer } from './lib/ipc.js';
import { snapshotGroups, type Group } from './lib/heap-snapshot.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: 'ours,ws,raw' },
    connections: { type: 'string', default: '10000' },
    out: { type: 'string', default: '/tmp/idle-heap' },
    top: { type: 'string', default: '40' },
  },
});
const N = Number(values.connections);
const OUT = values.out!;
const TOP = Number(values.top);
mkdirSync(OUT, { recursive: true });

type Kind = 'ours' | 'ws' | 'raw';

// ---- the server ---------------------------------------------------------------------------------

interface Server {
  readonly port: number;
  request<T extends FromServer>(message: Omit<ToServer, 'id'>): Promise<T>;
  stop(): void;
}

async function startServer(kind: Kind): Promise<Server> {
  const args = ['--expose-gc', '--import', 'tsx/esm', `bench/servers/${kind}.ts`, ...(kind === 'raw' ? ['--idle'] : [])];
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const pending = new Map<number, (message: FromServer) => void>();
  let nextId = 1;
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server ${kind} exited (${code})`)));
    child.on('message', (message: FromServer) => {
      if (message.type === 'ready') resolve(message.port);
      else pending.get(message.id)?.(message);
    });
  });
  return {
    port,
    request<T extends FromServer>(message: Omit<ToServer, 'id'>): Promise<T> {
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, (reply) => {
          pending.delete(id);
          resolve(reply as T);
        });
        child.send({ ...message, id });
      });
    },
    stop: () => void child.kill(),
  };
}

// ---- the connections ----------------------------------------------------------------------------

const CLOSE_FRAME = maskedFrame(OP.CLOSE, closePayload(1000));

/** A handshake and a close (a connect and an end for raw), until the server has closed TCP. */
async function cycle(spec: LoadSpec, key: HandshakeKey): Promise<void> {
  const { socket, attach } = await open(spec, key);
  await new Promise<void>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('close', () => resolve());
    attach(() => {});
    if (spec.protocol === 'raw') socket.end();
    else socket.write(CLOSE_FRAME);
  });
}

/** N connections opened and left idle (pings answered). */
async function openIdle(spec: LoadSpec, keys: readonly HandshakeKey[]): Promise<Socket[]> {
  const sockets: Socket[] = [];
  await pool(N, 200, async (i) => {
    const { socket, attach } = await open(spec, keys[i % keys.length]!);
    sockets.push(socket);
    const parser = new FrameParser(
      {
        control(code, data) {
          if (code === OP.PING) socket.write(maskedFrame(OP.PONG, data));
        },
        sample() {},
      },
      -1,
      -1,
    );
    attach((chunk) => parser.push(chunk));
    socket.on('error', () => {});
  });
  return sockets;
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600 && !(await condition()); i++) await new Promise((resolve) => setTimeout(resolve, 50));
}

// ---- the snapshots ------------------------------------------------------------------------------

function perConnection(before: Map<string, Group>, after: Map<string, Group>): Array<[string, number, number]> {
  const rows: Array<[string, number, number]> = [];
  for (const [key, group] of after) {
    const base = before.get(key) ?? { count: 0, bytes: 0 };
    rows.push([key, (group.count - base.count) / N, (group.bytes - base.bytes) / N]);
  }
  return rows.sort((a, b) => b[2] - a[2]);
}

// ---- the run ------------------------------------------------------------------------------------

async function measure(kind: Kind): Promise<void> {
  const server = await startServer(kind);
  const spec = { host: '127.0.0.1', port: server.port, protocol: kind === 'raw' ? 'raw' : 'ws' } as LoadSpec;
  const keys = makeKeyPool(256);
  try {
    await pool(300, 8, (i) => cycle(spec, keys[i % keys.length]!));
    const stats = async (): Promise<number> => (await server.request<Extract<FromServer, { type: 'stats' }>>({ type: 'stats' })).connections;
    await until(async () => (await stats()) === 0);
    const memory = async (): Promise<MemorySample> =>
      (await server.request<Extract<FromServer, { type: 'measure' }>>({ type: 'measure' })).memory;
    const before = await memory();
    const snapBefore = join(OUT, `${kind}-0.heapsnapshot`);
    await server.request({ type: 'snapshot', path: snapBefore } as Omit<ToServer, 'id'>);
    const sockets = await openIdle(spec, keys);
    await until(async () => (await stats()) === N);
    const after = await memory();
    const snapAfter = join(OUT, `${kind}-${N}.heapsnapshot`);
    await server.request({ type: 'snapshot', path: snapAfter } as Omit<ToServer, 'id'>);
    for (const socket of sockets) socket.destroy();
    const kib = (bytes: number): string => ((bytes / N) / 1024).toFixed(2);
    console.log(
      `\n## ${kind}: ${N} idle connections, per connection: heap ${kib(after.heapUsed - before.heapUsed)} KiB, ` +
        `heapTotal ${kib(after.heapTotal - before.heapTotal)} KiB, RSS ${kib(after.rss - before.rss)} KiB, ` +
        `external ${kib(after.external - before.external)} KiB`,
    );
    const rows = perConnection(snapshotGroups(snapBefore), snapshotGroups(snapAfter));
    const total = rows.reduce((sum, row) => sum + row[2], 0);
    console.log(`snapshot growth per connection: ${total.toFixed(0)} B\n`);
    console.log('| type | objects/conn | bytes/conn |');
    console.log('| --- | ---: | ---: |');
    for (const [key, count, bytes] of rows.slice(0, TOP)) {
      if (Math.abs(bytes) < 1) continue;
      console.log(`| ${key} | ${count.toFixed(2)} | ${bytes.toFixed(1)} |`);
    }
  } finally {
    server.stop();
  }
}

for (const kind of values.servers!.split(',') as Kind[]) await measure(kind);
process.exit(0);
