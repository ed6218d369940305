/**
 * A broadcast server to benchmark with any tool (issue 11): every connection is subscribed to one
 * topic, and each message a client sends is published to every connection, the sender included,
 * as text or binary like it came. Run it with `node --import tsx/esm examples/broadcast.ts`; it
 * listens on PORT (default 9002).
 */
import { WebSocketServer, type Ws } from 'rfc6455';
import { Hub } from 'rfc6455/hub';

const TOPIC = 'broadcast';
const hub = new Hub<Ws>();

const wss = new WebSocketServer({
  // Compressed broadcasts: once per group of connections that can share a frame (see the README).
  perMessageDeflate: process.env.DEFLATE === '1',
  async handler(ws) {
    hub.add(ws);
    hub.subscribe(ws, TOPIC);
    // A string is published as text, a Buffer as binary: each message keeps its opcode.
    for await (const message of ws) hub.publish(TOPIC, message.data);
  },
});

const { port } = await wss.listen(Number(process.env.PORT ?? 9002));
console.log(`broadcast server on ws://localhost:${port}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.all([wss.close(), hub.close()]).then(() => process.exit(0));
  });
}
