/**
 * A peer in another process, driven over stdin/stdout one JSON line at a time: the python-websockets
 * client and server (test/interop/python/) and Node's built-in WebSocket (undici-client.mjs).
 *
 * Clients print {"ok":"open","extensions":...} once connected, then answer each command with one
 * line, in order:
 *   {op:'text', data, repeat?}  {op:'binary', hex}   -> {ok:'sent'}
 *   {op:'random', size}                              -> {ok:'sent', size, sha256}  (fresh random bytes)
 *   {op:'recv'}                                      -> {ok:'message', type, data | hex?, size?, sha256?}
 *                                                       or {ok:'closed', ...} once the connection closed
 *   {op:'ping', hex}                                 -> {ok:'pong', latency}  (python only)
 *   {op:'close', code, reason}  {op:'wait_closed'}   -> {ok:'closed', received: {code, reason} | null, ...}
 * Servers print {"port":N}, then events. Every process is killed after its test if still running.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { AsyncQueue, defer } from '../node/helpers.js';

export type Line = Record<string, unknown>;

/** A client peer that speaks this protocol: a process (Scripted) or an in-process adapter. */
export interface ClientDriver {
  /** The next line it reports (the first one: {ok:'open'}). */
  next(): Promise<Line>;
  /** Runs one command; resolves with its answer. */
  request(command: Line): Promise<Line>;
  /** Lets it go (a client closes its connection if still open); resolves with its exit code. */
  end(): Promise<number | null>;
}

export class Scripted implements ClientDriver {
  readonly child: ChildProcess;
  /** JSON lines from stdout, as they come. */
  readonly lines = new AsyncQueue<Line>();
  readonly exit: Promise<number | null>;
  private stderrText = '';

  constructor(command: string, args: readonly string[]) {
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
    // vitest's workers may run under NODE_OPTIONS loaders that the peer must not inherit.
    delete env['NODE_OPTIONS'];
    this.child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    defer(() => {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    });
    let pending = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        try {
          this.lines.push(JSON.parse(line) as Line);
        } catch {
          this.lines.push({ error: `not JSON: ${line}` });
        }
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderrText += chunk));
    this.child.stdin!.on('error', () => {
      // The peer exited; its exit and stderr say why.
    });
    this.exit = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        this.lines.end(new Error(`${command} exited with ${code}; stderr:\n${this.stderrText}`));
        resolve(code);
      }),
    );
  }

  get stderr(): string {
    return this.stderrText;
  }

  /** The next line; a line with `error` (the peer's own report) is thrown. */
  async next(): Promise<Line> {
    const line = await this.lines.next();
    if (typeof line['error'] === 'string') throw new Error(`peer: ${line['error']}\n${this.stderrText}`);
    return line;
  }

  /** Sends one command and resolves with its answer. */
  request(command: Line): Promise<Line> {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
    return this.next();
  }

  /** Closes stdin (clients then close their connection, servers stop) and waits for the exit. */
  end(): Promise<number | null> {
    this.child.stdin!.end();
    return this.exit;
  }
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** UTF-8 across 1-4 byte sequences, so that a peer that mangles text is caught. */
export const UNICODE_TEXT = 'héllo wörld ✓ 日本 🚀';
/** Bytes no text decoder would pass: a zero, 0xff, a lone continuation byte. */
export const BINARY_HEX = '00ff80017ffe';
export const SIXTEEN_MIB = 16 * 1024 * 1024;
/** A compressible text message: 256 KiB that deflate shrinks to well under 16 KiB. */
export const COMPRESSIBLE = { data: 'abcdefgh', repeat: 32 * 1024 };
