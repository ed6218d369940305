/**
 * Running the harness's children: a server or a load generator is a script run with
 * `node --import tsx/esm`, pinned to one CPU with taskset, talked to over IPC.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Script } from './cases.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Pinning {
  readonly server: string | null;
  readonly generator: string | null;
  readonly description: string;
}

/** The CPUs this process may run on (taskset -cp), expanded: "0-2,4" -> [0, 1, 2, 4]. */
function allowedCpus(): number[] | null {
  const probe = spawnSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' });
  if (probe.status !== 0) return null;
  const list = /:\s*([\d,-]+)\s*$/.exec(probe.stdout.trim())?.[1];
  if (list === undefined) return null;
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    const [from, to] = part.split('-').map(Number);
    for (let cpu = from!; cpu <= (to ?? from!); cpu++) cpus.push(cpu);
  }
  return cpus;
}

export function choosePinning(wanted: boolean): Pinning {
  if (!wanted) return { server: null, generator: null, description: 'none (--no-pin)' };
  const cpus = allowedCpus();
  if (cpus === null) return { server: null, generator: null, description: 'none (taskset not available)' };
  if (cpus.length < 2) return { server: null, generator: null, description: `none (only CPU ${cpus.join(',')} available)` };
  const server = String(cpus[0]);
  const generator = String(cpus[1]);
  return {
    server,
    generator,
    description: `taskset: server on CPU ${server}, load generator on CPU ${generator} (bench/run.ts itself unpinned, idle during runs)`,
  };
}

/** One child process and its IPC: requests answered by id, messages awaited by a test. */
export class Child<In, Out extends { type: string }> {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private nextId = 1;
  private readonly pending = new Map<number, (message: Out) => void>();
  private readonly listeners = new Set<(message: Out) => void>();

  constructor(script: Script, cpu: string | null, nodeFlags: readonly string[]) {
    this.name = script.name;
    // tsx's ESM loader only: with its CommonJS hooks too (`--import tsx`), a promise-heavy server
    // (ours) ran its young generation at three to four times the survivors and V8 kept starting
    // full collections (65 mark-compacts in 4 s on the 16 KiB echo against 3, a third fewer
    // messages), while ws, which makes no promise per message, was untouched: the harness was
    // measuring the loader. Every script it runs is ESM and imports only ESM TypeScript.
    const nodeArgs = [...(script.nodeFlags ?? []), ...nodeFlags, '--import', 'tsx/esm', script.path, ...script.args];
    const env = { ...process.env };
    delete env['NODE_OPTIONS'];
    this.process =
      cpu === null
        ? spawn(process.execPath, nodeArgs, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
        : spawn('taskset', ['-c', cpu, process.execPath, ...nodeArgs], {
            cwd: ROOT,
            env,
            stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
          });
    // Servers print their port: read and drop it, so the pipe never fills.
    this.process.stdout!.resume();
    this.exited = new Promise((resolve) => this.process.once('exit', (code, signal) => resolve({ code, signal })));
    this.process.on('error', () => {});
    this.process.on('message', (message: Out & { id?: number }) => {
      const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
      if (waiter !== undefined) {
        this.pending.delete(message.id!);
        waiter(message);
      }
      for (const listener of this.listeners) listener(message);
    });
  }

  send(message: In): void {
    if (this.process.connected) this.process.send(message as object);
  }

  /** Sends a request with a fresh id and resolves with the answer carrying that id. */
  request<T extends Out>(message: Omit<In, 'id'> & { type: string }, timeoutMs = 60_000): Promise<T> {
    const id = this.nextId++;
    return this.until(
      new Promise<T>((resolve) => {
        this.pending.set(id, resolve as (message: Out) => void);
        this.send({ ...message, id } as In);
      }),
      timeoutMs,
      `${message.type} request`,
    );
  }

  /** The first message satisfying `test`. */
  next<T extends Out>(test: (message: Out) => boolean, timeoutMs: number, what: string): Promise<T> {
    let listener!: (message: Out) => void;
    const found = new Promise<T>((resolve) => {
      listener = (message) => {
        if (test(message)) resolve(message as T);
      };
      this.listeners.add(listener);
    });
    return this.until(found, timeoutMs, what).finally(() => this.listeners.delete(listener));
  }

  on(listener: (message: Out) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** `promise`, unless the child exits or time runs out first. */
  until<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name}: timed out waiting for ${what}`)), timeoutMs);
      void this.exited.then(({ code, signal }) =>
        reject(new Error(`${this.name} exited (code ${code}, signal ${signal}) while waiting for ${what}`)),
      );
    });
    return Promise.race([promise, failed]).finally(() => clearTimeout(timer));
  }

  /**
   * Ends the child. `gently`: closes the IPC channel first, on which a server exits by itself (so
   * that a --cpu-prof profile is written), and kills it only if it has not exited within 10 s.
   */
  async kill(gently = false): Promise<void> {
    const running = (): boolean => this.process.exitCode === null && this.process.signalCode === null;
    if (gently && running() && this.process.connected) {
      this.process.disconnect();
      await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    }
    if (running()) this.process.kill('SIGKILL');
    await this.exited;
  }
}
