/**
 * The chat cases' server of ours: the chat of issue 15 (`@rfc6455/chat`, the workspace chat/, on
 * the library's hub) as `npm run chat -- --no-limits` runs it: abuse limits off, logs off, metrics
 * off, history in memory, listening on 127.0.0.1. Connections are counted by its own `/ws/stats`
 * (`current_connections`).
 */

import { createChatServer } from '@rfc6455/chat';
import { HOST, freePort, serve } from './common.js';

serve('ours', async () => {
  const chat = await createChatServer({ limits: false, logLevel: 'silent', metrics: false, history: 'memory' });
  const port = await freePort();
  await chat.listen(port, HOST);
  const stats = `http://${HOST}:${port}/ws/stats`;
  return {
    port,
    connections: async () => ((await (await fetch(stats)).json()) as { current_connections: number }).current_connections,
    info: { server: '@rfc6455/chat (createChatServer: limits off, logs off, metrics off, history in memory)' },
  };
});
