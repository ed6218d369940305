#!/usr/bin/env node
/**
 * `npm start` and the package's `rfc6455` command (package.json `bin`):
 *
 *   npm start                      # the echo server on port 9001, or $PORT
 *   npm start -- --port 9002 --host 127.0.0.1 --no-deflate
 *   npm start -- --cert cert.pem --key key.pem   # wss://, HTTP/1.1 and HTTP/2 on one port
 *   rfc6455 echo --port 9002       # the same, as an installed command ("echo" may be left out)
 *   rfc6455 connect ws://localhost:9001/   # a client: stdin lines out, messages printed
 */

import { parseArgs } from 'node:util';
import { runConnect } from './cli/connect.js';
import { runEcho } from './cli/echo.js';
import { USAGE, usageError } from './cli/usage.js';

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'no-deflate': { type: 'boolean' },
        cert: { type: 'string' },
        key: { type: 'string' },
        header: { type: 'string', short: 'H', multiple: true },
        subprotocol: { type: 'string', short: 's', multiple: true },
        origin: { type: 'string' },
        ca: { type: 'string' },
        insecure: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    usageError('echo server', (error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  // `rfc6455 echo ...` and the bare form `npm start` uses are the same command.
  const [command = 'echo', ...rest] = positionals;
  if (command === 'connect') {
    if (rest.length > 1) usageError('connect', `unexpected argument ${JSON.stringify(rest[1])} (try --help)`);
    await runConnect({
      url: rest[0],
      headers: values.header ?? [],
      subprotocols: values.subprotocol ?? [],
      origin: values.origin,
      noDeflate: values['no-deflate'] === true,
      ca: values.ca,
      insecure: values.insecure === true,
    });
    return;
  }
  if (command !== 'echo') usageError('echo server', `unknown command ${JSON.stringify(command)} (try --help)`);
  if (rest.length > 0) usageError('echo server', `unexpected argument ${JSON.stringify(rest[0])} (try --help)`);
  await runEcho({ port: values.port, host: values.host, noDeflate: values['no-deflate'] === true, cert: values.cert, key: values.key });
}

void main();
