/**
 * The `ws` package's broadcast server for the fan-out cases, with bufferutil: the loop its README
 * documents ("Server broadcast", to every other client), since ws has no broadcast of its own
 * (websockets/ws#617). Every connection is a subscriber; a message from one goes to all the others.
 * `--deflate`: `perMessageDeflate: true`, ws's defaults (each client.send() compresses the message
 * for that client, with its context).
 */

import WebSocket, { WebSocketServer } from 'ws';
import { checkBufferutil } from './bufferutil-check.js';
import { HOST, deflateRequested, serve } from './common.js';

serve('ws', async () => {
  const versions = checkBufferutil();
  const server = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: deflateRequested });
  server.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      server.clients.forEach((client) => {
        if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      });
    });
    ws.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as { port: number };
  return {
    port,
    connections: () => server.clients.size,
    info: {
      server: `ws ${versions.ws} + bufferutil ${versions.bufferutil}, wss.clients.forEach(client.send)`,
      bufferutil: 'native',
      perMessageDeflate: deflateRequested,
    },
  };
});
