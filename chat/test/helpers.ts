/**
 * What the chat's tests share: a chat server on 127.0.0.1:0 closed after the test, a client (the
 * `ws` npm package, as another program would connect) that queues every envelope it gets, and raw
 * HTTP for the refusals. Nothing waits for a fixed time: a test waits for the message it expects,
 * bounded by vitest's timeout.
 */

import { once } from 'node:events';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { vi } from 'vitest';
import WebSocket from 'ws';
import { createChatServer, type ChatOptions, type ChatServer } from '../src/index.js';
import type { Envelope } from '../src/protocol.js';

export const HOST = '127.0.0.1';

const cleanups: (() => unknown)[] = [];

/** Registers something to undo after the current test (run in reverse order). */
export function defer(fn: () => unknown): void {
  cleanups.push(fn);
}

/** For afterEach: real timers first (closing must not wait on a fake clock), then every cleanup. */
export async function cleanup(): Promise<void> {
  vi.useRealTimers();
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch {
      // a cleanup that fails must not hide the test's own result
    }
  }
}

export interface LogCapture {
  readonly lines: Record<string, unknown>[];
}

/** A pino logger whose JSON lines the test reads. */
export function captureLogs(level = 'info'): { logger: Logger; capture: LogCapture } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level }, stream), capture: { lines } };
}

export interface TestChat {
  readonly chat: ChatServer;
  readonly port: number;
  readonly url: string;
  readonly http: string;
}

/** A chat server on 127.0.0.1:0, silent unless a logger is given, closed after the test. */
export async function startChat(options: ChatOptions = {}): Promise<TestChat> {
  const chat = await createChatServer({ logLevel: 'silent', ...options });
  const { port } = await chat.listen(0, HOST);
  defer(() => chat.close());
  return { chat, port, url: `ws://${HOST}:${port}/ws`, http: `http://${HOST}:${port}` };
}

/** A queue whose next() waits for the next item. */
export class Queue<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((item: T) => void)[] = [];

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter === undefined) this.items.push(item);
    else waiter(item);
  }

  next(): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get pending(): number {
    return this.items.length;
  }
}

export type Received = Envelope & { readonly data: Record<string, unknown> | null };

export interface ChatClient {
  readonly ws: WebSocket;
  /** Every envelope received, in order. */
  readonly received: Received[];
  /** Bytes of every message received (payloads). */
  readonly bytes: () => number;
  next(): Promise<Received>;
  /** Skips envelopes until one of `type` (those skipped stay in `received`); rejects after `ms` (default 20 s) saying what came. */
  nextOf(type: string, ms?: number): Promise<Received>;
  send(message: unknown): void;
  /** Sends a heartbeat and waits for its answer: everything the server sent before it has arrived. */
  sync(): Promise<void>;
  close(code?: number): Promise<{ code: number; reason: string }>;
  readonly closed: Promise<{ code: number; reason: string }>;
}

export interface ClientOptions {
  readonly username?: string;
  readonly userId?: string;
  readonly room?: string;
  readonly since?: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
  /** For `wss://`: the certificate (PEM) to trust. */
  readonly ca?: string;
  /** The local address to connect from (any 127.x.y.z on Linux: a distinct client address on loopback). */
  readonly localAddress?: string;
}

/** Connects to `/ws` as a user (resolves once open, its listeners attached before any message). */
export async function connectClient(base: string, options: ClientOptions = {}): Promise<ChatClient> {
  const query = new URLSearchParams();
  if (options.username !== undefined || options.query === undefined) query.set('username', options.username ?? 'Ana');
  if (options.userId !== undefined || options.query === undefined) query.set('userId', options.userId ?? options.username ?? 'Ana');
  if (options.room !== undefined) query.set('room', options.room);
  if (options.since !== undefined) query.set('since', options.since);
  for (const [name, value] of Object.entries(options.query ?? {})) query.set(name, value);
  const ws = new WebSocket(`${base}?${query}`, {
    headers: options.headers,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  });
  const queue = new Queue<Received>();
  const received: Received[] = [];
  let bytes = 0;
  ws.on('message', (data, isBinary) => {
    bytes += (data as Buffer).length;
    const envelope = JSON.parse(isBinary ? '"binary"' : data.toString()) as Received;
    received.push(envelope);
    queue.push(envelope);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_request, response) => reject(new Error(`unexpected response ${response.statusCode}`)));
  });
  ws.on('error', () => undefined);
  defer(() => {
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
  });
  const client: ChatClient = {
    ws,
    received,
    bytes: () => bytes,
    next: () => queue.next(),
    async nextOf(type, ms = 20_000) {
      // Bounded, so that a test that waits in vain says for what, and what came instead.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no ${type} within ${ms} ms; received: ${JSON.stringify(received.map((m) => [m.type, m.content]))}`)), ms);
      });
      try {
        for (;;) {
          const envelope = await Promise.race([queue.next(), timeout]);
          if (envelope.type === type) return envelope;
        }
      } finally {
        clearTimeout(timer);
      }
    },
    send(message) {
      ws.send(typeof message === 'string' ? message : JSON.stringify(message));
    },
    async sync() {
      ws.send(JSON.stringify({ type: 'heartbeat' }));
      await client.nextOf('heartbeat');
    },
    async close(code = 1000) {
      ws.close(code);
      return closed;
    },
    closed,
  };
  return client;
}

export interface RawResponse {
  readonly status: number;
  readonly head: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Everything the server wrote, as text. */
  readonly raw: string;
}

/** Writes `request` on a fresh TCP connection and reads everything until the server ends it (a 101: its head). */
export async function rawRequest(port: number, request: string): Promise<RawResponse> {
  const socket = connect(port, HOST);
  defer(() => socket.destroy());
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write(request, 'latin1');
  // Until the server ends the connection, or the head of a 101 (the connection then stays open).
  await new Promise<void>((resolve) => {
    socket.once('end', resolve);
    socket.on('data', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      if (text.startsWith('HTTP/1.1 101 ') && text.includes('\r\n\r\n')) resolve();
    });
  });
  const raw = Buffer.concat(chunks).toString('utf8');
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split);
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(head.split(' ')[1]), head, headers, body: raw.slice(split + 4), raw };
}

/** A WebSocket handshake request for `target` with extra headers. */
export function upgradeRequest(port: number, target: string, headers: Readonly<Record<string, string>> = {}): string {
  const lines = [
    `GET ${target} HTTP/1.1`,
    `Host: ${HOST}:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** GET `path` on the chat's HTTP port. */
export async function get(test: TestChat, path: string): Promise<{ status: number; type: string | null; text: string; headers: Headers }> {
  const response = await fetch(`${test.http}${path}`);
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text(), headers: response.headers };
}
