/** The ws package's client (with bufferutil, as the ws server of the benchmarks) as a benchmark client. */

import WebSocket from 'ws';
import { serveClient } from './common.js';

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
}

function closed(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => ws.once('close', () => resolve()));
}

serveClient({
  name: 'ws',
  async echo(url, onMessage, onError) {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await opened(ws);
    ws.on('message', (data, isBinary) => onMessage(isBinary ? '' : data.toString()));
    ws.on('error', onError);
    return {
      send: (text) => ws.send(text),
      close: async () => {
        const done = closed(ws);
        ws.close();
        await done;
      },
    };
  },
  async connectAndClose(url) {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await opened(ws);
    const done = closed(ws);
    ws.close();
    await done;
  },
});
