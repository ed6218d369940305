/**
 * `listen()`'s own accept path (issue 18): a `node:net` server whose connections' first request
 * head is read by the core's bounded parser (protocol/http-request.ts) instead of Node's HTTP
 * machinery. An upgrade goes straight to the handshake; any other request is handed, with the
 * bytes read so far, to an internal `http.Server` (made on first use), so that plain requests keep
 * Node's full HTTP semantics (`onHttpRequest` gets a real IncomingMessage and ServerResponse).
 *
 * Why: a connection accepted by `http.Server` carries its parser, request and listener wrappers
 * until it upgrades, and part of that stays referenced by the upgraded socket for as long as it is
 * open (memory per idle connection). Here a connection's reader is one closure and three
 * listeners, all dropped when its head is complete: an upgraded socket keeps nothing of this file.
 */

import type { IncomingHttpHeaders, Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { HandshakeError } from '../protocol/errors.js';
import { RequestHeadParser, hasBody, type RequestHead, type RequestHeadLimits } from '../protocol/http-request.js';
import type { UpgradeRequest } from './server-options.js';
import { noop } from './util.js';

/** A request `listen()` read itself: what the hooks and the handler get for an upgrade. */
export interface ListenedRequest extends UpgradeRequest {
  readonly method: string;
  readonly url: string;
  /** Names (as sent) and values, alternating, as IncomingMessage's rawHeaders. */
  readonly rawHeaders: readonly string[];
  readonly socket: Socket;
}

/** What the listener asks of its WebSocketServer. */
export interface ListenerHost {
  readonly limits: RequestHeadLimits;
  /** The handshake clock, started at TCP accept (slowloris), cleared by the handshake or by Node. */
  arm(socket: Socket): void;
  clear(socket: Socket): void;
  /** An upgrade request: the handshake; `head` holds the bytes that came after it. */
  upgrade(request: ListenedRequest, socket: Socket, head: Buffer): void;
  /** A request refused before it was read (malformed, too large): answer `error` and close. */
  refuse(socket: Socket, error: HandshakeError): void;
  /** The http.Server plain requests go to; its 'request' and 'upgrade' listeners are the host's. */
  createHttpServer(): HttpServer;
}

export class UpgradeListener {
  readonly server: NetServer;
  private readonly host: ListenerHost;
  /** Sockets whose first request head is still being read, and whether a byte of it has come. */
  private readonly pending = new Map<Socket, boolean>();
  private http: HttpServer | null = null;

  constructor(host: ListenerHost) {
    this.host = host;
    // As http.Server makes its sockets: half-open allowed (the WebSocket decides when to end),
    // Nagle off.
    this.server = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
  }

  /** Closes what is not in a request: connections that have sent nothing, idle keep-alive ones. */
  closeIdle(): void {
    for (const [socket, started] of this.pending) if (!started) socket.destroy();
    this.http?.closeIdleConnections();
  }

  /** Destroys every connection not upgraded, and stops the internal http.Server's clock. */
  closeAll(): void {
    for (const socket of [...this.pending.keys()]) socket.destroy();
    this.pending.clear();
    const http = this.http;
    if (http === null) return;
    http.closeAllConnections();
    // Never listening: close() only clears its connection-checking interval (the error is expected).
    http.close(noop);
    this.http = null;
  }

  private accept(socket: Socket): void {
    const host = this.host;
    const pending = this.pending;
    host.arm(socket);
    pending.set(socket, false);
    const parser = new RequestHeadParser(host.limits);
    // The chunks of the head, kept for the internal http.Server if it is not an upgrade.
    const chunks: Buffer[] = [];
    const detach = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.off('error', noop);
      pending.delete(socket);
    };
    const onClose = (): void => {
      detach();
      host.clear(socket);
    };
    // The client's FIN before the end of its head (half-open sockets: ending ours is up to us):
    // nothing sent, nothing to answer; a part of a head, a 400, as Node's parser answers it.
    const onEnd = (): void => {
      const started = pending.get(socket) === true;
      detach();
      host.clear(socket);
      if (!started) socket.end();
      else host.refuse(socket, new HandshakeError('WS_ERR_INVALID_HTTP_REQUEST', 400, 'invalid HTTP request: the connection ended before the request head did'));
    };
    const onData = (chunk: Buffer): void => {
      // Refused meanwhile (the handshake clock): what still comes is read and dropped by refuse().
      if (socket.writableEnded) return detach();
      pending.set(socket, true);
      let head: RequestHead | null;
      try {
        head = parser.push(chunk);
      } catch (error) {
        detach();
        host.refuse(socket, error as HandshakeError);
        return;
      }
      if (head === null) {
        chunks.push(chunk);
        return;
      }
      detach();
      if (!isUpgrade(head)) {
        chunks.push(chunk);
        this.handOver(socket, chunks);
        return;
      }
      if (hasBody(head)) {
        // RFC 6455 4.1's request has no body: the bytes after its head are frames. A request that
        // says otherwise is one that two parsers would read two ways (RFC 9112 6.3).
        host.refuse(socket, new HandshakeError('WS_ERR_INVALID_HTTP_REQUEST', 400, 'invalid HTTP request: an upgrade request with a body'));
        return;
      }
      // Read nothing more until the connection's owner listens, as Node does on 'upgrade' (not
      // pause(): a paused socket stays paused when the Ws adds its 'data' listener).
      (socket as { readableFlowing: boolean | null }).readableFlowing = null;
      const rest = parser.remainder;
      host.upgrade(
        {
          method: head.method,
          url: head.url,
          httpVersion: head.httpVersion,
          // Joined as IncomingMessage joins them (see RequestHead.headers).
          headers: head.headers as IncomingHttpHeaders,
          rawHeaders: head.rawHeaders,
          socket,
        },
        socket,
        Buffer.from(rest.buffer, rest.byteOffset, rest.byteLength),
      );
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    // Until the head is read, a reset is only the end of this connection.
    socket.on('error', noop);
  }

  /**
   * Not an upgrade: the internal http.Server takes the connection over, the bytes read put back
   * first, and answers it (and any request after it on the connection) with Node's own semantics.
   */
  private handOver(socket: Socket, chunks: readonly Buffer[]): void {
    const http = (this.http ??= this.startHttp());
    socket.unshift(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    http.emit('connection', socket);
  }

  private startHttp(): HttpServer {
    const http = this.host.createHttpServer();
    // A server that never listens does not track its connections (headersTimeout, requestTimeout,
    // closeAllConnections): 'listening' is where Node starts that.
    http.emit('listening');
    return http;
  }
}

/**
 * What Node's parser takes for an upgrade (its 'upgrade' event): an Upgrade header, and a
 * Connection header naming "upgrade" (RFC 9110 7.6.1, 7.8); CONNECT is Node's 'connect', not ours.
 */
function isUpgrade(head: RequestHead): boolean {
  const { upgrade, connection } = head.headers;
  if (upgrade === undefined || typeof connection !== 'string' || head.method === 'CONNECT') return false;
  for (const token of connection.split(',')) if (token.trim().toLowerCase() === 'upgrade') return true;
  return false;
}
