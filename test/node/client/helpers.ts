/**
 * Helpers for the client's integration tests: a raw WebSocket server on a bare TCP socket (it
 * reads the request, answers what the test says, and parses the client's masked frames byte for
 * byte), the `ws` npm server, and server frames built independently of src/. External tools
 * (openssl, tinyproxy) are in tools.ts.
 *
 * Every server is stopped after its test (defer from ../helpers.ts). Nothing sleeps.
 */

import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { expect } from 'vitest';
import WebSocket, { WebSocketServer as WsServer } from 'ws';
import { ConnectError, connect, type ClientOptions, type ConnectPhase, type Ws } from '../../../src/index.js';
import { FrameCollector, acceptResponse, buildFrame, readRequest, type Frame, type RawRequest } from '../../../testkit/index.js';
import { AsyncQueue, HOST, deferred, defer, settle } from '../helpers.js';

// The raw server's frames, handshake and close payloads are testkit's (independent of src/).
export { parseClose, type RawRequest } from '../../../testkit/index.js';

// ---- connecting ----------------------------------------------------------------------------------

/** connect(), the Ws terminated after the test. */
export async function dial(url: string, options: ClientOptions = {}): Promise<Ws> {
  const ws = await connect(url, options);
  defer(() => ws.terminate());
  return ws;
}

/** The ConnectError a connect rejects with, checked for its code, its phase and a message. */
export async function connectFailure(
  promise: Promise<Ws>,
  code: ConnectError['code'],
  phase: ConnectPhase | undefined,
): Promise<ConnectError> {
  const outcome = await settle(promise);
  if (outcome.ok) {
    outcome.value.terminate();
    throw new Error(`connect() resolved; expected ${code}`);
  }
  expect(outcome.error).toBeInstanceOf(ConnectError);
  const error = outcome.error as ConnectError;
  expect({ code: error.code, phase: error.phase }).toEqual({ code, phase });
  expect(error.message).not.toBe('');
  return error;
}

// ---- stopping servers ------------------------------------------------------------------------------

/** Tracks a server's sockets so the test can destroy them all when it stops the server. */
export function stopAfterTest(server: NetServer): void {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // TLS servers report their TCP sockets here (their 'connection' gives the raw socket too).
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        if (!server.listening) resolve();
        else server.close(() => resolve());
      }),
  );
}

/** Listens on 127.0.0.1:0 (or `path`) and resolves with the port (0 for a path). */
export function listen(server: NetServer, path?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      const address = server.address();
      resolve(address !== null && typeof address === 'object' ? address.port : 0);
    };
    if (path !== undefined) server.listen(path, done);
    else server.listen(0, HOST, done);
  });
}

// ---- a raw server ------------------------------------------------------------------------------------

/** A frame from the client: `mask` is its masking key, `payload` unmasked. */
export type ClientFrame = Frame;

/** One connection to a RawServer. */
export class RawPeer {
  readonly socket: Socket;
  readonly frames = new AsyncQueue<ClientFrame>();
  /** What happened on the socket, in order: 'request', 'client-fin' (the client's FIN), 'server-fin' (ours was sent), 'close'. */
  readonly events: string[] = [];
  /** The client's FIN arrived. */
  readonly clientEnded: Promise<void>;
  readonly closed: Promise<void>;
  /** The client has let go of the connection: its FIN, or a reset, arrived. */
  readonly gone: Promise<void>;
  private readonly requestReady = deferred<RawRequest>();
  private buffer: Buffer = Buffer.alloc(0);
  private parsedRequest: RawRequest | null = null;
  private readonly reader = new FrameCollector((frame) => this.frames.push(frame));

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('error', () => {
      // 'close' follows; resets are what some tests provoke.
    });
    const ended = deferred();
    this.clientEnded = ended.promise;
    const closed = deferred();
    this.closed = closed.promise;
    socket.on('end', () => {
      this.events.push('client-fin');
      ended.resolve();
    });
    socket.on('finish', () => this.events.push('server-fin'));
    socket.on('close', () => {
      this.events.push('close');
      this.frames.end(new Error('the connection closed'));
      this.requestReady.reject(new Error('the connection closed before a request'));
      closed.resolve();
    });
    this.gone = Promise.race([ended.promise, closed.promise]);
    this.requestReady.promise.catch(() => {});
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  /** The request head, once it has arrived. */
  request(): Promise<RawRequest> {
    return this.requestReady.promise;
  }

  /** Answers 101 with the right Sec-WebSocket-Accept and `headers` (null leaves a header out). */
  accept(headers: Readonly<Record<string, string | null>> = {}): void {
    const key = this.parsedRequest?.headers['sec-websocket-key'] ?? '';
    this.socket.write(acceptResponse(key, headers), 'latin1');
  }

  write(bytes: Uint8Array | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** The next frame from the client (rejects if the connection closes first). */
  nextFrame(): Promise<ClientFrame> {
    return this.frames.next();
  }

  private onData(chunk: Buffer): void {
    if (this.parsedRequest !== null) return this.reader.push(chunk);
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const read = readRequest(this.buffer);
    if (read === null) return;
    this.buffer = Buffer.alloc(0);
    this.parsedRequest = read.request;
    this.events.push('request');
    this.requestReady.resolve(read.request);
    this.reader.push(read.rest);
  }
}

export interface RawServer {
  readonly port: number;
  readonly url: string;
  readonly peers: AsyncQueue<RawPeer>;
  /** Connections accepted so far. */
  readonly accepted: () => number;
}

/** A TCP server on 127.0.0.1:0 that hands each connection to the test as a RawPeer. */
export async function startRawServer(): Promise<RawServer> {
  const peers = new AsyncQueue<RawPeer>();
  let accepted = 0;
  const server = createNetServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    peers.push(new RawPeer(socket));
  });
  stopAfterTest(server);
  const port = await listen(server);
  return { port, url: `ws://${HOST}:${port}`, peers, accepted: () => accepted };
}

/**
 * Proves nothing connected to `server` before this call: connections are accepted in order, so a
 * socket dialed earlier would reach the server before this probe. Resolves once the probe is in.
 */
export async function expectNothingDialed(server: RawServer): Promise<void> {
  const probe = netConnect(server.port, HOST);
  defer(() => probe.destroy());
  const localPort = new Promise<number>((resolve, reject) => {
    probe.once('connect', () => resolve(probe.localPort!));
    probe.once('error', reject);
  });
  const peer = await server.peers.next();
  if (peer.socket.remotePort !== (await localPort)) throw new Error('a connection reached the server before the probe');
  if (server.accepted() !== 1) throw new Error(`${server.accepted()} connections, expected only the probe`);
}

// ---- the ws npm server ------------------------------------------------------------------------------

export interface WsPeer {
  readonly ws: WebSocket;
  /** The TCP socket of the connection (from the upgrade request). */
  readonly socket: Socket;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly url: string;
  readonly messages: AsyncQueue<{ data: Buffer; isBinary: boolean }>;
  readonly pings: AsyncQueue<Buffer>;
  readonly pongs: AsyncQueue<Buffer>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Socket events in order: 'client-fin', 'server-fin', 'close'. */
  readonly events: string[];
}

export interface WsNpmServer {
  readonly server: WsServer;
  readonly port: number;
  readonly url: string;
  readonly peers: AsyncQueue<WsPeer>;
}

/** The `ws` npm server (the interop peer) on 127.0.0.1:0; its connections terminated after the test. */
export async function startWsServer(options: WebSocket.ServerOptions = {}): Promise<WsNpmServer> {
  const peers = new AsyncQueue<WsPeer>();
  const server = new WsServer({ host: HOST, port: 0, ...options });
  server.on('connection', (ws, request) => {
    const messages = new AsyncQueue<{ data: Buffer; isBinary: boolean }>();
    const pings = new AsyncQueue<Buffer>();
    const pongs = new AsyncQueue<Buffer>();
    const events: string[] = [];
    const socket = request.socket as Socket;
    socket.on('end', () => events.push('client-fin'));
    socket.on('finish', () => events.push('server-fin'));
    socket.on('close', () => events.push('close'));
    ws.on('message', (data, isBinary) => messages.push({ data: data as Buffer, isBinary }));
    ws.on('ping', (data) => pings.push(data));
    ws.on('pong', (data) => pongs.push(data));
    ws.on('error', () => {
      // 'close' follows.
    });
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.once('close', (code, reason) => {
        messages.end(new Error(`closed with ${code}`));
        resolve({ code, reason: reason.toString('utf8') });
      });
    });
    peers.push({ ws, socket, headers: request.headers, url: request.url ?? '', messages, pings, pongs, closed, events });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return { server, port: address.port, url: `ws://${HOST}:${address.port}`, peers };
}

// ---- frames from the server side --------------------------------------------------------------------

/** A server frame with explicit bits (rsv as 0b0RRR), unmasked unless `mask`: testkit's buildFrame. */
export function frame(opcode: number, payload: Uint8Array | string, options: { fin?: boolean; rsv?: number; mask?: Buffer } = {}): Buffer {
  return buildFrame({ opcode, payload, ...options });
}
