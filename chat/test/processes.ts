/**
 * Chat servers as people run them, for the tests of several instances: `node CHAT_NODE_FLAGS
 * --import tsx/esm chat/src/cli.ts ARGS` (as `npm run chat -- ARGS`) in a process group of its own
 * (so a `--workers` primary and its workers go together), its JSON log lines read as they come,
 * stopped by its PID after the test (SIGKILL to its group if it is still there). Waits follow the
 * log or an HTTP answer, bounded; nothing sleeps.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CHAT_NODE_FLAGS } from '../src/node-flags.js';
import { HOST, defer } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WAIT = 20_000;

export interface ChatProcess {
  /** The process started (a `--workers` primary, or the chat server itself). */
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  readonly http: string;
  /** Every JSON log line so far (of the workers too). */
  readonly lines: Record<string, unknown>[];
  /** Resolves with the first line (from the `from`th on) that `match` accepts. */
  line(match: (line: Record<string, unknown>) => boolean, from?: number, ms?: number): Promise<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
  /** SIGKILL to the process (not its group): for a primary, its workers see it go. */
  kill(signal?: NodeJS.Signals): void;
}

export interface StartOptions {
  /** For `--workers N`: resolve once N workers are listening. Default 1. */
  readonly listening?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** `https` for `--cert`. */
  readonly scheme?: 'http' | 'https';
}

/** Starts `chat/src/cli.ts ARGS` on its own; resolves once it listens (every worker, with `--workers`). */
export async function startChatProcess(args: readonly string[], options: StartOptions = {}): Promise<ChatProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  for (const name of ['PORT', 'HOST', 'NODE_OPTIONS', 'CHAT_HISTORY', 'CHAT_AUTH', 'JWT_SECRET', 'CHAT_ALLOW_ORIGINS', 'LOG_LEVEL', 'REDIS_URL']) {
    if (options.env?.[name] === undefined) delete env[name];
  }
  const child = spawn(process.execPath, [...CHAT_NODE_FLAGS, '--import', 'tsx/esm', 'chat/src/cli.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pid = child.pid!;
  defer(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone already, with its group
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const lines: Record<string, unknown>[] = [];
  const wakers = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (text) => {
    if (!text.startsWith('{')) return;
    lines.push(JSON.parse(text) as Record<string, unknown>);
    for (const wake of [...wakers]) wake();
  });
  const line = (match: (line: Record<string, unknown>) => boolean, from = 0, ms = WAIT): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        wakers.delete(wake);
        reject(new Error(`timed out after ${ms} ms waiting for a log line; got:\n${lines.map((l) => JSON.stringify(l)).join('\n')}\n${stderr}`));
      }, ms);
      const wake = (): void => {
        const found = lines.slice(from).find(match);
        if (found === undefined) return;
        clearTimeout(timer);
        wakers.delete(wake);
        resolve(found);
      };
      wakers.add(wake);
      wake();
    });
  const died = exited.then((code) => {
    throw new Error(`the chat exited (${code}) before listening: ${stderr}`);
  });
  const wanted = options.listening ?? 1;
  await Promise.race([line(() => lines.filter((l) => l['event'] === 'listening').length >= wanted), died]);
  const port = lines.find((l) => l['event'] === 'listening')!['port'] as number;
  const scheme = options.scheme ?? 'http';
  return {
    child,
    pid,
    port,
    url: `${scheme === 'https' ? 'wss' : 'ws'}://${HOST}:${port}/ws`,
    http: `${scheme}://${HOST}:${port}`,
    lines,
    line,
    exited,
    kill: (signal = 'SIGKILL') => process.kill(pid, signal),
  };
}

/** GETs `path` until `accept(status, body)` (each answer is an event: a bounded loop of requests, no sleep). */
export async function pollHttp(base: string, path: string, accept: (status: number, body: string) => boolean, ms = WAIT): Promise<{ status: number; body: string }> {
  const deadline = performance.now() + ms;
  let last = { status: 0, body: '' };
  while (performance.now() < deadline) {
    try {
      const response = await fetch(`${base}${path}`);
      last = { status: response.status, body: await response.text() };
      if (accept(last.status, last.body)) return last;
    } catch (error) {
      last = { status: 0, body: String(error) };
    }
    // One more turn of the loop for the server, not a timed wait.
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`${path} never answered as expected within ${ms} ms; last: ${last.status} ${last.body}`);
}
