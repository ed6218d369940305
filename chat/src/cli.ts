/**
 * `npm run chat`: the chat server on port 3000 (PORT, --port), with the options of the command line
 * and the environment (`npm run chat -- --help`).
 *
 * - SIGTERM (a deploy, an orchestrator) drains: `/readyz` turns 503, then the clients are closed
 *   with 1012 in waves over `--drain-deadline` (default 10 s), the history is flushed; exit 0.
 *   SIGINT (Ctrl-C) stops at once: 1001 to every client. `--drain-deadline 0` makes SIGTERM do that too.
 * - SIGHUP reads `--cert` and `--key` again and serves the new certificate to new connections;
 *   open connections stay.
 * - `--workers N` (with `--redis`): this process is a node:cluster primary (workers.ts) and each of
 *   the N workers runs this file as a chat server on the shared port.
 */

import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createLogger, type LogLevel } from './log.js';
import { parseCommandLine, USAGE } from './options.js';
import { createChatServer } from './server.js';
import { runPrimary } from './workers.js';

async function main(): Promise<void> {
  let commandLine;
  try {
    commandLine = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    process.exit(2);
  }
  if (commandLine.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (commandLine.workers > 0 && cluster.isPrimary) {
    runPrimary({ workers: commandLine.workers, logger: createLogger((commandLine.options.logLevel ?? 'info') as LogLevel) });
    return;
  }
  const files = commandLine.tlsFiles;
  const readTls = (): { cert: Buffer; key: Buffer } | undefined => (files === null ? undefined : { cert: readFileSync(files.cert), key: readFileSync(files.key) });
  const chat = await createChatServer({ ...commandLine.options, tls: readTls() });
  await chat.listen(commandLine.port, commandLine.host);
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    chat.logger.info({ event: 'signal', signal }, `${signal}: ${signal === 'SIGTERM' ? 'draining' : 'stopping'}`);
    (signal === 'SIGTERM' ? chat.drain() : chat.close()).then(
      () => process.exit(0),
      (error: unknown) => {
        chat.logger.error({ event: 'error', err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => {
    if (files === null) {
      chat.logger.info({ event: 'signal', signal: 'SIGHUP' }, 'SIGHUP: no certificate to reload');
      return;
    }
    try {
      chat.setSecureContext(readTls()!);
    } catch (error) {
      // The old certificate stays: a half-written file must not take the server down.
      chat.logger.error({ event: 'error', err: error }, 'SIGHUP: the certificate could not be reloaded; the old one stays');
    }
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`chat: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
