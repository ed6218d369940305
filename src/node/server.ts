/**
 * The server: takes sockets over from Node's HTTP `'upgrade'` event, and streams from an HTTP/2
 * server (RFC 8441's extended CONNECT), performs the opening handshake with the core's rules, and
 * hands each connection to the application's handler.
 *
 * It runs on a server of its own (`listen()`: node:net, each connection's first request head read
 * by accept.ts) or inside any existing `http`/`https`/`http2` server, through `handleUpgrade(req, socket, head)`, `handleStream(stream, headers)` or
 * `attach(server)`. Both transports go through one handshake path (`open()`): the same limits,
 * origins, hooks and negotiation; only how the request is read and answered differs.
 */

import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2Server, IncomingHttpHeaders as Http2Headers, ServerHttp2Stream } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Server as TlsServer, TLSSocket } from 'node:tls';
import { CloseCode, encodeClosePayload } from '../protocol/close.js';
import { HandshakeError, WebSocketError } from '../protocol/errors.js';
import type { ExtensionOffer } from '../protocol/extensions.js';
import { acceptExtendedConnect } from '../protocol/extended-connect.js';
import { acceptHandshake, buildErrorResponse, type AcceptPolicy, type Negotiation } from '../protocol/handshake.js';
import { HandshakeTimers, checkHeaderLimits, refuse, respondNotWebSocket } from './handshake-guard.js';
import { checkOrigin, originPolicy, type OriginPolicy } from '../protocol/origin.js';
import { negotiatePermessageDeflate, type DeflateNegotiation } from '../protocol/permessage-deflate.js';
import { Admission, resolveLimits, type Admitted, type RateLimitEvent } from './limits.js';
import { drainConnections, resolveDrain, type DrainOptions } from './drain.js';
import { PerMessageDeflate, takeoverBytes } from './deflate.js';
import { Heartbeat } from './heartbeat.js';
import { HTTP2_STREAM_TRANSPORT } from './http2/stream-transport.js';
import {
  flatHeaders,
  isHttp2Server,
  refuseStream,
  routeStreams,
  streamRequest,
} from './http2/server-streams.js';
import { UpgradeListener, type ListenedRequest, type ListenerHost } from './accept.js';
import { withResolved, type ResolvedOptions } from './options.js';
import { resolveServerOptions, type ServerHandler, type ServerOptions, type UpgradeRequest } from './server-options.js';
import { refusalOf, RequestRefusal } from './refusal.js';
import { sha1Base64 } from './runtime.js';
import { isPromiseLike, noop } from './util.js';
import { Ws, type ConnectionConfig } from './ws.js';
import { ZlibResources } from './zlib-resources.js';

/** How `server.close()` shuts down. */
export interface ShutdownOptions {
  /**
   * Close code sent to every connection.
   * @defaultValue 1001 (going away)
   */
  code?: number;
  /**
   * Milliseconds to wait for closing handshakes before destroying what is left.
   * @defaultValue closeTimeout
   */
  timeout?: number;
}

/** What `server.close()` did with the connections that were open: closed + terminated of them. */
export interface ShutdownResult {
  /** Connections whose closing handshake completed in time. */
  readonly closed: number;
  /** Connections destroyed at the timeout. */
  readonly terminated: number;
}

/** What either handshake agreed, and how to send its answer. */
interface Agreed extends Negotiation {
  /** Writes the 101 (HTTP/1.1) or the 200 (HTTP/2). */
  respond(): void;
}

/**
 * One opening handshake on its way through open(), whatever carries it: an HTTP/1.1 upgrade's
 * socket or an HTTP/2 stream. The transport-specific parts are these few functions.
 */
interface Handshake {
  readonly request: UpgradeRequest;
  /** The socket, or the stream: what the Ws will run on, and what the handshake clock times. */
  readonly socket: Duplex;
  /** The request's header lines (name, value, ...), for maxHeaderSize and maxHeaderCount. */
  readonly rawHeaders: readonly string[];
  /** The host the origin must match for 'same-origin' (Host, or :authority), and whether TLS. */
  readonly host: string | undefined;
  readonly secure: boolean;
  readonly config: ConnectionConfig;
  readonly timers: HandshakeTimers;
  /** Checks the request (RFC 6455 4.2.1 or RFC 8441 4) and negotiates; throws a HandshakeError. */
  accept(policy: Omit<AcceptPolicy, 'sha1Base64'>): Agreed;
  refuse(error: HandshakeError): void;
}

/**
 * A WebSocket server: performs the opening handshake (RFC 6455 4.2, or RFC 8441 over HTTP/2) on
 * sockets from HTTP `'upgrade'` events and on HTTP/2 streams, and hands each connection, a Ws, to
 * the `handler`. It runs on an HTTP server of its own (`listen()`) or inside any `http`/`https`/
 * `http2` server (`attach()`, or `handleUpgrade()`/`handleStream()` from your own listeners, with
 * `guard()`). A refused handshake gets an HTTP error status and is reported to `onRefused`.
 */
export class WebSocketServer {
  /** @internal */
  readonly options: ResolvedOptions;
  private readonly hooks: ServerOptions;
  private readonly live = new Set<Ws>();
  /** What every connection of this server is built from; over HTTP/2, the same on the stream transport. */
  private readonly config: ConnectionConfig;
  private http2Config: ConnectionConfig | null = null;
  private readonly handshakeTimers: HandshakeTimers;
  /** The handshake clocks of HTTP/2 streams, whose expiry is answered on the stream. */
  private streamTimers: HandshakeTimers | null = null;
  /** zlib limits shared by the server's compressed connections; null without permessage-deflate. */
  private readonly zlib: ZlibResources | null;
  /** What listen() started: the node:net server and its connections' first requests. */
  private listener: UpgradeListener | null = null;
  private shuttingDown = false;
  /** Which origins may connect (the `origins` option). */
  private readonly origins: OriginPolicy;
  /** The per-address limits, or null when none is set. */
  private readonly admission: Admission | null;
  /** What each connection holds of the per-address limits, released when it closes. */
  private readonly admitted = new Map<Ws, Admitted>();

  /**
   * A server with `options` (every one has a default). Throws WS_ERR_INVALID_ARGUMENT for an option
   * out of its bounds or a hook that is not a function. It accepts nothing until `listen()`,
   * `attach()`, `handleUpgrade()` or `handleStream()`.
   */
  constructor(options: ServerOptions = {}) {
    this.options = resolveServerOptions(options);
    this.hooks = options;
    this.origins = originPolicy(options.origins, options.requireOrigin);
    const limits = resolveLimits(options.limits);
    this.admission = limits === null || (limits.handshakeRate === null && limits.connectionsPerAddress === 0) ? null : new Admission(limits);
    this.config = withResolved(this.options, {
      role: 'server' as const,
      heartbeat: new Heartbeat(this.options),
      onClosed: (ws: Ws) => this.forget(ws),
      messageLimits: limits?.perConnection ?? null,
      onRateLimit: options.onRateLimit === undefined ? undefined : (ws: Ws, event: RateLimitEvent) => this.rateLimited(ws, event),
    });
    this.handshakeTimers = new HandshakeTimers(this.options.handshakeTimeout, (socket) =>
      this.refused(
        (error) => refuse(socket, responseOf(error), this.options.closeTimeout),
        undefined,
        new HandshakeError('WS_ERR_HANDSHAKE_TIMEOUT', 408, 'the handshake did not complete in time'),
      ),
    );
    const deflate = this.options.perMessageDeflate;
    this.zlib = deflate === null ? null : new ZlibResources(deflate);
  }

  /** The open connections. */
  get clients(): ReadonlySet<Ws> {
    return this.live;
  }

  /**
   * Starts an HTTP server of our own that accepts WebSocket handshakes and answers any other
   * request with 426 Upgrade Required (or `onHttpRequest`'s answer). Port 0 picks a free port.
   * Resolves with the bound address. It reads each connection's first request head itself (a
   * malformed one is answered 400 WS_ERR_INVALID_HTTP_REQUEST); plain requests get Node's
   * `http.Server`.
   */
  async listen(port = 0, host?: string): Promise<AddressInfo> {
    if (this.listener !== null) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'the server is already listening');
    }
    // A node:net server reading each connection's first request head with the core's parser
    // (accept.ts): upgrades skip Node's HTTP machinery, plain requests are handed to http.Server.
    const listener = new UpgradeListener(this.listenerHost());
    const server = listener.server;
    this.listener = listener;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      this.listener = null;
      throw error;
    }
    return server.address() as AddressInfo;
  }

  /** The address `listen()` bound, or null. */
  address(): AddressInfo | null {
    const address = this.listener?.server.address();
    return address && typeof address === 'object' ? address : null;
  }

  /** What listen()'s accept path asks of this server. */
  private listenerHost(): ListenerHost {
    const options = this.options;
    const timers = this.handshakeTimers;
    return {
      limits: { maxHeaderSize: options.maxHeaderSize, maxHeaderCount: options.maxHeaderCount },
      arm: (socket) => timers.arm(socket),
      clear: (socket) => timers.clear(socket),
      upgrade: (request, socket, head) => void this.upgrade(request, socket, head, this.hooks.handler),
      refuse: (socket, error) => {
        timers.clear(socket);
        this.refused((refusal) => refuse(socket, responseOf(refusal), options.closeTimeout), undefined, error);
      },
      createHttpServer: () => {
        const server = createServer({ maxHeaderSize: options.maxHeaderSize });
        server.on('request', (request: IncomingMessage, response: ServerResponse) => this.respondPlain(request, response));
        // Later requests of a kept-alive connection may be upgrades: Node's parser routes those.
        return this.attach(server) && server;
      },
    };
  }

  /**
   * Accepts WebSockets on an existing server, and guards its handshakes: the `'upgrade'`s of an
   * `http`/`https` server; the extended CONNECT streams of an `http2` server (Http2Server, or
   * Http2SecureServer, whose HTTP/1.1 upgrades it takes too when it has `allowHTTP1`), to whose
   * new sessions it advertises SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 3).
   */
  attach(server: HttpServer | HttpsServer | Http2Server | Http2SecureServer): this {
    if (isHttp2Server(server)) {
      routeStreams(server, this);
      // Http2Server (h2c) speaks no HTTP/1.1; an Http2SecureServer does with allowHTTP1.
      if (!(server instanceof TlsServer)) return this;
    }
    this.guard(server);
    (server as HttpServer).on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.handleUpgrade(request, socket, head);
    });
    return this;
  }

  /**
   * Applies handshakeTimeout to an existing server that routes upgrades to handleUpgrade itself:
   * a connection whose first request head (the upgrade) is not complete and answered in time is
   * answered 408 and closed. Without it, a slowloris client is only cut off by Node's own
   * headersTimeout (60 s), which Node checks every connectionsCheckingInterval (30 s).
   * Only the first request of a connection is timed: later keep-alive requests are Node's.
   * On an HTTP/2 server only its HTTP/1.1 connections (allowHTTP1) are timed: an HTTP/2 session's
   * streams arrive whole, and each stream's handshake is timed by handleStream.
   */
  guard(server: HttpServer | HttpsServer | Http2Server | Http2SecureServer): this {
    // On HTTPS the 'upgrade' socket is the TLS socket, which 'secureConnection' gives; Node's TLS
    // handshakeTimeout covers the TLS handshake before it.
    const event = server instanceof TlsServer ? 'secureConnection' : 'connection';
    const timers = this.handshakeTimers;
    const http2 = isHttp2Server(server);
    if (http2 && !(server instanceof TlsServer)) return this;
    server.on(event, (socket: Duplex) => {
      if (http2 && (socket as TLSSocket).alpnProtocol === 'h2') return;
      timers.arm(socket);
    });
    const clear = (request: IncomingMessage): void => timers.clear(request.socket);
    if (!http2 || server.listenerCount('request') > 0) server.on('request', clear);
    else {
      // A 'request' listener on an HTTP/2 server turns on Node's compatibility layer for every
      // stream: ours waits for the application's own. Until then no HTTP/1.1 request is answered
      // anyway (only upgrades are, and handleUpgrade clears their clock).
      const waitForRequests = (name: string | symbol): void => {
        if (name !== 'request') return;
        server.off('newListener', waitForRequests);
        server.on('request', clear);
      };
      server.on('newListener', waitForRequests);
    }
    return this;
  }

  /**
   * Performs the opening handshake on a socket taken from an `'upgrade'` event. `head` holds bytes
   * that came after the request: they are parsed as the first frames. Resolves with the connection,
   * or undefined when the request was refused (it got an HTTP error and its socket was closed).
   * Never rejects.
   */
  async handleUpgrade(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer = Buffer.alloc(0),
    handler: ServerHandler | undefined = this.hooks.handler,
  ): Promise<Ws | undefined> {
    return this.upgrade(request, socket, head, handler);
  }

  /** handleUpgrade(), for Node's requests and for those listen() read itself. */
  private async upgrade(
    request: IncomingMessage | ListenedRequest,
    socket: Duplex,
    head: Buffer,
    handler: ServerHandler | undefined,
  ): Promise<Ws | undefined> {
    const options = this.options;
    const ws = await this.open(
      {
        request,
        socket,
        rawHeaders: request.rawHeaders,
        host: request.headers.host,
        secure: socket instanceof TLSSocket,
        config: this.config,
        timers: this.handshakeTimers,
        accept: (policy) => {
          // The request is checked and answered by the core (RFC 6455 4.2).
          const accepted = acceptHandshake(request, { ...policy, sha1Base64 });
          return {
            protocol: accepted.protocol,
            extensions: accepted.extensions,
            deflate: accepted.deflate,
            respond: () => socket.write(accepted.response, 'latin1'),
          };
        },
        refuse: (error) => refuse(socket, responseOf(error), options.closeTimeout),
      },
      handler,
    );
    if (ws !== undefined && head.length > 0) ws.receiveChunk(head);
    return ws;
  }

  /**
   * Performs the opening handshake of a WebSocket over HTTP/2 (RFC 8441) on a stream of an
   * `http2` server's `'stream'` event, for servers that route streams themselves (`attach()` does
   * it for every extended CONNECT with `:protocol websocket`). A refused request gets its status
   * on the stream, which is then reset with NO_ERROR; the session goes on. Resolves with the
   * connection, or undefined when the request was refused. Never rejects.
   */
  async handleStream(
    stream: ServerHttp2Stream,
    headers: Http2Headers,
    handler: ServerHandler | undefined = this.hooks.handler,
  ): Promise<Ws | undefined> {
    const request = streamRequest(stream, headers);
    const authority = headers[':authority'] ?? headers.host;
    return this.open(
      {
        request,
        socket: stream,
        rawHeaders: flatHeaders(headers),
        host: typeof authority === 'string' ? authority : undefined,
        secure: headers[':scheme'] === 'https',
        config: (this.http2Config ??= withResolved(this.config, { ...this.config, transport: HTTP2_STREAM_TRANSPORT })),
        timers: (this.streamTimers ??= new HandshakeTimers(this.options.handshakeTimeout, (expired) =>
          this.refused(
            (error) => refuseStream(expired as ServerHttp2Stream, error),
            undefined,
            new HandshakeError('WS_ERR_HANDSHAKE_TIMEOUT', 408, 'the handshake did not complete in time'),
          ),
        )),
        accept: (policy) => {
          // RFC 8441 4 and 5, checked and answered by the core.
          const accepted = acceptExtendedConnect(request, policy);
          return {
            protocol: accepted.protocol,
            extensions: accepted.extensions,
            deflate: accepted.deflate,
            respond: () => stream.respond(accepted.headers),
          };
        },
        refuse: (error) => refuseStream(stream, error),
      },
      handler,
    );
  }

  /** The opening handshake, either transport: limits, the core's checks, origins, hooks, then the Ws. */
  private async open(handshake: Handshake, handler: ServerHandler | undefined): Promise<Ws | undefined> {
    const { request, socket, timers } = handshake;
    // Until the Ws owns the socket, an error on it must not be an unhandled 'error' event.
    socket.on('error', noop);
    // A guarded server timed the request since TCP accept; otherwise time the rest from now.
    timers.arm(socket);
    // Context memory reserved by the negotiation, released if the handshake goes no further.
    let reserved = 0;
    // A slot of the per-address limits, held by the handshake, then by the connection.
    let admitted: Admitted | null = null;
    try {
      if (this.shuttingDown) {
        throw new HandshakeError('WS_ERR_HANDSHAKE_SHUTTING_DOWN', 503, 'the server is shutting down');
      }
      // Before any other work: a flood of handshakes is what this limit is for.
      admitted = this.admission?.admit(request, performance.now()) ?? null;
      checkHeaderLimits(handshake.rawHeaders, this.options);
      const { selectProtocol, allowRequest } = this.hooks;
      const accepted = handshake.accept({
        selectProtocol: selectProtocol === undefined ? undefined : (offered) => selectProtocol(offered, request),
        negotiateExtensions: (offers) => {
          const negotiated = this.negotiateDeflate(offers);
          reserved = negotiated?.reserved ?? 0;
          return negotiated;
        },
      });
      // RFC 6455 10.2: the server checks Origin, against cross-site WebSocket hijacking.
      const origin = request.headers.origin;
      const originRefused = checkOrigin(this.origins, typeof origin === 'string' ? origin : undefined, handshake.host, handshake.secure);
      if (originRefused !== null) throw new HandshakeError('WS_ERR_HANDSHAKE_ORIGIN', 403, originRefused);
      if (allowRequest !== undefined) {
        // true accepts; false is the plain 403; a HandshakeRefusal is the application's own answer.
        const decision = await allowRequest(request);
        if (decision !== true) throw refusalOf(decision);
      }
      if (this.shuttingDown) {
        throw new HandshakeError('WS_ERR_HANDSHAKE_SHUTTING_DOWN', 503, 'the server is shutting down');
      }
      // The handshake timer may have fired while a hook was deciding.
      if (socket.destroyed || !socket.writable) {
        this.zlib?.budget.release(reserved);
        admitted?.release();
        return undefined;
      }
      timers.clear(socket);
      accepted.respond();
      const deflate = accepted.deflate === null ? null : new PerMessageDeflate(accepted.deflate, this.zlib!, reserved);
      reserved = 0;
      const ws = new Ws(socket, handshake.config, { protocol: accepted.protocol, extensions: accepted.extensions, deflate });
      socket.off('error', noop);
      this.live.add(ws);
      if (admitted !== null) this.admitted.set(ws, admitted);
      if (handler !== undefined) this.runHandler(handler, ws, request);
      return ws;
    } catch (error) {
      timers.clear(socket);
      this.zlib?.budget.release(reserved);
      admitted?.release();
      if (error instanceof HandshakeError) {
        this.refused(handshake.refuse, request, error);
      } else {
        // A hook threw: the application's bug, reported; the client gets a plain 500.
        this.report(error, undefined);
        this.refused(handshake.refuse, request, new HandshakeError('WS_ERR_HOOK_FAILED', 500, 'internal server error'));
      }
      return undefined;
    }
  }

  /**
   * Stops accepting handshakes (503), closes every connection with `code`, waits for their closing
   * handshakes up to `timeout`, then destroys the rest; stops the HTTP server `listen()` started.
   */
  async close(options: ShutdownOptions = {}): Promise<ShutdownResult> {
    const code = options.code ?? CloseCode.GOING_AWAY;
    const timeout = options.timeout ?? this.options.closeTimeout;
    // Checked before anything is stopped: a bad argument must not leave a half-closed server.
    encodeClosePayload(code);
    if (!Number.isInteger(timeout) || timeout < 0) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `timeout must be a non-negative integer, got ${timeout}`);
    }
    this.shuttingDown = true;
    const listener = this.listener;
    const serverClosed =
      listener === null ? Promise.resolve() : new Promise<void>((resolve) => listener.server.close(() => resolve()));
    listener?.closeIdle();

    const connections = [...this.live];
    let closed = 0;
    let terminated = 0;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeout);
    });
    await Promise.all(
      connections.map(async (ws) => {
        const result = await Promise.race([ws.close(code, 'server shutting down'), deadline.then(() => null)]);
        if (result !== null && result.wasClean) closed++;
        else {
          terminated++;
          ws.terminate('server shut down');
          // Resolve only once every connection has really gone (and left `clients`).
          await ws.closed;
        }
      }),
    );
    clearTimeout(timer);
    listener?.closeAll();
    await serverClosed;
    this.listener = null;
    this.zlib?.clear();
    return { closed, terminated };
  }

  /**
   * Drains for a deploy (drain.ts): stops accepting handshakes (503) at once, then closes the
   * connections in `waves` spread over `deadline` ms with jitter, with `code` (1012, service
   * restart, by default), so that their clients do not all reconnect at the same moment; what is
   * still open at the deadline is destroyed. Resolves with `{ closed, terminated }` once every
   * connection is gone and the HTTP server `listen()` started has stopped. Rejects with
   * WS_ERR_INVALID_ARGUMENT, before anything stops, for an option out of its bounds.
   */
  async drain(options: DrainOptions = {}): Promise<ShutdownResult> {
    const plan = resolveDrain(options);
    this.shuttingDown = true;
    const result = await drainConnections([...this.live], plan);
    // Nothing is open any more: close() only stops the HTTP server and releases resources.
    await this.close({ code: plan.code, timeout: 0 });
    return result;
  }

  /**
   * permessage-deflate for a client's Sec-WebSocket-Extensions (RFC 7692 7), or null to decline.
   * Context takeover is granted while the server's context memory budget lasts; past it, the
   * connection gets no context takeover either way, and pooled contexts (RFC 7692 7.1.1 lets the
   * server ask that of the client in any case).
   */
  private negotiateDeflate(offers: readonly ExtensionOffer[]): (DeflateNegotiation & { reserved: number }) | undefined {
    const config = this.options.perMessageDeflate;
    const zlib = this.zlib;
    if (config === null || zlib === null) return undefined;
    let negotiated = negotiatePermessageDeflate(offers, config);
    if (negotiated === undefined) return undefined;
    const reserved = takeoverBytes(negotiated.agreement, config.memLevel);
    if (reserved > 0 && !zlib.budget.tryReserve(reserved)) {
      negotiated = negotiatePermessageDeflate(offers, {
        ...config,
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
      });
      return negotiated === undefined ? undefined : { ...negotiated, reserved: 0 };
    }
    return { ...negotiated, reserved };
  }

  /** A connection is gone: it leaves `clients` and gives back its slot of the per-address limits. */
  private forget(ws: Ws): void {
    this.live.delete(ws);
    const admitted = this.admitted.get(ws);
    if (admitted === undefined) return;
    this.admitted.delete(ws);
    admitted.release();
  }

  private rateLimited(ws: Ws, event: RateLimitEvent): void {
    try {
      this.hooks.onRateLimit!(ws, event);
    } catch (error) {
      this.report(error, ws);
    }
  }

  /** Answers a refused handshake (`answer`: on its socket, or its stream), and tells onRefused. */
  private refused(answer: (error: HandshakeError) => void, request: UpgradeRequest | undefined, error: HandshakeError): void {
    answer(error);
    const onRefused = this.hooks.onRefused;
    if (onRefused === undefined) return;
    try {
      onRefused({ status: error.status, code: error.code, message: error.message, request });
    } catch (hookError) {
      this.report(hookError, undefined);
    }
  }

  private runHandler(handler: ServerHandler, ws: Ws, request: UpgradeRequest): void {
    try {
      const result = handler(ws, request);
      // The rejection handler lives as long as the handler runs (for an idle connection, as long
      // as it is open): a bound method (48 + 24 bytes) rather than a closure and its context
      // (about 104; memory per idle connection).
      if (isPromiseLike(result)) result.then(undefined, this.handlerFailed.bind(this, ws));
    } catch (error) {
      this.handlerFailed(ws, error);
    }
  }

  private handlerFailed(ws: Ws, error: unknown): void {
    // A recv() loop ends with ConnectionClosedError when the peer goes: that is not a bug.
    if (error instanceof WebSocketError && error.code === 'WS_ERR_CLOSED') return;
    this.report(error, ws);
    ws.abort(CloseCode.INTERNAL_ERROR, 'internal error', 'WS_ERR_HANDLER_FAILED');
  }

  /** A plain HTTP request on listen()'s server: the onHttpRequest hook's, else 426. */
  private respondPlain(request: IncomingMessage, response: ServerResponse): void {
    try {
      if (this.hooks.onHttpRequest?.(request, response) === true) return;
    } catch (error) {
      this.report(error, undefined);
      if (response.headersSent) response.destroy();
      else {
        const body = 'internal server error\n';
        response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, Connection: 'close' });
        response.end(body);
      }
      return;
    }
    respondNotWebSocket(request, response);
  }

  private report(error: unknown, ws: Ws | undefined): void {
    const onError = this.hooks.onError;
    if (onError === undefined) {
      console.error('rfc6455: unhandled error in a connection handler:', error);
      return;
    }
    try {
      onError(error, ws);
    } catch (secondary) {
      console.error('rfc6455: onError threw:', secondary, 'while reporting:', error);
    }
  }
}

/** The HTTP/1.1 answer to a refused handshake: the application's own (allowRequest), or status and message. */
function responseOf(error: HandshakeError): string | Uint8Array {
  return error instanceof RequestRefusal ? error.response : buildErrorResponse(error.status, error.message, error.headers);
}
