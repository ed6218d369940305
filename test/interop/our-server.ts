/**
 * Our server as an interop peer: an echo server that records what it received (type, size, SHA-256)
 * and hands the test each connection with its TCP socket, whose byte counters show whether
 * permessage-deflate really shrank the traffic.
 */

import type { Socket } from 'node:net';
import type { Ws } from '../../src/index.js';
import { AsyncQueue, startServer, type TestServer } from '../node/helpers.js';
import { sha256 } from './scripted.js';

export interface Received {
  readonly type: 'text' | 'binary';
  readonly size: number;
  readonly sha256: string;
  /** Text messages up to 4 KiB, for exact comparison. */
  readonly data?: string;
  /** Binary messages up to 4 KiB, in hex. */
  readonly hex?: string;
}

export interface OurConnection {
  readonly ws: Ws;
  readonly socket: Socket;
  /** The client's Sec-WebSocket-Extensions header, if it sent one. */
  readonly offered: string | undefined;
}

export interface OurEchoServer {
  readonly url: string;
  readonly server: TestServer;
  readonly connections: AsyncQueue<OurConnection>;
  readonly received: AsyncQueue<Received>;
}

/** Our WebSocketServer on 127.0.0.1:0, echoing; with `deflate`, permessage-deflate on its defaults. */
export async function ourEchoServer(deflate: boolean): Promise<OurEchoServer> {
  const connections = new AsyncQueue<OurConnection>();
  const received = new AsyncQueue<Received>();
  const server = await startServer({
    perMessageDeflate: deflate,
    async handler(ws, request) {
      connections.push({ ws, socket: request.socket as Socket, offered: request.headers['sec-websocket-extensions'] });
      for await (const message of ws) {
        const bytes = message.type === 'text' ? Buffer.from(message.data, 'utf8') : message.data;
        received.push({
          type: message.type,
          size: bytes.length,
          sha256: sha256(bytes),
          ...(bytes.length > 4096 ? {} : message.type === 'text' ? { data: message.data } : { hex: bytes.toString('hex') }),
        });
        await ws.send(message.data);
      }
    },
  });
  return { url: `${server.url}/`, server, connections, received };
}
