/**
 * The clients of `npm run bench:drain` (bench/drain.ts), in one process pinned to the generator's
 * CPU: N ReconnectingClients (the library's, with their default backoff and 1012 handling, but
 * `maxDelay`) through a router that stands for the load balancer: new connections go to A until
 * A stops being ready, then to B (as a balancer that checks /readyz, which a draining server turns
 * to 503 before its first close). IPC:
 *   { type: 'open', a, b, clients, maxDelay }  ->  { type: 'opened', open }   (all connected to A)
 *   { type: 'route-to-b' }                     ->  { type: 'routed' }
 */

import { ReconnectingClient } from '../../src/index.js';
import { startRelay } from '../../testkit/relay.js';

type Request =
  | { type: 'open'; id: number; a: number; b: number; clients: number; maxDelay: number }
  | { type: 'route-to-b'; id: number };

let target = 0;
let ports = { a: 0, b: 0 };
const { port: routerPort } = await startRelay(() => target);
const clients: ReconnectingClient[] = [];

process.on('message', (message: Request) => {
  if (message.type === 'open') void open(message);
  if (message.type === 'route-to-b') {
    target = ports.b;
    process.send!({ type: 'routed', id: message.id });
  }
});
process.on('disconnect', () => process.exit(0));

async function open({ id, a, b, clients: count, maxDelay }: Extract<Request, { type: 'open' }>): Promise<void> {
  ports = { a, b };
  target = a;
  const url = `ws://127.0.0.1:${routerPort}/`;
  // In batches, each connected before the next: a handshake flood is not what is measured.
  for (let made = 0; made < count; ) {
    const batch = Math.min(250, count - made);
    const opened: Promise<void>[] = [];
    for (let i = 0; i < batch; i++) {
      opened.push(
        new Promise<void>((resolve) => {
          // onConnect runs on every connection; the first one resolves.
          clients.push(new ReconnectingClient(url, { maxDelay, perMessageDeflate: false, onConnect: () => resolve() }));
        }),
      );
    }
    await Promise.all(opened);
    made += batch;
  }
  process.send!({ type: 'opened', id, open: clients.filter((client) => client.state === 'open').length });
}
