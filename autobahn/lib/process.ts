/** Child processes of the Autobahn runners: the suite, the echo server, the client driver. */

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { log } from './log.js';

/** Runs a command to its end, its stdout and stderr written to `logPath`; resolves its exit status. */
export function runLogged(command: string, args: string[], cwd: string, logPath: string): Promise<number> {
  log(`autobahn: ${command} ${args.join(' ')}`);
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
  return new Promise((resolvePromise) => {
    child.once('close', (code) => {
      writeFileSync(logPath, Buffer.concat(output));
      resolvePromise(code ?? 1);
    });
  });
}

/**
 * Resolves with the first match of `pattern` in what the child writes to `stream` (everything it
 * wrote so far is matched, so a line split across chunks is found); rejects when the child exits
 * first or `timeoutMs` passes.
 */
export function waitForOutput(
  child: ChildProcess,
  stream: 'stdout' | 'stderr',
  pattern: RegExp,
  timeoutMs: number,
  what: string,
): Promise<RegExpMatchArray> {
  const source = child[stream];
  if (source === null) return Promise.reject(new Error(`${what}: its ${stream} is not a pipe`));
  return new Promise((resolvePromise, reject) => {
    let output = '';
    const done = (): void => {
      clearTimeout(timer);
      source.off('data', onData);
      child.off('exit', onExit);
    };
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = output.match(pattern);
      if (match !== null) {
        done();
        resolvePromise(match);
      }
    };
    const onExit = (code: number | null): void => {
      done();
      reject(new Error(`${what} exited with code ${code} before it was ready`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what} was not ready within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    source.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Resolves the child's exit code once it has exited, or null if it has not within `timeoutMs`. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolvePromise) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolvePromise(child.exitCode);
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolvePromise(null);
    }, timeoutMs);
    const onExit = (code: number | null): void => {
      clearTimeout(timer);
      resolvePromise(code);
    };
    child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves the exit code (null when killed by a signal). */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolvePromise) => child.once('exit', (code) => resolvePromise(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}
