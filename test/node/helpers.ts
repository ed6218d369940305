/**
 * Shared helpers for the Node-layer integration tests: real servers on 127.0.0.1 port 0, a raw
 * `node:net` WebSocket client that performs the handshake itself and reads server frames byte for
 * byte, a `ws` npm client wrapper, and one cleanup list that every test file runs in afterEach.
 *
 * Nothing here sleeps for a fixed time: everything waits for events or promises.
 */

import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
// Real timers even where a test fakes the global ones (vi.useFakeTimers replaces globalThis.setTimeout,
// not node:timers): a bound on a wait stays a bound in real time on a fake clock.
import { clearTimeout as realClearTimeout, setTimeout as realSetTimeout } from 'node:timers';
import { expect, vi } from 'vitest';
import WebSocket from 'ws';
import { WebSocketServer, type ServerOptions } from '../../src/index.js';
import type { Ws } from '../../src/node/ws.js';
import {
  FrameCollector,
  MessageDeflater as KitDeflater,
  MessageInflater as KitInflater,
  acceptFor,
  buildFrame,
  check101,
  newKey,
  parseHead,
  splitHead,
  statusOf,
  upgradeRequest as requestText,
  type Frame,
  type FrameFields,
} from '../../testkit/index.js';

// Frames, keys and the handshake come from testkit/ (independent of src/); re-exported under the
// names the tests use.
export { OP, acceptFor, closePayload, unmaskedFrame as serverFrame, type Frame } from '../../testkit/index.js';

export const HOST = '127.0.0.1';

// ---- cleanup -----------------------------------------------------------------------------------

const cleanups: Array<() => unknown> = [];

/** Registers something to undo after the current test (run in reverse order). */
export function defer(fn: () => unknown): void {
  cleanups.push(fn);
}

/**
 * Runs every registered cleanup; for afterEach. Real timers first, if the test faked them: the fake
 * timers still pending are dropped, and closing servers and clients must not wait for a clock that
 * nobody advances any more.
 */
export async function cleanup(): Promise<void> {
  vi.useRealTimers();
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch {
      // Cleanup must go on; a failure here is not the test's result.
    }
  }
}

// ---- small async utilities ---------------------------------------------------------------------

/** A FIFO of values produced by events, consumed by awaiting next(). */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<{ resolve: (value: T) => void; reject: (error: Error) => void }> = [];
  private error: Error | null = null;

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve(item);
    else this.items.push(item);
  }

  /** No more items will come: pending and future next() calls reject with `error`. */
  end(error: Error): void {
    if (this.error !== null) return;
    this.error = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  next(): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    if (this.error !== null) return Promise.reject(this.error);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  get size(): number {
    return this.items.length;
  }
}

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1): the same draws for the same seed, so a plan can be replayed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Lets pending callbacks run: one full turn of the event loop (not a timed wait). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Polls `condition` once per event-loop turn, at most `maxTurns` times; throws if it never held.
 * For state that changes without an event the test can await.
 */
export async function until(condition: () => boolean, what: string, maxTurns = 10_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (condition()) return;
    await nextTurn();
  }
  throw new Error(`condition never held: ${what}`);
}

/** Settles with the promise's outcome, as a value (for asserting on rejections). */
export async function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

// ---- servers -----------------------------------------------------------------------------------

/**
 * Errors are reported one way (issue 14): a method that returns a promise never throws, it
 * rejects. Calls `call` (which must not throw), and expects its promise to reject with `code`.
 */
export async function expectRejection(call: () => Promise<unknown>, code: string): Promise<unknown> {
  let promise: Promise<unknown> | undefined;
  expect(() => {
    promise = call();
  }).not.toThrow();
  const outcome = await settle(promise!);
  expect(outcome.ok).toBe(false);
  const error = (outcome as { error: unknown }).error;
  expect(error).toMatchObject({ code });
  return error;
}

export interface TestServer {
  readonly server: WebSocketServer;
  readonly port: number;
  readonly url: string;
  /** Errors passed to onError, in order. */
  readonly errors: unknown[];
  /** Server-side connections, in the order the handler received them. */
  readonly connections: AsyncQueue<Ws>;
}

/** The echo handler of the brief: text back as text, binary as binary. */
export async function echoHandler(ws: Ws): Promise<void> {
  for await (const message of ws) await ws.send(message.data);
}

/** Wraps options so the test sees each connection and each reported error. */
export function instrument(options: ServerOptions): {
  options: ServerOptions;
  errors: unknown[];
  connections: AsyncQueue<Ws>;
} {
  const errors: unknown[] = [];
  const connections = new AsyncQueue<Ws>();
  const handler = options.handler;
  const onError = options.onError;
  return {
    errors,
    connections,
    options: {
      ...options,
      // Not async: a handler that throws synchronously must still throw synchronously.
      handler: (ws, request) => {
        connections.push(ws);
        return handler?.(ws, request);
      },
      onError: (error, ws) => {
        errors.push(error);
        onError?.(error, ws);
      },
    },
  };
}

/** A WebSocketServer on its own HTTP server (listen(0, 127.0.0.1)), closed after the test. */
export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const { options: wrapped, errors, connections } = instrument(options);
  const server = new WebSocketServer(wrapped);
  const address = await server.listen(0, HOST);
  defer(() => server.close({ timeout: 100 }));
  return { server, port: address.port, url: `ws://${HOST}:${address.port}`, errors, connections };
}

/** A plain http server on 127.0.0.1:0, closed (with every connection) after the test. */
export async function startHttpServer(server: HttpServer = createHttpServer()): Promise<number> {
  // Upgraded sockets are no longer the HTTP server's to close: track every socket to destroy it.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve());
  });
  defer(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      }),
  );
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return address.port;
}

/** A port that was free a moment ago (for the CLI, which must be told a port). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no address');
  return address.port;
}

/**
 * A port where a TCP connect to {@link HOST} is refused for the whole run, for tests of what a
 * refused connection does. Not {@link freePort}: a port the kernel just handed out and took back
 * can be handed out again at once, to a server of the same test (tinyproxy's, in a CI run) or of
 * a parallel test file, and then something answers. A port below the kernel's ephemeral
 * range is never handed out for port 0 nor taken by an outgoing connection, and no test listens on
 * a fixed one there; this one is checked to refuse before it is given.
 */
export async function refusedPort(): Promise<number> {
  refused ??= (async () => {
    const low = ephemeralLow();
    for (let port = 1; port < Math.min(low, 1024); port++) {
      const outcome = await new Promise<string>((resolve) => {
        const socket = connect(port, HOST);
        socket.once('connect', () => (socket.destroy(), resolve('open')));
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      });
      if (outcome === 'ECONNREFUSED') return port;
    }
    throw new Error(`no port below ${Math.min(low, 1024)} refuses connections on ${HOST}`);
  })();
  return refused;
}
let refused: Promise<number> | undefined;

/** The first port of Linux's ephemeral range (its default where /proc does not say). */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}

// ---- frames ------------------------------------------------------------------------------------

/** A masked client frame (a fresh random key unless `spec.mask`), built by testkit, not by src/. */
export function clientFrame(spec: FrameFields): Buffer {
  return buildFrame({ ...spec, mask: spec.mask ?? 'random' });
}

export function text(value: string): Buffer {
  return Buffer.from(value, 'utf8');
}

// ---- permessage-deflate with context takeover --------------------------------------------------

/** testkit's inflater that keeps its window between messages (RFC 7692 7.2.2), closed after the test. */
export class MessageInflater extends KitInflater {
  constructor(windowBits = 15) {
    super(windowBits);
    defer(() => this.close());
  }
}

/** testkit's deflater that keeps its window between messages (RFC 7692 7.2.1), closed after the test. */
export class MessageDeflater extends KitDeflater {
  constructor(windowBits = 15) {
    super(windowBits);
    defer(() => this.close());
  }
}

// ---- raw client --------------------------------------------------------------------------------

export interface HttpHead {
  readonly status: number;
  readonly statusLine: string;
  /** Lower-case names; repeated headers joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
}

function toHttpHead(head: string): HttpHead {
  const { startLine, headers } = parseHead(head);
  return { status: statusOf(startLine), statusLine: startLine, headers };
}

export interface RawConnectOptions {
  readonly path?: string;
  /** Headers added to (or replacing, by exact name) the default handshake headers. */
  readonly headers?: Readonly<Record<string, string | undefined>>;
  /** Bytes sent in the same write as the request, right after it. */
  readonly head?: Uint8Array;
  readonly method?: string;
  readonly key?: string;
}

/**
 * A WebSocket client on a bare TCP socket: writes the handshake request itself, reads the HTTP
 * response, then parses the server's frames from the stream as they come.
 */
/**
 * What the raw clients share, over a TCP connection (RawClient) and over an HTTP/2 stream
 * (http2/helpers.ts): bytes and masked frames out, the server's frames in.
 */
export abstract class RawFrameClient {
  abstract readonly socket: { write(bytes: Uint8Array): boolean };
  readonly frames = new AsyncQueue<Frame>();
  protected readonly reader = new FrameCollector((frame) => this.frames.push(frame));

  /** Writes raw bytes. */
  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Writes one masked frame. */
  sendFrame(spec: FrameFields): void {
    this.socket.write(clientFrame(spec));
  }

  /** The next frame from the server (rejects if the connection or stream closes first). */
  nextFrame(): Promise<Frame> {
    return this.frames.next();
  }
}

export class RawClient extends RawFrameClient {
  readonly socket: Socket;
  /** The server ended its side of TCP (FIN). */
  readonly ended: Promise<void>;
  /** The socket is fully closed. */
  readonly closed: Promise<void>;
  response: HttpHead | null = null;
  /** Bytes of the body of a non-101 response. */
  body = Buffer.alloc(0);
  readonly key: string;

  private readonly responseWaiters: Array<(head: HttpHead) => void> = [];
  private headBytes = Buffer.alloc(0);
  private isEnded = false;

  constructor(port: number, key = newKey()) {
    super();
    this.key = key;
    this.socket = connect(port, HOST);
    this.socket.setNoDelay(true);
    this.socket.on('error', () => {
      // 'close' follows; resets are part of what these tests provoke.
    });
    this.ended = new Promise((resolve) =>
      this.socket.once('end', () => {
        this.isEnded = true;
        resolve();
      }),
    );
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.once('close', () => this.frames.end(new Error('the connection closed')));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    defer(() => this.socket.destroy());
  }

  /** Whether the server's FIN has arrived. */
  get hasEnded(): boolean {
    return this.isEnded;
  }

  /** Writes the opening handshake request (and `head` in the same write). */
  sendRequest(options: RawConnectOptions = {}): void {
    const request = requestText({
      host: `${HOST}:${this.socket.remotePort ?? 0}`,
      key: options.key ?? this.key,
      method: options.method,
      path: options.path,
      headers: options.headers,
    });
    const bytes = Buffer.from(request, 'latin1');
    this.socket.write(options.head ? Buffer.concat([bytes, options.head]) : bytes);
  }

  /** The HTTP response head, once it has arrived. */
  responseHead(): Promise<HttpHead> {
    if (this.response !== null) return Promise.resolve(this.response);
    return new Promise((resolve, reject) => {
      this.responseWaiters.push(resolve);
      this.socket.once('close', () => {
        if (this.response === null) reject(new Error('the connection closed before a response'));
      });
    });
  }

  private onData(chunk: Buffer): void {
    if (this.response === null) {
      this.headBytes = Buffer.concat([this.headBytes, chunk]);
      const split = splitHead(this.headBytes);
      if (split === null) return;
      const head = toHttpHead(split.head);
      this.response = head;
      this.headBytes = Buffer.alloc(0);
      for (const waiter of this.responseWaiters.splice(0)) waiter(head);
      if (head.status !== 101) {
        this.body = Buffer.from(split.rest);
        return;
      }
      if (split.rest.length > 0) this.reader.push(split.rest);
      return;
    }
    if (this.response.status !== 101) {
      this.body = Buffer.concat([this.body, chunk]);
      return;
    }
    this.reader.push(chunk);
  }
}

/** Opens a raw client and completes the handshake; throws unless the answer is a correct 101. */
export async function rawConnect(port: number, options: RawConnectOptions = {}): Promise<RawClient> {
  const client = new RawClient(port, options.key);
  await new Promise<void>((resolve, reject) => {
    client.socket.once('connect', resolve);
    client.socket.once('error', reject);
  });
  client.sendRequest(options);
  const head = await client.responseHead();
  check101({ startLine: head.statusLine, headers: head.headers }, acceptFor(client.key));
  return client;
}

export interface RawHttpResult extends HttpHead {
  readonly body: string;
}

/**
 * Sends `request` as is on a new TCP connection and reads until the server closes it. Resolves
 * only if the server ends the connection (the tests rely on that to prove it does).
 */
export async function rawHttp(port: number, request: string): Promise<RawHttpResult> {
  const client = new RawClient(port);
  await new Promise<void>((resolve, reject) => {
    client.socket.once('connect', resolve);
    client.socket.once('error', reject);
  });
  client.send(Buffer.from(request, 'latin1'));
  const head = await client.responseHead();
  await client.ended;
  await client.closed;
  return { ...head, body: client.body.toString('utf8') };
}

/** A handshake request with the given changes (undefined removes a header). */
export function upgradeRequest(
  options: { method?: string; path?: string; headers?: Readonly<Record<string, string | undefined>> } = {},
): string {
  return requestText({ host: HOST, key: newKey(), ...options });
}

// ---- ws npm client -----------------------------------------------------------------------------

export interface WsMessage {
  readonly data: Buffer;
  readonly isBinary: boolean;
}

export interface WsClient {
  readonly ws: WebSocket;
  readonly messages: AsyncQueue<WsMessage>;
  readonly pings: AsyncQueue<Buffer>;
  /** The close code and reason the client saw. */
  readonly closed: Promise<{ code: number; reason: string }>;
}

/** Connects the `ws` npm client (the interop peer); terminated after the test. */
export async function wsConnect(
  url: string,
  protocols?: string | string[],
  options: WebSocket.ClientOptions = {},
): Promise<WsClient> {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options });
  defer(() => ws.terminate());
  const messages = new AsyncQueue<WsMessage>();
  const pings = new AsyncQueue<Buffer>();
  ws.on('message', (data, isBinary) => messages.push({ data: data as Buffer, isBinary }));
  ws.on('ping', (data) => pings.push(data));
  ws.on('error', () => {
    // 'close' follows.
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => {
      messages.end(new Error(`closed with ${code}`));
      pings.end(new Error(`closed with ${code}`));
      resolve({ code, reason: reason.toString('utf8') });
    });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, messages, pings, closed };
}

// ---- timing helpers (limits and keepalive tests) -------------------------------------------------

/**
 * Rejects if `promise` has not settled within `ms` of real time (also on a fake clock): a bound on
 * how long a test waits for an event that must come, so that a missing feature fails fast instead
 * of at the test timeout.
 */
export function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = realSetTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => realClearTimeout(timer));
}

/** A RawClient whose TCP connection is established, with nothing sent yet. */
export async function openRawClient(port: number): Promise<RawClient> {
  const client = new RawClient(port);
  await new Promise<void>((resolve, reject) => {
    client.socket.once('connect', resolve);
    client.socket.once('error', reject);
  });
  return client;
}

/**
 * A slowloris client: writes `bytes` to `socket` one byte every `everyMs` milliseconds. Stops when
 * every byte is written, when the socket ends or closes, or after the test. `sent()` counts bytes.
 */
export function drip(socket: Socket, bytes: Uint8Array, everyMs: number): { stop(): void; sent(): number } {
  let index = 0;
  const timer = setInterval(() => {
    if (index >= bytes.length || socket.destroyed || !socket.writable) {
      clearInterval(timer);
      return;
    }
    socket.write(bytes.subarray(index, index + 1));
    index++;
  }, everyMs);
  const stop = (): void => clearInterval(timer);
  socket.once('end', stop);
  socket.once('close', stop);
  defer(stop);
  return { stop, sent: () => index };
}
