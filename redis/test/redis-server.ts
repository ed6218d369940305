/**
 * Real `redis-server` processes for the tests (never a mock): each on a free port, without
 * persistence (`--save '' --appendonly no`), waited for until it answers PING, stopped by its PID.
 * A cluster is three of them with `--cluster-enabled yes`, joined by `redis-cli --cluster create`
 * and waited for until every node says `cluster_state:ok`.
 *
 * The waits are bounded and follow events: the server's "Ready to accept connections" line, then
 * `redis-cli ping`; a cluster's state is polled (redis-cli has nothing to wait on), bounded.
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { executablePeer } from '../../test/interop/peers.js';
import { freePort } from '../../test/node/helpers.js';

const run = promisify(execFile);

/** How long a server may take to start, or a cluster to agree on its slots. */
const START_TIMEOUT = 15_000;

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** The PID of the running process (a new one after restart()). */
  readonly pid: number;
  /** SIGSTOP: the process stays, its sockets stay open, nothing answers (a hung server). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Stops the process by its PID (SIGKILL: no goodbye to the clients) and waits for its exit. */
  kill(): Promise<void>;
  /** Starts a new process on the same port (after kill()), waits until it answers PING. */
  restart(): Promise<void>;
  /** Stops it for good (whatever state it is in) and removes its directory. */
  stop(): Promise<void>;
}

/** A port nothing listens on now (the kernel's pick): the root tests' helper. */
export { freePort };

/** Runs `redis-cli -p <port> <args>` and returns its output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: START_TIMEOUT });
  return stdout.trim();
}

/** Debian's redis-server (redis-cli comes with it): .ci/run installs it; locally its tests skip without it. */
export const redisPeer = executablePeer('redis-server', 'apt-get install redis-server', ['redis-server']);

function waitForReady(child: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => finish(new Error(`redis-server on port ${port} did not start within ${START_TIMEOUT} ms:\n${output}`)), START_TIMEOUT);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) finish(null);
    };
    const onExit = (code: number | null): void => finish(new Error(`redis-server on port ${port} exited (${code}):\n${output}`));
    function finish(error: Error | null): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (error === null) resolve();
      else reject(error);
    }
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function spawnServer(port: number, dir: string, extra: readonly string[]): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', '', ...extra];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await waitForReady(child, port);
    const pong = await redisCli(port, 'ping');
    if (pong !== 'PONG') throw new Error(`redis-server on port ${port} answered ${pong}`);
  } catch (error) {
    child.kill('SIGKILL');
    await exited(child);
    throw error;
  }
  // Whatever it logs from now on is not the test's business, but the pipe must not fill up.
  child.stdout?.resume();
  return child;
}

/** Starts a redis-server on a free port (retried on another port if that one was taken meanwhile). */
export async function startRedis(extra: readonly string[] = []): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'rfc6455-redis-'));
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      const child = await spawnServer(port, dir, extra);
      return serverHandle(port, dir, extra, child);
    } catch (error) {
      lastError = error;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

function serverHandle(port: number, dir: string, extra: readonly string[], first: ChildProcess): RedisServer {
  let child: ChildProcess | null = first;
  const signal = (name: NodeJS.Signals): void => {
    if (child?.pid !== undefined) process.kill(child.pid, name);
  };
  const kill = async (): Promise<void> => {
    if (child === null) return;
    const current = child;
    child = null;
    if (current.pid !== undefined && current.exitCode === null && current.signalCode === null) process.kill(current.pid, 'SIGKILL');
    await exited(current);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid(): number {
      return child?.pid ?? -1;
    },
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    kill,
    async restart() {
      await kill();
      child = await spawnServer(port, dir, extra);
    },
    async stop() {
      if (child?.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGCONT');
        } catch {
          // gone already
        }
      }
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisClusterProcesses {
  readonly nodes: readonly RedisServer[];
  /** `redis://127.0.0.1:<port>` of every node (root nodes for a cluster client). */
  readonly urls: readonly string[];
  stop(): Promise<void>;
}

/** Makes a local Redis Cluster of `size` masters (no replicas) and waits for `cluster_state:ok`. */
export async function startCluster(size = 3): Promise<RedisClusterProcesses> {
  const nodes: RedisServer[] = [];
  const stop = async (): Promise<void> => void (await Promise.all(nodes.map((node) => node.stop())));
  try {
    for (let i = 0; i < size; i++) {
      // nodes.conf is the cluster's own state file: one per node, in the node's own directory.
      nodes.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000']));
    }
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: START_TIMEOUT });
    const deadline = Date.now() + START_TIMEOUT;
    for (const node of nodes) {
      for (;;) {
        const info = await redisCli(node.port, 'cluster', 'info');
        if (info.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`the cluster did not reach cluster_state:ok:\n${info}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    return { nodes, urls: nodes.map((node) => node.url), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
