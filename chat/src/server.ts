/**
 * The chat server: seed 004's endpoints over the library's WebSocketServer and the hub.
 *
 *   /ws          the WebSocket endpoint (identity.ts checks the request, session.ts runs it)
 *   /ws/test     the test client page          /websocket   the integration page (pages.ts)
 *   /ws/stats    JSON counters (stats.ts)      /metrics     Prometheus text (metrics.ts)
 *   /healthz     200 while alive               /readyz      200 ready (or degraded), 503 while draining
 *
 * `createChatServer(options)` returns handlers an application mounts in its own HTTP server
 * (`handleRequest`, `handleUpgrade`), or `listen()` starts one. Rooms are hub topics whose
 * `chat` and `notification` messages are appended to their stream (the broker gives each its
 * `<epoch>-<offset>` id and keeps the history); presence, user lists, errors and heartbeats are
 * published or sent, never kept.
 *
 * With Redis (`redis` option, redis.ts), the broker and presence are @rfc6455/redis's: several chat
 * servers serve one chat. While Redis is unreachable the server is degraded: it keeps serving its
 * own clients (local rooms still work), says so in /readyz (still 200: see handleRequest) and
 * /metrics, and reports what could not cross (session.ts: `unavailable`).
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type HandshakeRefusal, type RateLimitEvent, type RefusedHandshake, type UpgradeRequest, type Ws } from 'rfc6455';
import { Hub, InProcessBroker, type Broker, type BrokerMessage } from 'rfc6455/hub';
import { ChatConnection } from './connection.js';
import { identify, jwtAuthenticator, type Authenticator, type Identity } from './identity.js';
import { createLogger, type Logger } from './log.js';
import { ChatMetrics } from './metrics.js';
import { resolveChatOptions, type ChatOptions, type ResolvedChatOptions } from './options.js';
import { allowedMethod, pathOf, respond } from './http.js';
import { servePage } from './pages.js';
import { MemoryPresence, type Presence } from './presence.js';
import { clientAddressOf } from './proxy.js';
import { openRedis } from './redis.js';
import { encodeEnvelope, renderStreamEnvelope } from './protocol.js';
import { randomToken, roomTopic, Session, type SessionContext } from './session.js';
import { SqliteBus } from './sqlite-streams.js';
import { ChatStats, type StatsSnapshot } from './stats.js';

export interface ChatServer {
  /**
   * Answers the chat's plain HTTP requests (pages, stats, metrics, health). Returns false, leaving
   * the request to the application, for any other path.
   */
  handleRequest(request: IncomingMessage, response: ServerResponse): boolean;
  /** Takes an `'upgrade'` for `/ws`; returns false, leaving the socket to the application, for any other path. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Starts an HTTP server of its own (every other path: 404); resolves with its address. */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /** The address `listen()` bound, or null. */
  readonly address: AddressInfo | null;
  /** False once close() or drain() started (`/readyz` answers 503). */
  readonly ready: boolean;
  /** True while Redis is unreachable (the broker or presence is down): local rooms only; `/readyz` says `degraded`. */
  readonly degraded: boolean;
  /** This server's counters (`/ws/stats` adds `presence`, across every server). */
  stats(): StatsSnapshot;
  readonly logger: Logger;
  /**
   * Stops at once: `/readyz` turns 503, new handshakes get 503, connections close with 1001 (cut
   * after `closeTimeout`), the history is flushed and closed; then the HTTP server `listen()` started stops.
   */
  close(): Promise<void>;
  /**
   * Stops for a deploy: `/readyz` turns 503 first, new handshakes get 503, then the connections
   * are closed with 1012 (service restart) in waves spread over `deadline` ms (default
   * `drainDeadline`), so their clients come back spread out, to the other servers; then as close().
   */
  drain(deadline?: number): Promise<void>;
  /** Replaces the certificate `listen()` serves (the `tls` option) without dropping a connection: new TLS handshakes get it. */
  setSecureContext(tls: { readonly cert: string | Buffer; readonly key: string | Buffer }): void;
}

/** Makes a chat server (it listens nowhere until `listen()`, or until you route requests to its handlers). */
export async function createChatServer(options: ChatOptions = {}): Promise<ChatServer> {
  const resolved = resolveChatOptions(options);
  let auth: Authenticator = { kind: 'none' };
  if (resolved.auth === 'jwt') {
    if (resolved.jwtSecret !== undefined && resolved.jwtPublicKey !== undefined) {
      throw new RangeError('give --jwt-secret (HS256) or --jwt-public-key (RS256), not both');
    }
    auth = await jwtAuthenticator({ secret: resolved.jwtSecret, publicKey: resolved.jwtPublicKey });
  }
  const logger = options.logger ?? createLogger(resolved.logLevel);
  let bus: SqliteBus | null = null;
  let broker = options.broker;
  let presence = options.presence;
  if (resolved.redis !== null && (broker === undefined || presence === undefined)) {
    const redis = await openRedis(resolved, logger, { broker: broker === undefined, presence: presence === undefined });
    broker ??= redis.broker;
    presence ??= redis.presence;
    // Up before serving, in the usual case; a Redis unreachable at start leaves the server degraded.
    await redis.ready(STARTUP_WAIT);
  }
  if (broker === undefined) {
    if (resolved.history.kind === 'sqlite') broker = (bus = new SqliteBus(resolved.history.file)).broker();
    else broker = new InProcessBroker();
  }
  presence ??= new MemoryPresence({ grace: resolved.presenceGrace });
  return new Chat(resolved, auth, logger, broker, bus, presence, options.tls ?? null);
}

/** Presence notices kept while the broker is down (a long outage drops the oldest, counted as unpublished). */
const MAX_HELD_NOTICES = 10_000;

/** How long createChatServer() waits for Redis before serving degraded. */
const STARTUP_WAIT = 5000;

/** Why a handshake this server refused itself was refused. */
type OwnRefusal = 'invalid_request' | 'unauthorized';

class Chat implements ChatServer {
  readonly logger: Logger;
  private readonly options: ResolvedChatOptions;
  private readonly auth: Authenticator;
  private readonly wss: WebSocketServer;
  private readonly hub: Hub<ChatConnection>;
  private readonly bus: SqliteBus | null;
  private readonly presence: Presence;
  private readonly statistics = new ChatStats();
  private readonly metrics: ChatMetrics | null;
  private readonly context: SessionContext;
  /** What allowRequest decided, for the handler and onRefused. */
  private readonly identities = new WeakMap<UpgradeRequest, Identity>();
  private readonly refusals = new WeakMap<UpgradeRequest, OwnRefusal>();
  private readonly sessions = new Map<Ws, Session>();
  /** stop() waits for the last session to end (sessionEnded). */
  private lastSessionEnded: (() => void) | null = null;
  /** Ids of the messages this server publishes (presence): `<token>.<n>`. */
  private readonly token = randomToken();
  private sequence = 0;
  /** Presence notices waiting for the broker (holdNotice). */
  private readonly heldNotices: { room: string; envelope: string }[] = [];
  private server: Server | HttpsServer | null = null;
  private readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer } | null;
  /** The client's address of a request: the socket's, or a trusted proxy's X-Forwarded-For (proxy.ts). */
  private readonly clientAddress: (request: UpgradeRequest) => string | undefined;
  private draining = false;
  private closing: Promise<void> | null = null;
  /** Every connection's count of what it sends: one function for all (issue 15: not a closure per connection). */
  private readonly countSent = (bytes: number): void => {
    this.statistics.messagesSent++;
    this.metrics?.sent(bytes);
  };

  constructor(
    options: ResolvedChatOptions,
    auth: Authenticator,
    logger: Logger,
    broker: Broker,
    bus: SqliteBus | null,
    presence: Presence,
    tls: { readonly cert: string | Buffer; readonly key: string | Buffer } | null,
  ) {
    this.options = options;
    this.auth = auth;
    this.logger = logger;
    this.bus = bus;
    this.presence = presence;
    this.tls = tls;
    this.metrics = options.metrics ? new ChatMetrics(() => ({ broker: this.hub.brokerState === 'up', presence: this.presence.state === 'up' })) : null;
    const clientAddress = options.trustProxy.length === 0 ? undefined : clientAddressOf(options.trustProxy);
    this.clientAddress = clientAddress ?? ((request) => request.socket.remoteAddress);
    const limits = options.limits === false ? undefined : { ...options.limits, clientAddress };
    this.wss = new WebSocketServer({
      handler: (ws, request) => this.connected(ws, request),
      // The test page is served by this server: its own origin, and those allowed besides.
      origins: ['same-origin', ...options.allowOrigins],
      requireOrigin: options.requireOrigin,
      limits,
      onRateLimit: limits === undefined ? undefined : (ws, event) => this.rateLimited(ws, event),
      allowRequest: (request) => this.allow(request),
      onRefused: (refused) => this.refused(refused),
      onError: (error) => this.logger.error({ event: 'error', err: error }, 'unexpected error'),
      maxPayload: options.maxPayload,
      closeTimeout: options.closeTimeout,
    });
    this.hub = new Hub<ChatConnection>({
      broker,
      history: { size: options.historySize },
      renderStream: (message: BrokerMessage) => {
        const { payload } = message;
        return renderStreamEnvelope(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'), message.position!);
      },
      onError: (error) => this.logger.error({ event: 'error', err: error }, 'hub error'),
    });
    this.hub.on('drop', ({ reason }) => {
      this.statistics.dropped(reason);
      this.metrics?.dropped(reason);
    });
    this.hub.on('evict', ({ connection, topic }) => {
      this.logger.info({ event: 'evicted', connection: this.hub.id(connection), topic }, 'too slow: closed with 1008');
    });
    this.hub.on('lost', ({ topic, from, to, error }) => {
      this.logger.warn({ event: 'lost', topic, from, to, err: error }, 'stream messages lost');
    });
    this.hub.on('broker', ({ state }) => {
      if (state === 'down') this.logger.warn({ event: 'degraded', broker: state }, 'Redis is unreachable: serving this server’s clients only');
      else this.logger.info({ event: 'recovered', broker: state }, 'Redis is back');
    });
    this.hub.on('unpublished', ({ payload, error }) => {
      // A message of this server's that the other servers will never get (Redis unreachable).
      let type = 'unknown';
      try {
        type = String((JSON.parse(Buffer.from(payload).toString('utf8')) as { type?: unknown }).type);
      } catch {
        // not the chat's JSON: counted as unknown
      }
      this.statistics.unpublished++;
      this.metrics?.unpublished(type);
      this.logger.debug({ event: 'unpublished', type, err: error }, 'not carried to the other servers');
    });
    this.presence.onChange(({ type, room, member }) => {
      const { username, userId } = member;
      const envelope = encodeEnvelope({
        id: `${this.token}.${++this.sequence}`,
        type: type === 'joined' ? 'user_joined' : 'user_left',
        content: `${username} ${type === 'joined' ? 'joined' : 'left'}`,
        from: 'system',
        timestamp: Date.now(),
        data: { username, userId },
        room,
      });
      this.logger.debug({ event: 'presence', type, room, userId, broker: this.hub.brokerState }, `${userId} ${type} ${room}`);
      if (this.draining) return;
      // Presence may be back before the broker (after an outage): a notice published now would
      // reach this server's members only. It waits for the broker, then goes to every server.
      if (this.hub.brokerState === 'up') this.hub.publish(roomTopic(room), envelope);
      else this.holdNotice(room, envelope);
    });
    this.hub.on('broker', ({ state }) => {
      if (state !== 'up') return;
      const held = this.heldNotices.splice(0);
      for (const { room, envelope } of held) if (!this.draining) this.hub.publish(roomTopic(room), envelope);
      // Back from an outage: what the others announced meanwhile never reached this server's clients.
      void this.presence.ready().then(
        () => Promise.all([...this.sessions.values()].map((session) => session.refreshUserLists())),
        () => undefined,
      );
    });
    this.context = {
      hub: this.hub,
      presence,
      stats: this.statistics,
      metrics: this.metrics,
      logger,
      maxContent: options.maxContent,
      maxRooms: options.maxRooms,
      ended: (session) => this.sessionEnded(session),
    };
  }

  /** A presence notice made while the broker is down, kept (at most MAX_HELD_NOTICES, the oldest dropped and counted) until it is up. */
  private holdNotice(room: string, envelope: string): void {
    this.heldNotices.push({ room, envelope });
    if (this.heldNotices.length <= MAX_HELD_NOTICES) return;
    this.heldNotices.shift();
    this.statistics.unpublished++;
    this.metrics?.unpublished('presence_dropped');
  }

  get ready(): boolean {
    return !this.draining;
  }

  get degraded(): boolean {
    return this.hub.brokerState === 'down' || this.presence.state === 'down';
  }

  get address(): AddressInfo | null {
    const address = this.server?.address();
    return address !== null && typeof address === 'object' ? address : null;
  }

  stats(): StatsSnapshot {
    return this.statistics.snapshot(this.degraded);
  }

  handleRequest(request: IncomingMessage, response: ServerResponse): boolean {
    const path = pathOf(request);
    switch (path) {
      case '/healthz':
        return respond(request, response, 200, 'text/plain; charset=utf-8', 'ok\n');
      case '/readyz':
        // Degraded (Redis unreachable) is still 200: an outage of Redis degrades every server at
        // once, and a load balancer that took them all out would turn it into a full outage, while
        // each can still serve its own clients. Only a server that is stopping answers 503.
        if (this.draining) return respond(request, response, 503, 'text/plain; charset=utf-8', 'draining\n');
        if (this.degraded) return respond(request, response, 200, 'text/plain; charset=utf-8', 'degraded: Redis is unreachable, serving local rooms only\n');
        return respond(request, response, 200, 'text/plain; charset=utf-8', 'ready\n');
      case '/ws/stats': {
        if (!allowedMethod(request, response)) return true;
        const snapshot = this.stats();
        this.presence.overview().then(
          (presence) => respond(request, response, 200, 'application/json', `${JSON.stringify({ ...snapshot, presence })}\n`),
          (error: unknown) => {
            this.logger.error({ event: 'error', err: error }, 'presence overview failed');
            respond(request, response, 200, 'application/json', `${JSON.stringify({ ...snapshot, presence: null })}\n`);
          },
        );
        return true;
      }
      case '/metrics': {
        const metrics = this.metrics;
        if (metrics === null) return false;
        if (!allowedMethod(request, response)) return true;
        metrics.text().then(
          (text) => respond(request, response, 200, metrics.contentType, text),
          (error: unknown) => {
            this.logger.error({ event: 'error', err: error }, 'metrics failed');
            respond(request, response, 500, 'text/plain; charset=utf-8', 'metrics failed\n');
          },
        );
        return true;
      }
      case '/ws':
        // A plain request to the WebSocket endpoint (RFC 6455 4.2.2: 426 names the version).
        response.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' });
        response.end('this is the WebSocket endpoint: connect with a WebSocket client\n');
        return true;
      default:
        return servePage(path, request, response);
    }
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (pathOf(request) !== '/ws') return false;
    void this.wss.handleUpgrade(request, socket, head);
    return true;
  }

  async listen(port = 3000, host?: string): Promise<AddressInfo> {
    if (this.server !== null) throw new Error('the chat server is already listening');
    const server: Server | HttpsServer = this.tls === null ? createServer() : createHttpsServer({ cert: this.tls.cert, key: this.tls.key });
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      if (this.handleRequest(request, response)) return;
      if (pathOf(request) === '/') {
        response.writeHead(302, { Location: '/ws/test', 'Content-Length': 0 });
        response.end();
        return;
      }
      respond(request, response, 404, 'text/plain; charset=utf-8', 'not found\n');
    });
    server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
      if (this.handleUpgrade(request, socket, head)) return;
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    this.wss.guard(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    const scheme = this.tls === null ? 'http' : 'https';
    this.logger.info({ event: 'listening', port: address.port, address: address.address, tls: this.tls !== null }, `listening on ${scheme}://localhost:${address.port}/ws/test`);
    return address;
  }

  setSecureContext(tls: { readonly cert: string | Buffer; readonly key: string | Buffer }): void {
    const server = this.server;
    if (server === null || !('setSecureContext' in server)) throw new Error('the chat server is not listening with TLS (the tls option)');
    // Node checks the pair here, so a bad certificate throws and the old one stays.
    server.setSecureContext({ cert: tls.cert, key: tls.key });
    this.logger.info({ event: 'certificate_reloaded' }, 'TLS certificate reloaded');
  }

  close(): Promise<void> {
    this.closing ??= this.stop(0);
    return this.closing;
  }

  drain(deadline = this.options.drainDeadline): Promise<void> {
    if (!Number.isInteger(deadline) || deadline < 0 || deadline > 2 ** 31 - 1) {
      return Promise.reject(new RangeError(`deadline must be an integer of milliseconds, got ${String(deadline)}`));
    }
    this.closing ??= this.stop(deadline);
    return this.closing;
  }

  /** Stops: at once (deadline 0: 1001 to everyone), or drained in waves over `deadline` (1012). */
  private async stop(deadline: number): Promise<void> {
    // /readyz says 503 first: the load balancer stops sending new clients here.
    this.draining = true;
    this.logger.info({ event: 'draining', connections: this.wss.clients.size, deadline }, 'draining');
    const result =
      deadline === 0
        ? await this.wss.close({ code: 1001, timeout: this.options.closeTimeout })
        : await this.wss.drain({ deadline, code: 1012, reason: 'service restart' });
    // Every session over (each leaves its rooms once its connection is closed).
    if (this.sessions.size > 0) await new Promise<void>((resolve) => (this.lastSessionEnded = resolve));
    await this.hub.close();
    // The history flushed: SQLite checkpoints its WAL into the file and closes it.
    this.bus?.close();
    await this.presence.close();
    this.metrics?.close();
    const server = this.server;
    if (server !== null) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
    this.logger.info({ event: 'stopped', closed: result.closed, terminated: result.terminated }, 'stopped');
  }

  // --- the library's hooks -------------------------------------------------------------------

  private async allow(request: UpgradeRequest): Promise<true | HandshakeRefusal> {
    const query = new URL(request.url ?? '/', 'http://chat.invalid').searchParams;
    const verified = await identify(request, query, this.auth);
    if (!verified.ok) {
      this.refusals.set(request, verified.reason);
      return verified.refusal;
    }
    this.identities.set(request, verified.identity);
    return true;
  }

  private connected(ws: Ws, request: UpgradeRequest): Promise<void> | undefined {
    const identity = this.identities.get(request);
    if (identity === undefined) {
      void ws.close(1011, 'no identity');
      return undefined;
    }
    const connection = new ChatConnection(ws, this.countSent);
    const session = new Session(this.context, connection, identity, this.clientAddress(request));
    this.sessions.set(ws, session);
    // run() itself goes to the library, which reports a failure (onError) and closes with 1011;
    // the session tells us when it is over (sessionEnded). Issue 15: no .finally() and set entry
    // per connection (their closures, promises and reactions were 380 bytes per user).
    return session.run();
  }

  private sessionEnded(session: Session): void {
    this.sessions.delete(session.connection.ws);
    if (this.sessions.size === 0) this.lastSessionEnded?.();
  }

  private rateLimited(ws: Ws, event: RateLimitEvent): void {
    this.statistics.dropped('rate_limited');
    this.metrics?.rateLimited(event.limit);
    this.sessions.get(ws)?.rateLimited(event.limit);
    if (event.dropped === 1) this.logger.info({ event: 'rate_limited', connection: this.sessions.get(ws)?.id, limit: event.limit }, 'over the rate limits');
  }

  private refused(refused: RefusedHandshake): void {
    const own = refused.request === undefined ? undefined : this.refusals.get(refused.request);
    const reason = own ?? refused.code;
    this.metrics?.handshakeRefused(reason);
    if (refused.code === 'WS_ERR_HANDSHAKE_RATE_LIMITED') this.metrics?.rateLimited('handshakes');
    if (refused.code === 'WS_ERR_HANDSHAKE_TOO_MANY_CONNECTIONS') this.metrics?.rateLimited('connections');
    this.logger.info({ event: 'refused', status: refused.status, reason, address: refused.request === undefined ? undefined : this.clientAddress(refused.request) }, 'handshake refused');
  }
}
