/**
 * The fan-out ceiling: one pre-built frame written to every socket in a loop, with no WebSocket
 * library (node:net only) and no handshake (the generator skips it for a raw server). The first
 * socket that sends anything is the publisher; every other socket is a subscriber. The publisher's
 * first frame is unmasked once to build the server frame; after that its bytes are only counted
 * (every message it sends is that same frame), and for the n messages a read completes, n copies
 * of the pre-built frame (also built once per n) go to each subscriber in one write, which is as
 * much batching as any server can do.
 */

import { createServer, type Socket } from 'node:net';
import { buildFrame, readFrames } from '../../testkit/index.js';
import { HOST, serve } from './common.js';

/** The unmasked server frame carrying the payload of the masked client frame at the start of `bytes`, and that frame's length; null while incomplete. */
function rebuild(bytes: Buffer): { frame: Buffer; clientLength: number } | null {
  const first = readFrames(bytes).frames[0];
  if (first === undefined) return null;
  const frame = buildFrame({ opcode: first.opcode, payload: first.payload, fin: first.fin, rsv: first.rsv });
  return { frame, clientLength: first.raw.length };
}

serve('raw', async () => {
  const subscribers = new Set<Socket>();
  let publisher: Socket | null = null;
  let head = Buffer.alloc(0);
  let frame: Buffer | null = null;
  let clientLength = 0;
  let pending = 0;
  const batches: Buffer[] = [];
  const batch = (n: number): Buffer => (batches[n] ??= Buffer.concat(new Array<Buffer>(n).fill(frame!)));

  const server = createServer({ noDelay: true }, (socket) => {
    subscribers.add(socket);
    socket.on('data', (chunk: Buffer) => {
      if (publisher === null) {
        publisher = socket;
        subscribers.delete(socket);
      }
      if (socket !== publisher) return;
      if (frame === null) {
        head = Buffer.concat([head, chunk]);
        const built = rebuild(head);
        if (built === null) return;
        ({ frame, clientLength } = built);
        pending = head.length;
      } else pending += chunk.length;
      const n = Math.floor(pending / clientLength);
      if (n === 0) return;
      pending -= n * clientLength;
      const bytes = batch(n);
      for (const subscriber of subscribers) subscriber.write(bytes);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      subscribers.delete(socket);
      if (socket === publisher) publisher = null;
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const { port } = server.address() as { port: number };
  return {
    port,
    connections: () => subscribers.size,
    info: { server: 'raw fan-out (node:net): one pre-built frame written to every socket in a loop' },
  };
});
