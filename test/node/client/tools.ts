/**
 * External tools for the client's tests: the peer-availability rule (skip locally with how to
 * install, fail in CI), throwaway certificates from the `openssl` command line, and tinyproxy,
 * a real HTTP CONNECT proxy, run in the foreground on a free port. Everything started here is
 * stopped after its test (defer from ../helpers.ts).
 */

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeWithPeer, findExecutable, type Peer } from '../../interop/peers.js';
import { HOST, defer, freePort } from '../helpers.js';

// ---- external tools: skip locally, fail in CI (the interop peers' one rule) -----------------------

export interface Tool {
  readonly command: string;
  /** How to install it, for the skip message. */
  readonly install: string;
}

/**
 * A describe() whose tests need external tools: test/interop/peers.ts's describeWithPeer, with the
 * missing tools as one peer, so that the rule (skipped locally with how to install, a failing
 * test with CI=true, since .ci/run installs every tool) lives in one place.
 */
export function describeWithTools(title: string, tools: readonly Tool[], body: () => void): void {
  const missing = tools.filter((tool) => findExecutable([tool.command]) === null);
  const peer: Peer = {
    name: missing.map((tool) => tool.command).join(', '),
    install: missing.map((tool) => tool.install).join('; '),
    path: missing.length === 0 ? tools.map((tool) => tool.command).join(', ') : null,
  };
  describeWithPeer(peer, title, () => body());
}

export const OPENSSL: Tool = { command: 'openssl', install: 'apt-get install openssl' };
export const TINYPROXY: Tool = { command: 'tinyproxy', install: 'apt-get install tinyproxy' };

// ---- certificates ---------------------------------------------------------------------------------

export interface Certificate {
  readonly cert: string;
  readonly key: string;
}

/**
 * A self-signed certificate for localhost and 127.0.0.1 (SAN DNS:localhost, IP:127.0.0.1), made
 * by the openssl command line in a temporary directory that is removed at once.
 */
export function makeCertificate(commonName = 'localhost'): Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'rfc6455-cert-'));
  try {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '2',
        '-subj',
        `/CN=${commonName}`,
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { encoding: 'utf8' },
    );
    if (made.status !== 0) throw new Error(`openssl failed (${made.status}): ${made.stderr}`);
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- tinyproxy (a real HTTP CONNECT proxy) -----------------------------------------------------------

export interface Tinyproxy {
  readonly port: number;
  readonly url: string;
  /** Everything it logged so far. */
  log(): string;
  /** Resolves once its log contains `text` (bounded: rejects after `ms`). */
  waitForLog(text: string, ms?: number): Promise<void>;
}

export interface TinyproxyOptions {
  /** Ports CONNECT may reach (tinyproxy allows every port when none is listed). */
  readonly connectPorts?: readonly number[];
  /** A user and password the proxy requires (tinyproxy's BasicAuth). */
  readonly basicAuth?: { readonly user: string; readonly password: string };
}

/**
 * Starts tinyproxy in the foreground (-d) on a free port with a config written to a temporary
 * directory; resolves once it accepts connections. Stopped (SIGTERM, then SIGKILL if it lingers)
 * and its directory removed after the test.
 */
export async function startTinyproxy(options: TinyproxyOptions = {}): Promise<Tinyproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'rfc6455-tinyproxy-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const lines = [`Port ${port}`, `Listen ${HOST}`, 'Timeout 30', 'MaxClients 50', 'LogLevel Info', 'DisableViaHeader Yes'];
  for (const allowed of options.connectPorts ?? []) lines.push(`ConnectPort ${allowed}`);
  if (options.basicAuth !== undefined) lines.push(`BasicAuth ${options.basicAuth.user} ${options.basicAuth.password}`);
  const config = join(dir, 'tinyproxy.conf');
  writeFileSync(config, `${lines.join('\n')}\n`);
  const child = spawn('tinyproxy', ['-d', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const listeners = new Set<() => void>();
  const onOutput = (chunk: Buffer): void => {
    log += chunk.toString('utf8');
    for (const listener of [...listeners]) listener();
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => {
    running = false;
    for (const listener of [...listeners]) listener();
  });
  defer(async () => {
    if (!running) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  });
  const waitForLog = (text: string, ms = 10_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (log.includes(text)) finish(null);
        else if (!running) finish(new Error(`tinyproxy exited before logging ${JSON.stringify(text)}:\n${log}`));
      };
      const timer = setTimeout(() => finish(new Error(`tinyproxy did not log ${JSON.stringify(text)} within ${ms} ms:\n${log}`)), ms);
      const finish = (error: Error | null): void => {
        clearTimeout(timer);
        listeners.delete(check);
        if (error === null) resolve();
        else reject(error);
      };
      listeners.add(check);
      check();
    });
  await waitForLog('Accepting connections');
  return { port, url: `http://${HOST}:${port}`, log: () => log, waitForLog };
}

/** Sets environment variables for the rest of the test (undefined deletes one); restored after it. */
export function setEnv(values: Readonly<Record<string, string | undefined>>): void {
  const saved = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(values)) {
    saved.set(name, process.env[name]);
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  defer(() => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
}

