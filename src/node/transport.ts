/**
 * The transport seam: what a `Ws` needs of what carries its bytes, beyond a `Duplex`. A Ws reads
 * and writes any Duplex the same way; what differs between an HTTP/1.1 upgrade's socket and an
 * HTTP/2 stream (RFC 8441) is how the connection is cut off and how writes are handed over, and
 * that lives in one `Transport` object per kind, shared by every connection of that kind (it is
 * reached through the connection's config, so it costs an idle connection nothing):
 *
 * - here, `TCP_TRANSPORT`: the socket is the sink, and destroying it drops the connection;
 * - in http2/stream-transport.ts, `HTTP2_STREAM_TRANSPORT`: RST_STREAM with CANCEL drops the
 *   stream (RFC 8441 5), and a paced writer keeps Node's HTTP/2 session from holding a stream's
 *   backlog (see there).
 *
 * The orderly end is the same for both: `end()` (a TCP FIN, an HTTP/2 END_STREAM).
 */

import type { Duplex } from 'node:stream';

/** What carries a WebSocket: an HTTP/1.1 upgrade ('http/1.1', TCP or TLS) or an HTTP/2 stream ('h2'). */
export type TransportName = 'http/1.1' | 'h2';

/** The outbound side as the Outbox uses it: a socket, or a writer in front of one. */
export interface ByteSink {
  write(chunk: Uint8Array, callback?: (error?: Error | null) => void): unknown;
  cork(): void;
  uncork(): void;
  /** The orderly end of our side once every write is done (FIN, END_STREAM). */
  end(): unknown;
  once(event: 'finish', listener: () => void): unknown;
  readonly destroyed: boolean;
  readonly writable: boolean;
  /** Bytes written and not yet taken by the kernel (or the HTTP/2 session): part of bufferedAmount. */
  readonly writableLength: number;
  readonly writableEnded: boolean;
}

export interface Transport {
  readonly name: TransportName;
  /** Where the Outbox writes: the socket itself, or a writer in front of it. Called once per connection. */
  sink(socket: Duplex): ByteSink;
  /** Drops the transport at once (RFC 6455 7.1.7, "drop the WebSocket connection"): no orderly end. */
  abort(socket: Duplex): void;
}

/** An HTTP/1.1 upgrade's socket (TCP, TLS, or any Duplex given to handleUpgrade or createConnection). */
export const TCP_TRANSPORT: Transport = {
  name: 'http/1.1',
  sink: (socket) => socket,
  abort: (socket) => {
    socket.destroy();
  },
};
