/**
 * A WebSocket server written by hand on node:net, for the tests that need exact wire behaviour
 * from the server side: it answers the handshake the way a test says (any status, any headers),
 * reads the client's masked frames byte for byte, and writes whatever bytes a test gives it.
 * Every server and socket is closed after the test (helpers.defer).
 */

import { createServer, type Socket } from 'node:net';
import { FrameCollector, acceptResponse, readRequest, type RawRequest } from '../../../testkit/index.js';
import { AsyncQueue, HOST, defer, type Frame } from '../helpers.js';

export type { RawRequest } from '../../../testkit/index.js';

/** What to answer: the whole response head, or null to leave the request unanswered. */
export type Responder = (request: RawRequest) => string | null;

/** A 101 that accepts the key, with `extra` header lines. */
export function accept(request: RawRequest, extra: readonly string[] = []): string {
  return acceptResponse(request.headers['sec-websocket-key'] ?? '', {}, extra);
}

export class RawPeer {
  readonly socket: Socket;
  readonly request: RawRequest;
  /** Frames from the client, unmasked. */
  readonly frames = new AsyncQueue<Frame>();
  readonly closed: Promise<void>;
  readonly ended: Promise<void>;
  private readonly reader = new FrameCollector((frame) => this.frames.push(frame));

  constructor(socket: Socket, request: RawRequest, rest: Buffer) {
    this.socket = socket;
    this.request = request;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    this.ended = new Promise((resolve) => socket.once('end', () => resolve()));
    socket.once('close', () => this.frames.end(new Error('the connection closed')));
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
    if (rest.length > 0) this.reader.push(rest);
  }

  /** Writes raw bytes (frames built by serverFrame()). */
  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  nextFrame(): Promise<Frame> {
    return this.frames.next();
  }
}

export interface RawServer {
  readonly port: number;
  readonly url: string;
  /** Connections whose request was answered with a 101, in order. */
  readonly peers: AsyncQueue<RawPeer>;
  /** Every request received, answered or not. */
  readonly requests: RawRequest[];
}

/** Listens on 127.0.0.1 port 0; `respond` answers each request (default: a plain 101). */
export async function startRawServer(respond: Responder = (request) => accept(request)): Promise<RawServer> {
  const peers = new AsyncQueue<RawPeer>();
  const requests: RawRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {
      // Resets are what some tests provoke; 'close' follows.
    });
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const read = readRequest(head);
      if (read === null) return;
      socket.off('data', onData);
      const { request, rest } = read;
      requests.push(request);
      const response = respond(request);
      if (response === null) return;
      socket.write(response);
      if (response.startsWith('HTTP/1.1 101')) peers.push(new RawPeer(socket, request, rest));
      else socket.end();
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve());
  });
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { port: address.port, url: `ws://${HOST}:${address.port}`, peers, requests };
}
