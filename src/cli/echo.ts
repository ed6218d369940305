/**
 * `rfc6455 echo` (and `npm start`): the echo server, the Autobahn fuzzing client's target. Text
 * comes back as text, binary as binary, fragmented messages whole; pings are answered by the
 * library. Plain HTTP GET / serves the browser echo page (src/echo/page.ts, seed 001); other plain
 * requests get 426. On SIGINT or SIGTERM every connection gets 1001 and the process exits 0.
 */

import { serveEchoPage } from '../echo/page.js';
import { WebSocketServer } from '../node/server.js';
import type { Ws } from '../node/ws.js';
import { usageError } from './usage.js';

export interface EchoArguments {
  readonly port: string | undefined;
  readonly host: string | undefined;
  readonly noDeflate: boolean;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) usageError('echo server', `invalid port ${JSON.stringify(value)}`);
  return port;
}

// Above this many unsent bytes the echo waits for the kernel to take them before reading on.
const ECHO_HIGH_WATER = 1024 * 1024;

async function echo(ws: Ws): Promise<void> {
  for await (const message of ws) {
    const sent = ws.send(message.data);
    // A peer that sends faster than it reads gets TCP backpressure, not an ever-growing buffer.
    if (ws.bufferedAmount > ECHO_HIGH_WATER) await sent;
  }
}

export async function runEcho(args: EchoArguments): Promise<void> {
  const port = parsePort(args.port ?? process.env['PORT'] ?? '9001');
  const host = args.host ?? process.env['HOST'];

  // Compression is on so that the Autobahn run covers it (sections 12 and 13), for every message
  // (threshold 0): the cases' small messages then exercise compression too.
  const server = new WebSocketServer({
    handler: echo,
    perMessageDeflate: args.noDeflate ? false : { threshold: 0 },
    onHttpRequest: serveEchoPage,
  });
  let address;
  try {
    address = await server.listen(port, host);
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
      () => process.exit(0),
      (error: unknown) => {
        console.error('rfc6455 echo server: shutdown failed:', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Logged last: whoever waits for this line may signal at once, and the handlers are ready.
  console.log(`rfc6455 echo server listening on ws://${shown}:${address.port}`);
}
