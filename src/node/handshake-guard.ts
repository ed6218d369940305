/**
 * The HTTP side of a server's handshakes, apart from the WebSocket logic (which is the core's):
 * the size limits Node does not enforce, the handshake clocks (slowloris), how a refused request
 * is answered and its socket closed, and the answer to a plain request on listen()'s server.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { HandshakeError } from '../protocol/errors.js';
import { validateHandshakeRequest } from '../protocol/handshake.js';
import type { ResolvedOptions } from './options.js';
import { noop } from './util.js';

/**
 * The upgrade request's size (its header lines as rawHeaders lists them: name, value, name...),
 * checked before anything else reads it. Node's parser bounds the head of servers it creates
 * (maxHeaderSize), but an attached server may have been given larger limits, and Node silently
 * drops header lines past maxHeadersCount instead of refusing the request. An HTTP/2 request's
 * fields, pseudo-header fields included, are counted the same way.
 */
export function checkHeaderLimits(raw: readonly string[], limits: ResolvedOptions): void {
  if (raw.length > 2 * limits.maxHeaderCount) {
    throw new HandshakeError(
      'WS_ERR_HANDSHAKE_HEADERS',
      431,
      `more than ${limits.maxHeaderCount} header lines`,
    );
  }
  let size = 0;
  for (const part of raw) size += part.length;
  if (size > limits.maxHeaderSize) {
    throw new HandshakeError('WS_ERR_HANDSHAKE_HEADERS', 431, `headers larger than ${limits.maxHeaderSize} bytes`);
  }
}

/**
 * The handshake clocks of sockets still in their opening handshake. A map, not a property and a
 * 'close' listener on each socket, so that nothing stays behind on the millions of sockets whose
 * handshake completes. A socket that dies mid-handshake leaves its entry until its timer fires.
 */
export class HandshakeTimers {
  private readonly timers = new Map<Duplex, NodeJS.Timeout>();
  private readonly timeout: number;
  private readonly onExpired: (socket: Duplex) => void;

  constructor(timeout: number, onExpired: (socket: Duplex) => void) {
    this.timeout = timeout;
    this.onExpired = onExpired;
  }

  /** Starts the socket's clock, unless it is already running. */
  arm(socket: Duplex): void {
    if (this.timers.has(socket)) return;
    const timer = setTimeout(onHandshakeTimeout, this.timeout, this, socket);
    timer.unref();
    this.timers.set(socket, timer);
  }

  clear(socket: Duplex): void {
    const timer = this.timers.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(socket);
  }

  /** @internal */
  expired(socket: Duplex): void {
    this.timers.delete(socket);
    if (!socket.destroyed) this.onExpired(socket);
  }
}

function onHandshakeTimeout(timers: HandshakeTimers, socket: Duplex): void {
  timers.expired(socket);
}

/**
 * Writes the response to a refused handshake (a string is latin1: a head and an ASCII body) and
 * closes the socket. The socket is read (and the bytes dropped) until the client closes, so that
 * the response is not lost to a TCP reset, but for no longer than `linger` milliseconds.
 */
export function refuse(socket: Duplex, response: string | Uint8Array, linger: number): void {
  if (socket.destroyed) return;
  socket.on('error', noop);
  if (socket.writable) {
    if (typeof response === 'string') socket.end(response, 'latin1');
    else socket.end(response);
  }
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), linger);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** A plain HTTP request on a WebSocket-only server. */
export function respondNotWebSocket(request: IncomingMessage, response: ServerResponse): void {
  let status = 426;
  let message = 'this is a WebSocket endpoint: connect with a WebSocket client';
  const headers: Record<string, string> = { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' };
  if (request.headers.upgrade !== undefined) {
    // An upgrade request Node did not treat as one (no "Connection: upgrade"): say what is wrong.
    try {
      validateHandshakeRequest(request);
    } catch (error) {
      if (error instanceof HandshakeError) {
        status = error.status;
        message = error.message;
        Object.assign(headers, error.headers);
      }
    }
  }
  const body = `${message}\n`;
  response.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  response.end(body);
}

