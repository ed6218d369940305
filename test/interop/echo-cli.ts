/**
 * The echo server as `npm start` runs it (`tsx src/cli.ts`), in a child process on a port the OS
 * picks, for interop peers that must talk to the real thing. Ready once it prints its log line.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// ws:// for the plain server; wss:// ... (HTTP/1.1 and HTTP/2) with --cert and --key.
const LOG_LINE = /^rfc6455 echo server listening on wss?:\/\/127\.0\.0\.1:(\d+)(?: \(HTTP\/1\.1 and HTTP\/2\))?\r?\n/;

export interface EchoCli {
  readonly port: number;
  readonly child: ChildProcess;
  /** What the process printed on stderr so far. */
  stderr(): string;
  /** SIGTERM, as a supervisor would; resolves with the exit code (0 after a graceful shutdown). */
  stop(): Promise<number | null>;
}

export function startEchoCli(args: readonly string[] = []): Promise<EchoCli> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['PORT'];
  delete env['HOST'];
  delete env['NODE_OPTIONS'];
  const child = spawn(process.execPath, ['--import', 'tsx/esm', 'src/cli.ts', '--port', '0', '--host', '127.0.0.1', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return new Promise<EchoCli>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = LOG_LINE.exec(out);
      if (match !== null) resolve({ port: Number(match[1]), child, stderr: () => err, stop });
    });
    void exited.then((code) => reject(new Error(`the echo server exited (code ${code}) before logging; stderr: ${err}`)));
  });
}
