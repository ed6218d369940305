/**
 * `npm run chat`: the chat server on port 3000 (PORT, --port), with the options of the command line
 * and the environment (`npm run chat -- --help`). SIGTERM and SIGINT drain it: `/readyz` turns 503,
 * connections close with 1001, the history is flushed; then it exits 0.
 */

import { parseCommandLine, USAGE } from './options.js';
import { createChatServer } from './server.js';

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
  const chat = await createChatServer(commandLine.options);
  await chat.listen(commandLine.port, commandLine.host);
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    chat.logger.info({ event: 'signal', signal }, `${signal}: draining`);
    chat.close().then(
      () => process.exit(0),
      (error: unknown) => {
        chat.logger.error({ event: 'error', err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`chat: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
