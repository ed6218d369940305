/**
 * The server's own options: its hooks (the handler, subprotocol selection, the request check,
 * error and refusal reports, plain HTTP requests) over the options of every connection.
 */

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { OriginsOption } from '../protocol/origin.js';
import type { LimitOptions, RateLimitEvent } from './limits.js';
import type { HandshakeRefusal } from './refusal.js';
import { invalidOption, resolveOptions, type ResolvedOptions, type WsOptions } from './options.js';
import type { Ws } from './ws.js';

/**
 * The request that opened a WebSocket, as the server's hooks see it, whatever carried it: an
 * HTTP/1.1 upgrade (Node's `IncomingMessage` is one, and it is one over HTTP/1.1) or an HTTP/2
 * extended CONNECT (RFC 8441), where `method` is 'CONNECT', `httpVersion` '2.0', `headers` holds
 * the pseudo-header fields too (the host is `:authority`, the path `:path`), and `socket` is the
 * HTTP/2 session's, shared by its streams.
 */
export interface UpgradeRequest {
  /** 'GET' over HTTP/1.1, 'CONNECT' over HTTP/2. */
  readonly method?: string | undefined;
  /** The request target: path and query. */
  readonly url?: string | undefined;
  /** The request's header fields, names in lower case. */
  readonly headers: IncomingHttpHeaders;
  /** '1.1', or '2.0' over HTTP/2. */
  readonly httpVersion: string;
  /** The connection the request came on: who the client is, and whether it was TLS. */
  readonly socket: {
    /** The client's IP address (over HTTP/2, the session's). */
    readonly remoteAddress?: string | undefined;
    /** The client's port. */
    readonly remotePort?: number | undefined;
    /** True over TLS. */
    readonly encrypted?: boolean | undefined;
  };
}

/**
 * The server's `handler`: called with each new connection and the request that opened it. Written
 * as a method's type, whose parameters TypeScript checks bivariantly, so that a handler written
 * before HTTP/2, `(ws, request: IncomingMessage) => ...`, still type-checks (over HTTP/2 the
 * request is an UpgradeRequest, not an IncomingMessage).
 */
export type ServerHandler = {
  /** Called with the connection and the request that opened it; a rejection closes it with 1011. */
  handler(ws: Ws, request: UpgradeRequest): unknown;
}['handler'];

/** A handshake the server refused: what the client was answered, and why. */
export interface RefusedHandshake {
  /** The HTTP status sent (400, 403, 405, 408, 426, 429, 431, 500, 503, or allowRequest's own). */
  readonly status: number;
  /** The stable code of the reason (WS_ERR_HANDSHAKE_*, or WS_ERR_HOOK_FAILED for a hook that threw). */
  readonly code: string;
  /** What was wrong, for logs: also the one-line body of the response. */
  readonly message: string;
  /** The request, when one was read (a handshake timeout may come before it). */
  readonly request: UpgradeRequest | undefined;
}

/**
 * The options of `new WebSocketServer(options)`: the options of every connection (WsOptions), and
 * the server's hooks and policies (the handler, subprotocols, origins, limits, reports).
 */

// The hooks that take a request are declared as methods (bivariant parameters, see ServerHandler):
// hooks written for IncomingMessage keep type-checking.
export interface ServerOptions extends WsOptions {
  /**
   * Called with each new connection. If it throws or rejects, the connection closes with 1011.
   * @defaultValue none: connections are only reachable through `clients` and handleUpgrade()
   */
  handler?: ServerHandler;
  /**
   * Chooses a subprotocol among those the client offered (RFC 6455 4.2.2), or undefined for none.
   * It must return one of `offered`.
   * @defaultValue none is chosen
   */
  selectProtocol?(offered: readonly string[], request: UpgradeRequest): string | undefined;
  /**
   * Which browser origins may connect (cross-site WebSocket hijacking: a page of any site can open
   * a WebSocket to this server, with this site's cookies). A list of `'same-origin'` (the
   * Origin's host and port equal Host's), exact origins (`'https://app.example.com'`) and host
   * patterns (`'*.example.com'`, `'localhost:*'`); others get 403 (WS_ERR_HANDSHAKE_ORIGIN).
   * A request without Origin (not from a browser page) is accepted unless `requireOrigin`.
   * `'*'` accepts every origin.
   * @defaultValue `['same-origin']`
   */
  origins?: OriginsOption;
  /**
   * Refuse (403) requests without an Origin header, i.e. every client but a browser page.
   * @defaultValue false
   */
  requireOrigin?: boolean;
  /**
   * Abuse limits: message and byte rates per connection, handshakes and connections per client
   * address (see LimitOptions).
   * @defaultValue none
   */
  limits?: LimitOptions;
  /**
   * Told of each message a connection sent over its `limits` (it was not delivered); the
   * connection is closed with 1008 (WS_ERR_RATE_LIMITED) once `limits.maxDropped` are dropped in
   * a row. A good place to tell the client it is rate limited.
   */
  onRateLimit?: (ws: Ws, event: RateLimitEvent) => void;
  /**
   * Decides whether to accept a request (check cookies, tokens...) once its origin is accepted:
   * `true` accepts, `false` answers 403 (WS_ERR_HANDSHAKE_FORBIDDEN), a `HandshakeRefusal`
   * (`{ status: 400-599, body?, headers? }`) answers that (WS_ERR_HANDSHAKE_REFUSED). Any other
   * value is WS_ERR_INVALID_ARGUMENT, reported to `onError` and answered with 500.
   * @defaultValue every request that follows RFC 6455 and `origins` is accepted
   */
  allowRequest?(request: UpgradeRequest): boolean | HandshakeRefusal | Promise<boolean | HandshakeRefusal>;
  /**
   * Receives errors the library cannot hand back to a caller: a handler that threw, a hook that
   * failed. Each error is reported once.
   * @defaultValue console.error
   */
  onError?: (error: unknown, ws: Ws | undefined) => void;
  /** Called for every handshake the server refuses, with the status sent and the reason's code (metrics, logs). */
  onRefused?: (refused: RefusedHandshake) => void;
  /**
   * Plain HTTP requests (not upgrades) on the server `listen()` starts: return true once the
   * request is answered, false to leave it to the default 426 Upgrade Required. If it throws, the
   * error goes to `onError` and the client gets 500. Servers of your own (`attach`,
   * `handleUpgrade`) keep their own request handlers and never call it.
   */
  onHttpRequest?: (request: IncomingMessage, response: ServerResponse) => boolean;
}

/** The connection options resolved, and every hook checked to be a function (WS_ERR_INVALID_ARGUMENT). */
export function resolveServerOptions(options: ServerOptions = {}): ResolvedOptions {
  const resolved = resolveOptions(options);
  for (const hook of ['handler', 'selectProtocol', 'allowRequest', 'onError', 'onRefused', 'onHttpRequest', 'onRateLimit'] as const) {
    if (options[hook] !== undefined && typeof options[hook] !== 'function') {
      throw invalidOption(hook, 'a function', options[hook]);
    }
  }
  return resolved;
}
