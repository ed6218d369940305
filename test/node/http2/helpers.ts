/**
 * Helpers for WebSockets over HTTP/2 (RFC 8441): our server attached to a `node:http2` server on
 * 127.0.0.1 port 0 (cleartext h2c, or TLS with a throwaway certificate), and a raw peer written
 * with Node's own `http2` client: it sends the extended CONNECT itself and reads the server's
 * frames from the stream byte for byte (testkit's reader), as RawClient does on a TCP socket.
 */

import {
  connect as http2Connect,
  constants,
  createSecureServer,
  createServer as createH2cServer,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type SecureServerOptions,
  type ServerOptions as H2ServerOptions,
} from 'node:http2';
import { WebSocketServer, type ServerOptions } from '../../../src/index.js';
import type { Ws } from '../../../src/node/ws.js';
import { HOST, RawFrameClient, defer, instrument, type TestServer } from '../helpers.js';

export interface Http2TestServer extends TestServer {
  readonly http2: Http2Server | Http2SecureServer;
  /** Every HTTP/2 session the server accepted, in order. */
  readonly sessions: Http2Session[];
}

export interface Http2ServerSetup {
  /** TLS (h2 by ALPN) with this certificate; cleartext h2c without. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly allowHTTP1?: boolean };
  /** Options of the node:http2 server itself. */
  readonly http2Options?: H2ServerOptions | SecureServerOptions;
  /** Attach the WebSocketServer (default), or leave routing to the test. */
  readonly attach?: boolean;
}

/** A WebSocketServer attached to a node:http2 server on 127.0.0.1:0; both closed after the test. */
export async function startHttp2Server(options: ServerOptions = {}, setup: Http2ServerSetup = {}): Promise<Http2TestServer> {
  const { options: wrapped, errors, connections } = instrument(options);
  const wss = new WebSocketServer(wrapped);
  const http2 =
    setup.tls === undefined
      ? createH2cServer(setup.http2Options ?? {})
      : createSecureServer({ ...setup.http2Options, cert: setup.tls.cert, key: setup.tls.key, allowHTTP1: setup.tls.allowHTTP1 ?? false });
  const sessions: Http2Session[] = [];
  http2.on('session', (session: Http2Session) => sessions.push(session));
  if (setup.attach !== false) wss.attach(http2);
  await new Promise<void>((resolve, reject) => {
    http2.once('error', reject);
    http2.listen(0, HOST, () => resolve());
  });
  defer(async () => {
    await wss.close({ timeout: 100 });
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => http2.close(() => resolve()));
  });
  const port = (http2.address() as { port: number }).port;
  const url = setup.tls === undefined ? `ws://${HOST}:${port}` : `wss://localhost:${port}`;
  return { server: wss, port, url, errors, connections, http2, sessions };
}

/** An h2c WebSocketServer with the TestServer shape, for suites parameterized by transport. */
export function startH2cServer(options: ServerOptions = {}): Promise<TestServer> {
  return startHttp2Server(options);
}

/** A client HTTP/2 session to 127.0.0.1:port (h2c), closed after the test; resolves once the server's SETTINGS are in. */
export async function rawSession(port: number): Promise<ClientHttp2Session> {
  const session = http2Connect(`http://${HOST}:${port}`);
  session.on('error', () => {
    // The streams report what matters; a session error also closes it.
  });
  defer(() => session.destroy());
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
  });
  return session;
}

export interface RawStreamOptions {
  readonly path?: string;
  /** Header fields added to (or, undefined, removed from) the WebSocket's extended CONNECT. */
  readonly headers?: Readonly<Record<string, string | undefined>>;
  /** A session to open the stream on (the default: a new one). */
  readonly session?: ClientHttp2Session;
}

/** The extended CONNECT of a WebSocket to 127.0.0.1:port, with changes. */
export function connectHeaders(port: number, options: RawStreamOptions = {}): Record<string, string> {
  const headers: Record<string, string | undefined> = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'http',
    ':authority': `${HOST}:${port}`,
    ':path': options.path ?? '/',
    'sec-websocket-version': '13',
    ...options.headers,
  };
  return Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/**
 * A WebSocket client on one HTTP/2 stream: sends the extended CONNECT itself, reads the response,
 * then parses the server's frames from the stream as they come. `socket` is the stream (what
 * tests write to, end and destroy, as RawClient's socket).
 */
export class RawStreamClient extends RawFrameClient {
  readonly socket: ClientHttp2Stream;
  readonly session: ClientHttp2Session;
  /** The server ended its side of the stream (END_STREAM). */
  readonly ended: Promise<void>;
  /** The stream is closed (both sides ended, or reset). */
  readonly closed: Promise<void>;
  /** The response's header fields, `:status` included, once it has arrived. */
  readonly response: Promise<IncomingHttpHeaders>;
  /** Bytes of the body of a response other than 200. */
  body = Buffer.alloc(0);
  private isEnded = false;
  private status = 0;

  constructor(session: ClientHttp2Session, headers: Record<string, string>) {
    super();
    this.session = session;
    const stream = (this.socket = session.request(headers, { endStream: false }));
    stream.on('error', () => {
      // 'close' follows; resets are part of what these tests provoke.
    });
    this.response = new Promise((resolve, reject) => {
      stream.once('response', (fields) => {
        this.status = Number(fields[':status']);
        resolve(fields);
      });
      stream.once('close', () => reject(new Error(`the stream closed before a response (RST_STREAM ${stream.rstCode})`)));
    });
    this.response.catch(() => {});
    // As a TCP socket without allowHalfOpen (RawClient's): the server's END_STREAM is answered
    // with ours, which closes the stream. Not at once: Node's client reports a RST_STREAM as
    // 'end' first, then 'aborted', and an END_STREAM sent in between would hide the reset code.
    this.ended = new Promise((resolve) =>
      stream.once('end', () => {
        this.isEnded = true;
        setImmediate(() => {
          if (!stream.closed && !stream.destroyed && !stream.aborted) stream.end();
        });
        resolve();
      }),
    );
    this.closed = new Promise((resolve) => stream.once('close', () => resolve()));
    stream.once('close', () => this.frames.end(new Error('the stream closed')));
    stream.on('data', (chunk: Buffer) => {
      if (this.status === 200) this.reader.push(chunk);
      else this.body = Buffer.concat([this.body, chunk]);
    });
    defer(() => {
      if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    });
  }

  /** Whether the server's END_STREAM has arrived. */
  get hasEnded(): boolean {
    return this.isEnded;
  }

  /** The RST_STREAM code the stream closed with (0 for none), once closed. */
  get rstCode(): number | undefined {
    return this.socket.rstCode;
  }
}

/** Opens a raw stream client and waits for its response; throws unless it is a 200. */
export async function rawStreamConnect(port: number, options: RawStreamOptions = {}): Promise<RawStreamClient> {
  const session = options.session ?? (await rawSession(port));
  const client = new RawStreamClient(session, connectHeaders(port, options));
  const response = await client.response;
  if (Number(response[':status']) !== 200) throw new Error(`expected :status 200, got ${String(response[':status'])}`);
  return client;
}

/** Waits for the next server-side connection and checks it came over HTTP/2. */
export async function nextH2Connection(server: TestServer): Promise<Ws> {
  const ws = await server.connections.next();
  if (ws.transport !== 'h2') throw new Error(`expected a connection over h2, got ${ws.transport}`);
  return ws;
}
