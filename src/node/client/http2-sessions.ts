/**
 * The client's HTTP/2 connections (RFC 8441), shared: every WebSocket that connect() opens with
 * `http2` to one origin, with the same TLS and transport options, goes on one HTTP/2 session as a
 * stream, as a browser's do. A session is kept while anyone uses it, its WebSockets and the
 * connects waiting on it; when the last is gone it is closed (GOAWAY, then the TCP connection).
 *
 * A session is dialled once for everyone who asks at the same time: the first connect opens the
 * transport (its DNS, TCP, TLS phases and errors are its own), the others wait for it and then
 * share the session, or, if that dial fails, dial themselves so that their errors are their own.
 */

import { connect as http2Connect, type ClientHttp2Session, type Settings } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { ResolvedClientOptions } from './options.js';
import type { ProxyTarget } from './proxy.js';
import type { Target } from './url.js';

/** One HTTP/2 session to an origin, and who uses it. */
export class PooledSession {
  readonly key: string;
  readonly session: ClientHttp2Session;
  /**
   * Settles once the server's first SETTINGS arrive: whether it allows the extended CONNECT
   * (SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441 3). Rejects when the session fails first (a
   * server that does not speak HTTP/2 at all answers the connection preface with HTTP/1.1).
   */
  readonly ready: Promise<boolean>;
  private readonly pool: Http2Sessions;
  private users = 0;
  private settings: Settings | null = null;
  private gone = false;

  constructor(key: string, session: ClientHttp2Session, pool: Http2Sessions) {
    this.key = key;
    this.session = session;
    this.pool = pool;
    // The session's errors end it (and its streams, each a 1006); they are reported by the
    // WebSockets and the connects that used it, not as an unhandled 'error'.
    session.on('error', () => {});
    session.once('goaway', () => this.retire());
    session.once('close', () => this.retire());
    this.ready = new Promise<boolean>((resolve, reject) => {
      const onSettings = (settings: Settings): void => {
        session.off('close', onClose);
        this.settings = settings;
        resolve(settings.enableConnectProtocol === true);
      };
      const onClose = (): void => {
        session.off('remoteSettings', onSettings);
        reject(new Error('the connection closed before the server sent its HTTP/2 SETTINGS'));
      };
      session.once('remoteSettings', onSettings);
      session.once('close', onClose);
    });
    this.ready.catch(() => {});
  }

  /** Whether another WebSocket may open on it now: open, and under the server's stream limit. */
  get available(): boolean {
    if (this.gone || this.session.closed || this.session.destroyed) return false;
    const limit = this.settings?.maxConcurrentStreams;
    return limit === undefined || this.users < limit;
  }

  /** One more user: a connect, then the WebSocket it opened. */
  acquire(): void {
    this.users++;
  }

  /** A user is gone; the last closes the session. */
  release(): void {
    this.users--;
    if (this.users > 0) return;
    this.retire();
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }

  private retire(): void {
    if (this.gone) return;
    this.gone = true;
    this.pool.forget(this);
  }
}

/**
 * What a dial in progress gives those who wait for it: a session; 'http/1.1' when the server's TLS
 * chose HTTP/1.1; null when the dial failed (each waiter then dials itself).
 */
export type Dial = Promise<PooledSession | 'http/1.1' | null>;

export class Http2Sessions {
  private readonly sessions = new Map<string, PooledSession[]>();
  private readonly dials = new Map<string, Dial>();

  /** An open session with room for one more WebSocket, if there is one. */
  find(key: string): PooledSession | null {
    for (const pooled of this.sessions.get(key) ?? []) if (pooled.available) return pooled;
    return null;
  }

  /** The dial in progress for `key`, if any. */
  dialing(key: string): Dial | undefined {
    return this.dials.get(key);
  }

  /** Registers a dial in progress, so that concurrent connects wait for it instead of dialling. */
  startDial(key: string, dial: Dial): void {
    this.dials.set(key, dial);
    const done = (): void => {
      if (this.dials.get(key) === dial) this.dials.delete(key);
    };
    dial.then(done, done);
  }

  /** Starts an HTTP/2 session on an open transport, and pools it. */
  open(key: string, authority: string, socket: Duplex): PooledSession {
    // The transport was opened half-open for WebSockets over HTTP/1.1 (allowHalfOpen: the Ws ends
    // its side itself). An HTTP/2 session has no such use: the server's FIN ends the connection,
    // which Node's session only sees once the socket closes.
    socket.once('end', () => socket.end());
    const session = http2Connect(authority, {
      createConnection: () => socket,
      // A client has no use for server push.
      settings: { enablePush: false },
    });
    const pooled = new PooledSession(key, session, this);
    const list = this.sessions.get(key);
    if (list === undefined) this.sessions.set(key, [pooled]);
    else list.push(pooled);
    return pooled;
  }

  /** @internal A session is gone or going: no new WebSocket goes on it. */
  forget(pooled: PooledSession): void {
    const list = this.sessions.get(pooled.key);
    if (list === undefined) return;
    const index = list.indexOf(pooled);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) this.sessions.delete(pooled.key);
  }

  /** Sessions open now (for tests and stats). */
  get size(): number {
    let size = 0;
    for (const list of this.sessions.values()) size += list.length;
    return size;
  }
}

/** The process's HTTP/2 sessions, shared by every connect(). */
export const http2Sessions = new Http2Sessions();

// Objects in a pool key (CAs, keys, functions) by identity: a number each, forgotten with them.
const identities = new WeakMap<object, number>();
let nextIdentity = 1;

function identity(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object' || typeof value === 'function') {
    let id = identities.get(value);
    if (id === undefined) identities.set(value, (id = nextIdentity++));
    return `#${id}`;
  }
  return JSON.stringify(value);
}

/**
 * What a session is shared by: the origin, and everything that decides which connection is
 * made to it and how it is trusted (TLS options, proxy, transport and resolver). Objects count by
 * identity: connects that pass the same CA buffer share a session, a copy of it does not.
 */
export function sessionKey(target: Target, options: ResolvedClientOptions, proxy: ProxyTarget | null): string {
  const { tls } = options;
  return [
    target.secure ? 'https' : 'http',
    target.socketPath ?? '',
    target.hostname,
    target.port,
    proxy === null ? '' : `${proxy.hostname}:${proxy.port}:${identity(proxy.authorization)}`,
    identity(tls.ca),
    identity(tls.cert),
    identity(tls.key),
    identity(tls.passphrase),
    tls.rejectUnauthorized,
    tls.servername ?? '',
    identity(options.createConnection),
    identity(options.lookup),
    options.family,
  ].join('|');
}
