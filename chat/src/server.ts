/**
 * The chat server: seed 004's endpoints over the library's WebSocketServer and the hub.
 *
 *   /ws          the WebSocket endpoint (identity.ts checks the request, session.ts runs it)
 *   /ws/test     the test client page          /websocket   the integration page (pages.ts)
 *   /ws/stats    JSON counters (stats.ts)      /metrics     Prometheus text (metrics.ts)
 *   /healthz     200 while alive               /readyz      200 when ready, 503 while draining
 *
 * `createChatServer(options)` returns handlers an application mounts in its own HTTP server
 * (`handleRequest`, `handleUpgrade`), or `listen()` starts one. Rooms are hub topics whose
 * `chat` and `notification` messages are appended to their stream (the broker gives each its
 * `<epoch>-<offset>` id and keeps the history); presence, user lists, errors and heartbeats are
 * published or sent, never kept.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
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
  /** False once close() started (`/readyz` answers 503). */
  readonly ready: boolean;
  /** What `/ws/stats` answers. */
  stats(): StatsSnapshot;
  readonly logger: Logger;
  /**
   * Drains: `/readyz` turns 503, new handshakes get 503, connections close with 1001 (cut after
   * `closeTimeout`), the history is flushed and closed; then the HTTP server `listen()` started stops.
   */
  close(): Promise<void>;
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
  if (broker === undefined) {
    if (resolved.history.kind === 'sqlite') broker = (bus = new SqliteBus(resolved.history.file)).broker();
    else broker = new InProcessBroker();
  }
  const presence = options.presence ?? new MemoryPresence({ grace: resolved.presenceGrace });
  return new Chat(resolved, auth, logger, broker, bus, presence);
}

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
  private readonly running = new Set<Promise<void>>();
  /** Ids of the messages this server publishes (presence): `<token>.<n>`. */
  private readonly token = randomToken();
  private sequence = 0;
  private server: Server | null = null;
  private draining = false;
  private closing: Promise<void> | null = null;

  constructor(options: ResolvedChatOptions, auth: Authenticator, logger: Logger, broker: Broker, bus: SqliteBus | null, presence: Presence) {
    this.options = options;
    this.auth = auth;
    this.logger = logger;
    this.bus = bus;
    this.presence = presence;
    this.metrics = options.metrics ? new ChatMetrics() : null;
    const limits = options.limits === false ? undefined : options.limits;
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
      if (!this.draining) this.hub.publish(roomTopic(room), envelope);
    });
    this.context = {
      hub: this.hub,
      presence,
      stats: this.statistics,
      metrics: this.metrics,
      logger,
      maxContent: options.maxContent,
      maxRooms: options.maxRooms,
    };
  }

  get ready(): boolean {
    return !this.draining;
  }

  get address(): AddressInfo | null {
    const address = this.server?.address();
    return address !== null && typeof address === 'object' ? address : null;
  }

  stats(): StatsSnapshot {
    return this.statistics.snapshot();
  }

  handleRequest(request: IncomingMessage, response: ServerResponse): boolean {
    const path = pathOf(request);
    switch (path) {
      case '/healthz':
        return respond(request, response, 200, 'text/plain; charset=utf-8', 'ok\n');
      case '/readyz':
        return this.draining
          ? respond(request, response, 503, 'text/plain; charset=utf-8', 'draining\n')
          : respond(request, response, 200, 'text/plain; charset=utf-8', 'ready\n');
      case '/ws/stats':
        return respond(request, response, 200, 'application/json', `${JSON.stringify(this.statistics.snapshot())}\n`);
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
    const server = createServer();
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
    this.logger.info({ event: 'listening', port: address.port, address: address.address }, `listening on http://localhost:${address.port}/ws/test`);
    return address;
  }

  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private async drain(): Promise<void> {
    this.draining = true;
    this.logger.info({ event: 'draining', connections: this.wss.clients.size }, 'draining');
    const result = await this.wss.close({ code: 1001, timeout: this.options.closeTimeout });
    await Promise.all(this.running);
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
    const connection = new ChatConnection(ws, (bytes) => {
      this.statistics.messagesSent++;
      this.metrics?.sent(bytes);
    });
    const session = new Session(this.context, connection, identity);
    this.sessions.set(ws, session);
    const running = session.run().finally(() => {
      this.sessions.delete(ws);
      this.running.delete(running);
    });
    this.running.add(running);
    return running;
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
    this.logger.info({ event: 'refused', status: refused.status, reason, address: refused.request?.socket.remoteAddress }, 'handshake refused');
  }
}
