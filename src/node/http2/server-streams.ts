/**
 * The server's side of WebSockets over HTTP/2 (RFC 8441) that is about Node's `http2` module
 * rather than about WebSockets: which streams are ours, what the application's hooks see of a
 * stream's request, and how a refused stream is answered. The handshake itself is the core's
 * (protocol/extended-connect.ts), the connection the same Ws as over HTTP/1.1 (transport.ts).
 *
 * Routing on an attached server: an extended CONNECT with `:protocol websocket` is ours. Any other
 * stream belongs to the application's own 'stream' listeners (or its request handler, through
 * Node's compatibility layer, which reports CONNECTs as 'connect' events); when nobody else
 * listens, a CONNECT gets 501 and any other method 405, rather than a stream left hanging.
 */

import { constants, type Http2SecureServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { UpgradeRequest } from '../server-options.js';
import { noop } from '../util.js';
import { HandshakeError } from '../../protocol/errors.js';
import { RequestRefusal } from '../refusal.js';

/** An `http2` server, cleartext (h2c) or secure. */
export type AnyHttp2Server = Http2Server | Http2SecureServer;

/** Whether `server` is a `node:http2` server (which does not export its classes). */
export function isHttp2Server(server: object): server is AnyHttp2Server {
  return typeof (server as Partial<Http2Server>).updateSettings === 'function';
}

/** Whether a stream's request is RFC 8441's WebSocket CONNECT. */
export function isWebSocketConnect(headers: IncomingHttpHeaders): boolean {
  const protocol = headers[':protocol'];
  return headers[':method'] === 'CONNECT' && typeof protocol === 'string' && protocol.toLowerCase() === 'websocket';
}

/**
 * What the hooks see of a stream's request: the same fields as an HTTP/1.1 upgrade's
 * IncomingMessage. `headers` are the stream's, pseudo-header fields included (the host is
 * `:authority`); the socket is the session's (shared by its streams), for its address.
 */
export function streamRequest(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): UpgradeRequest {
  const path = headers[':path'];
  const method = headers[':method'];
  return {
    method: typeof method === 'string' ? method : undefined,
    url: typeof path === 'string' ? path : undefined,
    headers,
    httpVersion: '2.0',
    socket: stream.session?.socket ?? {},
  };
}

/** The header block as name, value pairs (what `maxHeaderSize` and `maxHeaderCount` count), as rawHeaders. */
export function flatHeaders(headers: IncomingHttpHeaders): string[] {
  const raw: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) raw.push(name, item);
    else raw.push(name, String(value));
  }
  return raw;
}

/**
 * Answers a refused stream with `status` and a one-line body, then resets the rest of the request
 * with NO_ERROR (RFC 9113 8.1: the server has answered; the client need not send more). The
 * session and its other streams are untouched: a refusal is never a connection error.
 */
export function refuseStream(stream: ServerHttp2Stream, error: HandshakeError): void {
  stream.on('error', noop);
  if (stream.destroyed || stream.closed) return;
  if (!stream.headersSent) {
    // The application's own answer (allowRequest's HandshakeRefusal), or the status and its message.
    const own = error instanceof RequestRefusal;
    const body = own ? error.body : `${error.message}\n`;
    const fields: Record<string, string | number> = {};
    for (const [name, value] of Object.entries(error.headers)) fields[name.toLowerCase()] = value;
    fields[':status'] = error.status;
    fields['content-type'] = own ? error.contentType : 'text/plain; charset=utf-8';
    fields['content-length'] = Buffer.byteLength(body);
    try {
      stream.respond(fields);
      stream.end(body);
    } catch {
      // The session went away meanwhile: the reset below is all that is left to do.
    }
  }
  stream.close(constants.NGHTTP2_NO_ERROR);
}

/** What the router needs of the WebSocketServer. */
export interface StreamTaker {
  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): unknown;
}

/**
 * Routes an HTTP/2 server's WebSocket streams to `taker`, and advertises the extended CONNECT
 * (SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441 3) to the sessions it accepts from now on.
 */
export function routeStreams(server: AnyHttp2Server, taker: StreamTaker): void {
  server.updateSettings({ enableConnectProtocol: true });
  const taken = new WeakSet<ServerHttp2Stream>();
  // First of the 'stream' listeners: a WebSocket stream is ours before anyone else sees it.
  server.prependListener('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    if (isWebSocketConnect(headers)) {
      taken.add(stream);
      void taker.handleStream(stream, headers);
    } else if (server.listenerCount('stream') === 1) {
      // Nobody else listens (no request handler either: Node's compatibility layer is a listener).
      refuseUnclaimed(stream, headers);
    }
  });
  // Node's compatibility layer (a 'request' listener) turns every CONNECT into a 'connect' event,
  // and answers 405 itself when nobody listens: ours are taken above already, the others are
  // the application's 'connect' listeners', or get 501.
  server.on('connect', (request: { stream?: ServerHttp2Stream; headers: IncomingHttpHeaders }, second: unknown) => {
    const stream = request.stream;
    if (stream === undefined) {
      // An HTTP/1.1 CONNECT (allowHTTP1): without a listener of its own, Node drops its socket.
      if (server.listenerCount('connect') === 1) (second as Duplex).destroy();
      return;
    }
    if (taken.has(stream)) return;
    if (isWebSocketConnect(request.headers)) {
      taken.add(stream);
      void taker.handleStream(stream, request.headers);
    } else if (server.listenerCount('connect') === 1) {
      refuseUnclaimed(stream, request.headers);
    }
  });
}

function refuseUnclaimed(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  if (headers[':method'] === 'CONNECT') {
    const what = JSON.stringify(headers[':protocol'] ?? 'a tunnel');
    refuseStream(stream, new HandshakeError('WS_ERR_HANDSHAKE_METHOD', 501, `CONNECT for ${what} is not implemented here (WebSockets: :protocol websocket)`));
  } else {
    refuseStream(stream, new HandshakeError('WS_ERR_HANDSHAKE_METHOD', 405, 'this server takes WebSocket CONNECT requests only (RFC 8441)', { Allow: 'CONNECT' }));
  }
}
