/**
 * The chat cases' server of ours: the chat of issue 15 (`@rfc6455/chat`, the workspace chat/, on
 * the library's hub) as `npm run chat -- --no-limits` runs it: abuse limits off, logs off, metrics
 * off, history in memory, listening on 127.0.0.1. Connections are counted by its stats()
 * (`current_connections`, what `/ws/stats` reports), in this process, as Socket.IO's are
 * (`io.engine.clientsCount`). Not through `/ws/stats`: a fetch() from the server's own process
 * put undici's client sockets, and the server's HTTP sockets for it, through the same Node stream
 * code as the chat's 1,000 WebSocket sockets. When those few sockets closed, their hidden classes
 * died, and the first full collection after that deoptimized the stream code built around them
 * (`onwrite`, `writeGeneric`, `onStreamRead`, ...): 0.7 s of 10 to 54 ms turns in ours only, in the
 * middle of chat-1k-max's ladder (bench/README.md, "The harness's own request in the chat's process").
 */

import { createChatServer } from '@rfc6455/chat';
import { HOST, freePort, serve } from './common.js';

serve('ours', async () => {
  const chat = await createChatServer({ limits: false, logLevel: 'silent', metrics: false, history: 'memory' });
  const port = await freePort();
  await chat.listen(port, HOST);
  return {
    port,
    connections: () => chat.stats().current_connections,
    info: { server: '@rfc6455/chat (createChatServer: limits off, logs off, metrics off, history in memory)' },
  };
});
