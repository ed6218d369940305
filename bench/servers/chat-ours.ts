/**
 * The chat cases' server of ours: the chat of issue 15 (`@rfc6455/chat`, the workspace chat/, on
 * the library's hub) as `npm run chat -- --no-limits` runs it: abuse limits off, logs off, history
 * in memory, listening on 127.0.0.1. Connections are counted by its own `/ws/stats`
 * (`current_connections`).
 */

import { HOST, freePort, serve } from './common.js';

/** What this script uses of @rfc6455/chat (imported by name at run time until the chat is in this tree). */
interface ChatModule {
  createChatServer(options: { limits: false; log: false; history?: 'memory' }): {
    listen(port: number, host: string): Promise<unknown>;
    close(): Promise<void>;
  };
}

const CHAT: string = '@rfc6455/chat';

serve('ours', async () => {
  const { createChatServer } = (await import(CHAT)) as ChatModule;
  const chat = createChatServer({ limits: false, log: false, history: 'memory' });
  const port = await freePort();
  await chat.listen(port, HOST);
  const stats = `http://${HOST}:${port}/ws/stats`;
  return {
    port,
    connections: async () => ((await (await fetch(stats)).json()) as { current_connections: number }).current_connections,
    info: { server: '@rfc6455/chat (createChatServer: limits off, logs off, history in memory)' },
  };
});
