/**
 * A WebSocket server written by hand on node:net, for the tests that need exact wire behaviour
 * from the server side: it answers the handshake the way a test says (any status, any headers),
 * reads the client's masked frames byte for byte, and writes whatever bytes a test gives it.
 * Every server and socket is closed after the test (helpers.defer).
 */

import { createServer, type Socket } from 'node:net';
import { AsyncQueue, HOST, acceptFor, defer, type Frame } from '../helpers.js';

export interface RawRequest {
  readonly requestLine: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
}

/** What to answer: the whole response head, or null to leave the request unanswered. */
export type Responder = (request: RawRequest) => string | null;

/** A 101 that accepts the key, with `extra` header lines. */
export function accept(request: RawRequest, extra: readonly string[] = []): string {
  const key = request.headers['sec-websocket-key'] ?? '';
  return ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`, ...extra, '', ''].join('\r\n');
}

export class RawPeer {
  readonly socket: Socket;
  readonly request: RawRequest;
  /** Frames from the client, unmasked. */
  readonly frames = new AsyncQueue<Frame>();
  readonly closed: Promise<void>;
  readonly ended: Promise<void>;
  private buffered = Buffer.alloc(0);

  constructor(socket: Socket, request: RawRequest, rest: Buffer) {
    this.socket = socket;
    this.request = request;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    this.ended = new Promise((resolve) => socket.once('end', () => resolve()));
    socket.once('close', () => this.frames.end(new Error('the connection closed')));
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    if (rest.length > 0) this.push(rest);
  }

  /** Writes raw bytes (frames built by serverFrame()). */
  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  nextFrame(): Promise<Frame> {
    return this.frames.next();
  }

  private push(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const bytes = this.buffered;
      if (bytes.length < 2) return;
      const len7 = bytes[1]! & 0x7f;
      const masked = (bytes[1]! & 0x80) !== 0;
      const headerSize = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
      if (bytes.length < headerSize) return;
      const length = len7 === 126 ? bytes.readUInt16BE(2) : len7 === 127 ? Number(bytes.readBigUInt64BE(2)) : len7;
      if (bytes.length < headerSize + length) return;
      const raw = Buffer.from(bytes.subarray(0, headerSize + length));
      this.buffered = bytes.subarray(headerSize + length);
      const key = masked ? raw.subarray(headerSize - 4, headerSize) : null;
      const payload = Buffer.from(raw.subarray(headerSize).map((byte, i) => (key === null ? byte : byte ^ key[i % 4]!)));
      this.frames.push({ fin: (raw[0]! & 0x80) !== 0, rsv: (raw[0]! >> 4) & 7, opcode: raw[0]! & 0x0f, masked, payload, raw });
    }
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
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const request = { requestLine: lines[0] ?? '', headers };
      requests.push(request);
      const response = respond(request);
      if (response === null) return;
      socket.write(response);
      if (response.startsWith('HTTP/1.1 101')) peers.push(new RawPeer(socket, request, head.subarray(end + 4)));
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
