import { createServer } from 'node:http';
import { WebSocketServer } from 'rfc6455';

// One WebSocketServer can serve any number of HTTP servers; it owns no port here.
const wss = new WebSocketServer({
  maxPayload: 1024 * 1024,
  async handler(ws, request) {
    await ws.send(`welcome, ${request.socket.remoteAddress}`);
    for await (const message of ws) {
      if (message.type === 'text') await ws.send(message.data.toUpperCase());
      else await ws.send(message.data);
    }
  },
});

// An existing HTTP server: plain requests are still yours.
const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end('plain HTTP still works here\n');
});

// WebSocket handshakes arrive as 'upgrade' events; hand the ones for /ws to the library.
server.on('upgrade', (request, socket, head) => {
  if (request.url === '/ws') void wss.handleUpgrade(request, socket, head);
  else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
});
// Cut off clients that never finish their request (slowloris) after handshakeTimeout, not Node's 60-90 s.
wss.guard(server);

server.listen(Number(process.env.PORT ?? 8080), () => {
  const { port } = server.address() as { port: number };
  console.log(`listening on http://localhost:${port} (WebSocket at ws://localhost:${port}/ws)`);
});
