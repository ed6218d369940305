/**
 * rfc6455's broadcast server for the fan-out cases: the built package (dist/), a Hub with one
 * topic every connection subscribes to, and each message a connection sends published to the
 * topic but its sender (`except`), as examples/broadcast.ts does with the sender included.
 * `--deflate`: `perMessageDeflate: true` (every default). `--shared`: the topic's
 * `noContextTakeover: true`, one fresh-context compressed frame for every subscriber; without it,
 * a subscriber that keeps context takeover compresses each message itself (the hub's default).
 * A subscriber the hub's policy closes fails the run loudly (the generator would see it anyway);
 * messages lost to connections the generator closes at the end of a run are expected.
 */

// The built package, as users get it (`npm run bench` builds it first).
import type { Ws } from '../../dist/index.js';
import { LIBRARY_BUILD, hubLibrary, library } from '../lib/library.js';
import { HOST, deflateRequested, serve } from './common.js';

const { WebSocketServer } = library;
const { Hub } = await hubLibrary();
const TOPIC = 'fanout';
const shared = process.argv.includes('--shared');

serve('ours', async () => {
  const hub = new Hub<Ws>();
  hub.configure(TOPIC, { noContextTakeover: shared });
  hub.on('evict', () => {
    console.error('bench server ours: the hub closed a subscriber that fell behind (1008)');
    process.exit(1);
  });
  const server = new WebSocketServer({
    perMessageDeflate: deflateRequested,
    async handler(ws) {
      hub.add(ws);
      hub.subscribe(ws, TOPIC);
      for await (const message of ws) hub.publish(TOPIC, message.data, { except: ws });
    },
  });
  const { port } = await server.listen(0, HOST);
  return {
    port,
    connections: () => hub.count(TOPIC),
    info: {
      server: `rfc6455 (${LIBRARY_BUILD}), Hub.publish(topic, data, { except })${shared ? ', topic noContextTakeover' : ''}`,
      perMessageDeflate: deflateRequested,
      noContextTakeover: shared,
    },
  };
});
