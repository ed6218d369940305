/**
 * Where a chat user's memory goes (issue 15: RSS per user ≤ 0.5× Socket.IO's): the chat server
 * (`ours`, bench/servers/chat-ours.ts's configuration) or Socket.IO's (`socketio`), measured as
 * the chat cases measure it (warm-up cycles, a baseline, N users joined in R rooms and one message
 * from each delivered, the growth divided by N), with more detail than the bench gives:
 *
 * - process.memoryUsage() (after forced full GCs), V8's heap spaces (committed sizes: the young
 *   generation's semi-spaces grow with the allocation rate and stay grown), and the process's
 *   resident memory by mapping kind (/proc/self/smaps: the brk heap, anonymous mappings, files);
 * - with `--snapshots`, heap snapshots before and after, their objects' self sizes grouped by
 *   constructor (or V8 node type), per user. A snapshot inflates RSS: the memory figures of a run
 *   with snapshots are taken before them, but its RSS after the first one is not comparable;
 * - with `--count-buffers`, the Buffers allocated by caller (see countBuffers);
 * - with `--trim`, the RSS again after glibc's malloc_trim(0) (called through gdb): what malloc
 *   kept of the memory freed (fragmentation) apart from what is in use.
 *
 *   node --import tsx/esm bench/chat-memory.ts [--servers ours,socketio] [--users 1000] [--rooms 10]
 *        [--snapshots] [--trim] [--count-buffers] [--out DIR] [--top 40] [--node-flags="--max-semi-space-size=1"]
 *        [--wrap="heaptrack -o DIR/ours"]
 *
 * The server is this script itself (`--serve KIND`), a child started with --expose-gc and the
 * node flags given, unpinned (run it under `nice`: it is a diagnosis, not a benchmark).
 */

import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { CHAT_NODE_FLAGS } from '@rfc6455/chat/node-flags';
import { makeKeyPool } from '../testkit/index.js';
import { connectUser, roomName, type ChatListener, type ChatUser } from './lib/chat-wire.js';
import { pool } from './lib/generator.js';
import { snapshotGroups } from './lib/heap-snapshot.js';

const { values } = parseArgs({
  options: {
    serve: { type: 'string' },
    servers: { type: 'string', default: 'ours,socketio' },
    users: { type: 'string', default: '1000' },
    rooms: { type: 'string', default: '10' },
    snapshots: { type: 'boolean', default: false },
    trim: { type: 'boolean', default: false },
    'count-buffers': { type: 'boolean', default: false },
    out: { type: 'string', default: '/tmp/chat-memory' },
    top: { type: 'string', default: '40' },
    'node-flags': { type: 'string', default: '' },
    wrap: { type: 'string', default: '' },
  },
});

interface Sample {
  readonly usage: NodeJS.MemoryUsage;
  readonly spaces: Record<string, number>;
  readonly maps: Record<string, number>;
}

type Request = { id: number; type: 'measure' } | { id: number; type: 'buffers'; reset: boolean } | { id: number; type: 'snapshot'; path: string } | { id: number; type: 'connections' };

// ---- the server side ----------------------------------------------------------------------------

/** Resident bytes by mapping kind, from /proc/self/smaps. */
function residentByMapping(): Record<string, number> {
  const out: Record<string, number> = {};
  let kind = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      const name = head[1]!;
      kind = name === '' ? 'anonymous' : name.startsWith('[') ? name : name.includes('.node') ? 'native addons' : 'files';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) out[kind] = (out[kind] ?? 0) + Number(rss[1]) * 1024;
  }
  return out;
}

/**
 * --count-buffers: Buffer.allocUnsafe, allocUnsafeSlow and concat wrapped to count the bytes they
 * allocate by caller (the first frames outside node's own code): which code makes the buffers
 * whose backing stores (malloc'ed, freed only when a GC collects them) pile up between GCs.
 */
const counted = new Map<string, { calls: number; bytes: number }>();

function countBuffers(): void {
  const count = (what: string, bytes: number): void => {
    const frames = (new Error().stack ?? '').split('\n').slice(3).filter((line) => !line.includes('node:'));
    const key = `${what} ${frames.slice(0, 3).map((line) => line.trim().replace(/^at /, '').replace(/\(?file:\/\/\/work\/[^/]+\//, '(')).join(' < ')}`;
    const entry = counted.get(key) ?? { calls: 0, bytes: 0 };
    entry.calls++;
    entry.bytes += bytes;
    counted.set(key, entry);
  };
  const { allocUnsafe, allocUnsafeSlow, concat } = Buffer;
  Buffer.allocUnsafe = (size: number) => {
    // Pooled below poolSize >>> 1: what mallocs is the pool's slab, one per poolSize bytes.
    count(size < Buffer.poolSize >>> 1 ? 'allocUnsafe(pooled)' : 'allocUnsafe', size);
    return allocUnsafe(size);
  };
  Buffer.allocUnsafeSlow = (size: number) => {
    count('allocUnsafeSlow', size);
    return allocUnsafeSlow(size);
  };
  Buffer.concat = (list: readonly Uint8Array[], length?: number) => {
    const out = concat(list, length);
    count(out.length < Buffer.poolSize >>> 1 ? 'concat(pooled)' : 'concat', out.length);
    return out;
  };
}

async function serve(kind: string): Promise<void> {
  const gc = globalThis.gc!;
  if (process.env['CHAT_MEMORY_COUNT'] === '1') countBuffers();
  let connections: () => Promise<number>;
  if (kind === 'ours') {
    const { createChatServer } = await import('@rfc6455/chat');
    const chat = await createChatServer({ limits: false, logLevel: 'silent', metrics: false, history: 'memory' });
    const address = await chat.listen(0, '127.0.0.1');
    connections = async () => chat.stats().current_connections;
    process.send!({ type: 'ready', port: address.port });
  } else {
    const { startSocketIoChat } = await import('./servers/chat-socketio.js');
    const chat = await startSocketIoChat('127.0.0.1');
    connections = async () => chat.io.engine.clientsCount;
    process.send!({ type: 'ready', port: chat.port });
  }
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 4; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: Request) => {
    void (async () => {
      if (message.type === 'connections') return process.send!({ id: message.id, value: await connections() });
      if (message.type === 'buffers') {
        const rows = [...counted].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 15);
        if (message.reset) counted.clear();
        return process.send!({ id: message.id, value: rows });
      }
      await settle();
      if (message.type === 'snapshot') return process.send!({ id: message.id, value: writeHeapSnapshot(message.path) });
      const spaces: Record<string, number> = {};
      for (const space of getHeapSpaceStatistics()) spaces[space.space_name] = space.physical_space_size;
      const sample: Sample = { usage: process.memoryUsage(), spaces, maps: residentByMapping() };
      process.send!({ id: message.id, value: sample });
    })();
  });
}

// ---- the driver ---------------------------------------------------------------------------------


async function measure(kind: string, N: number, R: number): Promise<void> {
  const flags = values['node-flags']!.split(' ').filter((flag) => flag !== '');
  // --wrap runs the server under a tool (heaptrack: `--wrap="heaptrack -o DIR/ours"`).
  const wrap = values.wrap!.split(' ').filter((word) => word !== '');
  // Ours with the flags `npm run chat` gives it (chat/src/node-flags.ts), as the chat cases run
  // it; --node-flags come after them (a flag given twice: the last wins).
  const given = [...(kind === 'ours' ? CHAT_NODE_FLAGS : []), ...flags];
  const node = ['--expose-gc', ...given, '--import', 'tsx/esm'];
  const child = fork(fileURLToPath(import.meta.url), ['--serve', kind], {
    ...(wrap.length === 0 ? { execArgv: node } : { execPath: wrap[0]!, execArgv: [...wrap.slice(1), process.execPath, ...node] }),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, CHAT_MEMORY_COUNT: values['count-buffers'] ? '1' : '0' },
  });
  let next = 1;
  const pending = new Map<number, (value: unknown) => void>();
  const port = await new Promise<number>((resolve) => {
    child.on('message', (message: { type?: string; port?: number; id?: number; value?: unknown }) => {
      if (message.type === 'ready') resolve(message.port!);
      else pending.get(message.id!)?.(message.value);
    });
  });
  const request = <T>(body: { type: Request['type']; path?: string; reset?: boolean }): Promise<T> =>
    new Promise((resolve) => {
      const id = next++;
      pending.set(id, (value) => {
        pending.delete(id);
        resolve(value as T);
      });
      child.send({ ...body, id });
    });
  const until = async (count: number): Promise<void> => {
    for (let i = 0; i < 1200 && (await request<number>({ type: 'connections' })) !== count; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const protocol = kind === 'ours' ? 'ws' : 'socketio';
  const spec = { host: '127.0.0.1', port, protocol, contentSize: 64 } as const;
  const keys = makeKeyPool(256);
  let received = 0;
  const listener: ChatListener = {
    chat() {
      received++;
    },
    fail(error) {
      console.error(`${kind}: ${String(error)}`);
    },
  };
  try {
    // Warm-up cycles on a room of their own, as bench/lib/chat.ts does.
    await pool(50, 8, async (i) => {
      const user = await connectUser(spec, keys[i % keys.length]!, 0, 0, 'warmup', listener, `w${i}`);
      const before = user.received;
      user.send(0);
      while (user.received === before) await new Promise((resolve) => setTimeout(resolve, 5));
      user.closing = true;
      user.socket.destroy();
    });
    await until(0);
    const before = await request<Sample>({ type: 'measure' });
    if (values['count-buffers']) await request({ type: 'buffers', reset: true });
    const snapBefore = join(values.out!, `${kind}-0.heapsnapshot`);
    if (values.snapshots) await request({ type: 'snapshot', path: snapBefore });
    const users: ChatUser[] = new Array<ChatUser>(N);
    await pool(N, 100, async (i) => {
      users[i] = await connectUser(spec, keys[i % keys.length]!, i, i % R, roomName(i % R), listener);
    });
    // Between the two: users joined, no message yet (what the connections alone cost).
    const joined = await request<Sample>({ type: 'measure' });
    received = 0;
    const expected = N * Math.ceil(N / R);
    // One message per user at 1 message/s each, spread evenly (the bench's first step).
    const start = performance.now();
    for (let sent = 0; sent < N; ) {
      const due = Math.min(N, Math.floor(((performance.now() - start) * N) / 1000));
      for (; sent < due; sent++) users[sent]!.send(Math.round(performance.now() * 1000));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    while (received < expected - N) await new Promise((resolve) => setTimeout(resolve, 5));
    await until(N);
    const after = await request<Sample>({ type: 'measure' });
    const per = (a: number, b: number): string => ((b - a) / N).toFixed(0).padStart(7);
    console.log(`\n## ${kind}: ${N} users in ${R} rooms, growth per user (bytes)${given.length > 0 ? `, node ${given.join(' ')}` : ''}`);
    for (const key of ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const) {
      console.log(
        `${key.padEnd(28)} ${per(before.usage[key], after.usage[key])}   (baseline ${(before.usage[key] / 1048576).toFixed(1)} MiB; ` +
          `joined, before any message: ${per(before.usage[key], joined.usage[key]).trim()})`,
      );
    }
    console.log(`  new_space joined: ${((joined.spaces['new_space'] ?? 0) / 1048576).toFixed(1)} MiB; [heap] joined: ${per(before.maps['[heap]'] ?? 0, joined.maps['[heap]'] ?? 0).trim()}`);
    for (const space of Object.keys(after.spaces)) {
      const delta = (after.spaces[space] ?? 0) - (before.spaces[space] ?? 0);
      if (delta !== 0) console.log(`  heap space ${space.padEnd(17)} ${per(before.spaces[space] ?? 0, after.spaces[space]!)}   (${((before.spaces[space] ?? 0) / 1048576).toFixed(1)} -> ${(after.spaces[space]! / 1048576).toFixed(1)} MiB)`);
    }
    for (const map of new Set([...Object.keys(before.maps), ...Object.keys(after.maps)])) {
      const delta = (after.maps[map] ?? 0) - (before.maps[map] ?? 0);
      if (Math.abs(delta) >= 4096) console.log(`  resident ${map.padEnd(19)} ${per(before.maps[map] ?? 0, after.maps[map] ?? 0)}`);
    }
    if (values['count-buffers']) {
      console.log('buffers allocated from the baseline on, per user (calls, bytes), by caller:');
      for (const [key, { calls, bytes }] of await request<[string, { calls: number; bytes: number }][]>({ type: 'buffers', reset: false })) {
        console.log(`  ${(calls / N).toFixed(1).padStart(7)} ${(bytes / N).toFixed(0).padStart(8)}  ${key}`);
      }
    }
    if (values.trim) {
      // glibc's malloc_trim(0) (through gdb) returns the free pages of malloc's heaps to the system:
      // what RSS loses then was freed memory kept by malloc (fragmentation), not memory in use.
      execFileSync('gdb', ['-p', String(child.pid), '-batch', '-ex', 'call (int) malloc_trim(0)'], { stdio: 'ignore' });
      const trimmed = await request<Sample>({ type: 'measure' });
      console.log(`after malloc_trim(0): rss ${per(before.usage.rss, trimmed.usage.rss)}, resident [heap] ${per(before.maps['[heap]'] ?? 0, trimmed.maps['[heap]'] ?? 0)}`);
    }
    if (values.snapshots) {
      const snapAfter = join(values.out!, `${kind}-${N}.heapsnapshot`);
      await request({ type: 'snapshot', path: snapAfter });
      const a = snapshotGroups(snapBefore);
      const rows: Array<[string, number, number]> = [];
      for (const [key, group] of snapshotGroups(snapAfter)) {
        const base = a.get(key) ?? { count: 0, bytes: 0 };
        rows.push([key, (group.count - base.count) / N, (group.bytes - base.bytes) / N]);
      }
      rows.sort((x, y) => y[2] - x[2]);
      console.log(`snapshot growth per user: ${rows.reduce((sum, row) => sum + row[2], 0).toFixed(0)} B\n`);
      console.log('| type | objects/user | bytes/user |');
      console.log('| --- | ---: | ---: |');
      for (const [key, count, bytes] of rows.slice(0, Number(values.top))) {
        if (Math.abs(bytes) >= 1) console.log(`| ${key} | ${count.toFixed(2)} | ${bytes.toFixed(1)} |`);
      }
    }
    for (const user of users) {
      user.closing = true;
      user.socket.destroy();
    }
  } finally {
    child.kill();
  }
}

if (values.serve !== undefined) {
  await serve(values.serve);
} else {
  mkdirSync(values.out!, { recursive: true });
  for (const kind of values.servers!.split(',')) await measure(kind, Number(values.users), Number(values.rooms));
  process.exit(0);
}
