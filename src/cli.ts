#!/usr/bin/env node
/**
 * `npm start` and the package's `rfc6455` command (package.json `bin`): the echo server, the
 * Autobahn fuzzing client's target. Text comes back as text, binary as binary, fragmented messages
 * whole; pings are answered by the library.
 *
 *   npm start                      # port 9001, or $PORT
 *   npm start -- --port 9002 --host 127.0.0.1
 *   npm start -- --no-deflate      # decline permessage-deflate (offered by default)
 *   rfc6455 echo --port 9002       # the same, as an installed command ("echo" may be left out)
 */

import { parseArgs } from 'node:util';
import { WebSocketServer } from './node/server.js';
import type { Ws } from './node/ws.js';

function fail(message: string): never {
  console.error(`rfc6455 echo server: ${message}`);
  process.exit(2);
}

const USAGE = `Usage: rfc6455 [echo] [--port N] [--host H] [--no-deflate]

Commands:
  echo             an echo server (the default when no command is given)

Options:
  -p, --port N     port to listen on (default: $PORT, else 9001; 0 picks a free one)
      --host H     address to listen on (default: $HOST, else every interface)
      --no-deflate decline permessage-deflate (offered by default)
  -h, --help       print this help
`;

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) fail(`invalid port ${JSON.stringify(value)}`);
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

async function main(): Promise<void> {
  let values: {
    port?: string | undefined;
    host?: string | undefined;
    'no-deflate'?: boolean | undefined;
    help?: boolean | undefined;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      allowPositionals: true,
      options: {
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'no-deflate': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  // `rfc6455 echo ...` and the bare form `npm start` uses are the same command.
  const [command = 'echo', ...extra] = positionals;
  if (command !== 'echo') fail(`unknown command ${JSON.stringify(command)} (try --help)`);
  if (extra.length > 0) fail(`unexpected argument ${JSON.stringify(extra[0])} (try --help)`);
  const port = parsePort(values.port ?? process.env['PORT'] ?? '9001');
  const host = values.host ?? process.env['HOST'];

  // Compression is on so that the Autobahn run covers it (sections 12 and 13), for every message
  // (threshold 0): the cases' small messages then exercise compression too.
  const server = new WebSocketServer({
    handler: echo,
    perMessageDeflate: values['no-deflate'] === true ? false : { threshold: 0 },
  });
  let address;
  try {
    address = await server.listen(port, host);
  } catch (error) {
    fail(`cannot listen on port ${port}: ${(error as Error).message}`);
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

void main();
