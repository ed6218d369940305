/**
 * `rfc6455 echo` (and `npm start`): the echo server, the Autobahn fuzzing client's target. Text
 * comes back as text, binary as binary, fragmented messages whole; pings are answered by the
 * library. Plain HTTP GET / serves the browser echo page (src/echo/page.ts, seed 001); other plain
 * requests get 426. On SIGINT or SIGTERM every connection gets 1001 and the process exits 0.
 *
 * With `--cert FILE --key FILE` it serves wss:// instead, HTTP/1.1 and HTTP/2 on one port (ALPN):
 * WebSockets over either (RFC 8441 for HTTP/2), the page over either.
 */

import { readFileSync } from 'node:fs';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { asksForTransport, serveEchoPage, serveNotFound } from '../echo/page.js';
import { WebSocketServer } from '../node/server.js';
import type { UpgradeRequest } from '../node/server-options.js';
import type { Ws } from '../node/ws.js';
import { usageError } from './usage.js';

export interface EchoArguments {
  readonly port: string | undefined;
  readonly host: string | undefined;
  readonly noDeflate: boolean;
  /** A certificate and its key (PEM files): serve wss:// over HTTP/1.1 and HTTP/2. */
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) usageError('echo server', `invalid port ${JSON.stringify(value)}`);
  return port;
}

// Above this many unsent bytes the echo waits for the kernel to take them before reading on.
const ECHO_HIGH_WATER = 1024 * 1024;

async function echo(ws: Ws, request: UpgradeRequest): Promise<void> {
  // A client that asked (the echo page does, /?transport) is told first what carries it.
  if (asksForTransport(request.url)) await ws.send(`transport: ${ws.transport}`);
  for await (const message of ws) {
    const sent = ws.send(message.data);
    // A peer that sends faster than it reads gets TCP backpressure, not an ever-growing buffer.
    if (ws.bufferedAmount > ECHO_HIGH_WATER) await sent;
  }
}

export async function runEcho(args: EchoArguments): Promise<void> {
  const port = parsePort(args.port ?? process.env['PORT'] ?? '9001');
  const host = args.host ?? process.env['HOST'];

  if ((args.cert === undefined) !== (args.key === undefined)) usageError('echo server', '--cert and --key go together');
  const tls = args.cert === undefined ? null : { cert: readPem('--cert', args.cert), key: readPem('--key', args.key!) };

  // Compression is on so that the Autobahn run covers it (sections 12 and 13), for every message
  // (threshold 0): the cases' small messages then exercise compression too.
  const server = new WebSocketServer({
    handler: echo,
    perMessageDeflate: args.noDeflate ? false : { threshold: 0 },
    onHttpRequest: serveEchoPage,
  });
  let address: AddressInfo;
  let secure: Http2SecureServer | null = null;
  try {
    if (tls === null) address = await server.listen(port, host);
    else {
      // One port, both protocols: ALPN picks h2 or http/1.1; WebSockets come as extended CONNECT
      // streams (attach() advertises them) or as HTTP/1.1 upgrades (allowHTTP1).
      secure = createSecureServer({ ...tls, allowHTTP1: true }, (request, response) => {
        if (!serveEchoPage(request, response)) serveNotFound(request, response);
      });
      server.attach(secure);
      address = await listenOn(secure, port, host);
    }
  } catch (error) {
    usageError('echo server', `cannot listen on port ${port}: ${(error as Error).message}`);
  }
  const shown =
    address.address === '::' || address.address === '0.0.0.0'
      ? 'localhost'
      : address.family === 'IPv6'
        ? `[${address.address}]`
        : address.address;

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // Every connection gets a 1001 close and closeTimeout to answer it.
    server.close({ code: 1001 }).then(
      () => {
        secure?.close();
        process.exit(0);
      },
      (error: unknown) => {
        console.error('rfc6455 echo server: shutdown failed:', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Logged last: whoever waits for this line may signal at once, and the handlers are ready.
  if (secure === null) console.log(`rfc6455 echo server listening on ws://${shown}:${address.port}`);
  else console.log(`rfc6455 echo server listening on wss://${shown}:${address.port} (HTTP/1.1 and HTTP/2)`);
}

function readPem(option: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    usageError('echo server', `cannot read ${option} ${file}: ${(error as Error).message}`);
  }
}

function listenOn(server: Http2SecureServer, port: number, host: string | undefined): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
