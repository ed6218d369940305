/** rfc6455's client (dist/, as users get it) as a benchmark client: connect() and for-await. */

import { library } from '../lib/library.js';
import { serveClient } from './common.js';

const { connect } = library;

serveClient({
  name: 'ours',
  async echo(url, onMessage, onError) {
    const ws = await connect(url, { perMessageDeflate: false });
    void (async () => {
      for await (const message of ws) onMessage(message.data as string);
    })().catch(onError);
    return {
      send: (text) => void ws.send(text).catch(() => {}),
      close: async () => {
        await ws.close();
      },
    };
  },
  async connectAndClose(url) {
    const ws = await connect(url, { perMessageDeflate: false });
    await ws.close();
  },
});
