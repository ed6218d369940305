/**
 * The soak test's server: a child process (started by scripts/soak.ts with --expose-gc) running the
 * library's echo server, so its heap and RSS are measured apart from the clients'.
 *
 * It speaks to the parent over the IPC channel only:
 *   child -> parent  { type: 'ready', port }
 *   parent -> child  { type: 'measure', id }   -> { type: 'measure', id, sample } after a forced GC
 *   parent -> child  { type: 'stats', id }     -> { type: 'stats', id, stats } (no GC: cheap, for polling)
 *   parent -> child  { type: 'exit' }          -> closes the server and exits
 */

import { WebSocketServer, type Ws } from '../src/index.js';
import type { MemorySample, ServerStats, ToParent, ToServer } from './soak-protocol.js';

const gc = globalThis.gc;
if (gc === undefined) {
  console.error('soak-server: run me with --expose-gc: the measurements need a forced GC');
  process.exit(2);
}
if (process.send === undefined) {
  console.error('soak-server: run me from scripts/soak.ts (I need an IPC channel)');
  process.exit(2);
}

let messages = 0;
let handlerErrors = 0;

// The same echo as src/cli.ts: text back as text, binary as binary.
async function echo(ws: Ws): Promise<void> {
  for await (const message of ws) {
    messages++;
    const sent = ws.send(message.data);
    if (ws.bufferedAmount > 1024 * 1024) await sent;
  }
}

const wss = new WebSocketServer({
  handler: echo,
  onError: (error) => {
    handlerErrors++;
    console.error('soak-server: handler error:', error);
  },
});

function stats(): ServerStats {
  return { connections: wss.clients.size, messages, handlerErrors };
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function measure(): Promise<MemorySample> {
  // Several full GCs with event-loop turns between them: weak callbacks and finalizers (socket
  // handles, for one) run between collections, and what they release is freed by the next one.
  for (let i = 0; i < 4; i++) {
    gc!();
    await turn();
  }
  const usage = process.memoryUsage();
  return {
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    rss: usage.rss,
    ...stats(),
  };
}

function send(message: ToParent): void {
  process.send!(message);
}

process.on('message', (raw) => {
  const message = raw as ToServer;
  switch (message.type) {
    case 'measure':
      void measure().then((sample) => send({ type: 'measure', id: message.id, sample }));
      break;
    case 'stats':
      send({ type: 'stats', id: message.id, stats: stats() });
      break;
    case 'exit':
      void wss.close({ timeout: 1000 }).finally(() => process.exit(0));
      break;
  }
});

// The parent going away (crash, ^C) must not leave an orphan holding 10,000 sockets.
process.on('disconnect', () => process.exit(0));

const address = await wss.listen(0, '127.0.0.1');
send({ type: 'ready', port: address.port, pid: process.pid });
