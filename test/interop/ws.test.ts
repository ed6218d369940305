/**
 * Interop with ws (npm dev dependency): its client against our server, and our client against its
 * server (issue 10, "Interop matrix").
 */

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';
import { afterEach, describe, expect } from 'vitest';
import { AsyncQueue, cleanup, defer, HOST } from '../node/helpers.js';
import { theirClientAgainstOurServer } from './client-scenarios.js';
import { describeWithPeer } from './peers.js';
import { ourClientAgainstTheirServer, type CloseFrame, type TheirServer } from './server-scenarios.js';
import { WsDriver } from './ws-driver.js';

afterEach(cleanup);

const require = createRequire(import.meta.url);
function wsPackage(): string | null {
  try {
    return require.resolve('ws/package.json');
  } catch {
    return null;
  }
}
const WS_PACKAGE = wsPackage();
const VERSION = WS_PACKAGE === null ? '' : (require(WS_PACKAGE) as { version: string }).version;

/** ws's WebSocketServer on 127.0.0.1:0, echoing, for one test. */
async function wsServer(deflate: boolean): Promise<TheirServer> {
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: deflate, maxPayload: 32 * 1024 * 1024 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  );
  const opened = new AsyncQueue<{ offered: string; extensions: string }>();
  const closed = new AsyncQueue<CloseFrame | null>();
  let socket: Socket | null = null;
  let current: import('ws').WebSocket | null = null;
  wss.on('connection', (ws, request: IncomingMessage) => {
    current = ws;
    socket = request.socket as Socket;
    opened.push({ offered: request.headers['sec-websocket-extensions'] ?? '', extensions: ws.extensions });
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    ws.once('close', (code: number, reason: Buffer) => closed.push(code === 1005 || code === 1006 ? null : { code, reason: reason.toString('utf8') }));
  });
  const { port } = wss.address() as { port: number };
  const connection = (): import('ws').WebSocket => {
    if (current === null) throw new Error('no connection yet');
    return current;
  };
  return {
    url: `ws://${HOST}:${port}/`,
    opened: () => opened.next(),
    async pingUs() {
      const payload = Buffer.from('from ws');
      const ws = connection();
      const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
      ws.ping(payload);
      expect(await pong).toEqual(payload);
    },
    async closeUs(_ws, code, reason) {
      connection().close(code, reason);
    },
    closed: () => closed.next(),
    wire: () => ({ read: socket!.bytesRead, written: socket!.bytesWritten }),
  };
}

describeWithPeer({ name: 'ws', install: 'npm ci (ws is a dev dependency)', path: WS_PACKAGE }, `ws ${VERSION}`, () => {
  describe('its client -> our server', () => {
    theirClientAgainstOurServer({
      spawn: (url, deflate) => new WsDriver(url, deflate),
      deflate: [true, false],
      offer: (deflate) => (deflate ? 'permessage-deflate; client_max_window_bits' : undefined),
      compressesOutgoing: true,
      sendsPings: true,
      // ws answers a close with the code and reason it received.
      echoedReason: (reason) => reason,
    });
  });

  describe('our client -> its server', () => {
    ourClientAgainstTheirServer({ start: wsServer, echoedReason: (reason) => reason });
  });
});
