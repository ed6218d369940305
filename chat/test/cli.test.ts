/**
 * The command line: flags and environment into options (parseCommandLine), and `npm run chat` as
 * people run it, in a child process on a port the OS picks, stopped by its PID with SIGTERM: it
 * answers /readyz 503 while draining, closes connections with 1001, flushes the SQLite history
 * and exits 0. (`--ignore-scripts` skips the `prechat` build: `npm test` built the library
 * already, and rebuilding dist/ under other tests that read it would race them.)
 */

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CHAT_LIMITS, parseCommandLine } from '../src/index.js';
import { SqliteBus } from '../src/sqlite-streams.js';
import { HOST, cleanup, connectClient, defer, upgradeRequest } from './helpers.js';

afterEach(cleanup);

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'chat-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseCommandLine', () => {
  it('defaults: port 3000, every interface, the chat’s limits on', () => {
    expect(parseCommandLine([], {})).toEqual({ port: 3000, host: undefined, help: false, workers: 0, tlsFiles: null, options: { limits: CHAT_LIMITS } });
  });

  it('reads every flag (--flag value and --flag=value)', () => {
    const key = join(dir, 'public.pem');
    writeFileSync(key, 'PEM TEXT');
    const { port, host, options } = parseCommandLine([
      '--port', '4000', '--host=127.0.0.1', '--history', 'sqlite:./chat.db', '--history-size', '50', '--presence-grace', '1000',
      '--auth', 'jwt', '--jwt-public-key', key, '--allow-origin', 'https://a.example', '--allow-origin=*.b.example', '--require-origin',
      '--message-rate', '5/10', '--byte-rate', '1000', '--max-dropped', '3', '--handshake-rate', '2/4', '--connections-per-address', '7',
      '--max-content', '100', '--max-rooms', '4', '--close-timeout', '250', '--log-level', 'warn', '--no-metrics',
    ], {});
    expect([port, host]).toEqual([4000, '127.0.0.1']);
    expect(options).toEqual({
      history: 'sqlite:./chat.db',
      historySize: 50,
      presenceGrace: 1000,
      auth: 'jwt',
      jwtPublicKey: 'PEM TEXT',
      allowOrigins: ['https://a.example', '*.b.example'],
      requireOrigin: true,
      limits: { messageRate: { perSecond: 5, burst: 10 }, byteRate: { perSecond: 1000 }, maxDropped: 3, handshakeRate: { perSecond: 2, burst: 4 }, connectionsPerAddress: 7 },
      maxContent: 100,
      maxRooms: 4,
      closeTimeout: 250,
      logLevel: 'warn',
      metrics: false,
    });
  });

  it('reads the environment: PORT, HOST, CHAT_HISTORY, CHAT_AUTH, JWT_SECRET, CHAT_ALLOW_ORIGINS, LOG_LEVEL; flags win', () => {
    const env = { PORT: '5000', HOST: '::1', CHAT_HISTORY: 'sqlite:x.db', CHAT_AUTH: 'jwt', JWT_SECRET: 's3cret', CHAT_ALLOW_ORIGINS: 'https://a.example, https://b.example', LOG_LEVEL: 'debug' };
    const { port, host, options } = parseCommandLine(['--port', '6000'], env);
    expect([port, host]).toEqual([6000, '::1']);
    expect(options).toMatchObject({ history: 'sqlite:x.db', auth: 'jwt', jwtSecret: 's3cret', allowOrigins: ['https://a.example', 'https://b.example'], logLevel: 'debug' });
  });

  it('reads the flags of several instances: --redis (or REDIS_URL), --redis-cluster, --presence-lease, --workers, --cert/--key, --trust-proxy, --drain-deadline', () => {
    const line = parseCommandLine(
      ['--redis', 'redis://127.0.0.1:6380', '--presence-lease', '3000', '--workers', '4', '--cert', 'c.pem', '--key', 'k.pem', '--trust-proxy', '127.0.0.1,::1', '--trust-proxy', '10.0.0.2', '--drain-deadline', '20000'],
      {},
    );
    expect(line.workers).toBe(4);
    expect(line.tlsFiles).toEqual({ cert: 'c.pem', key: 'k.pem' });
    expect(line.options).toMatchObject({ redis: 'redis://127.0.0.1:6380', presenceLease: 3000, trustProxy: ['127.0.0.1', '::1', '10.0.0.2'], drainDeadline: 20000 });
    expect(parseCommandLine([], { REDIS_URL: 'redis://r:6379' }).options.redis).toBe('redis://r:6379');
    const cluster = parseCommandLine(['--redis-cluster', 'redis://a:7000, redis://b:7000'], { REDIS_URL: 'redis://r:6379' }).options;
    expect([cluster.redis, cluster.redisCluster]).toEqual([undefined, ['redis://a:7000', 'redis://b:7000']]);
  });

  it('--workers needs --redis; --cert needs --key', () => {
    expect(() => parseCommandLine(['--workers', '2'], {})).toThrow('--workers needs --redis (or --redis-cluster): workers share rooms, history and presence through Redis');
    expect(() => parseCommandLine(['--cert', 'c.pem'], {})).toThrow('--cert and --key go together');
  });

  it('--no-limits turns the limits off', () => {
    expect(parseCommandLine(['--no-limits'], {}).options.limits).toBe(false);
  });

  it.each([
    [['--bogus'], 'unknown option "--bogus"'],
    [['--port'], '--port needs a value'],
    [['--port', 'x'], '--port must be a whole number, got "x"'],
    [['--port', '70000'], '--port must be from 0 to 65535, got 70000'],
    [['--message-rate', 'fast'], '--message-rate must be N or N/BURST, got "fast"'],
  ])('refuses %j: %s', (argv, message) => {
    expect(() => parseCommandLine(argv, {})).toThrow(message);
  });
});

interface Child {
  readonly pid: number;
  readonly port: number;
  readonly lines: Record<string, unknown>[];
  readonly exited: Promise<number | null>;
}

/** `npm run chat -- ARGS` in its own process group (killed after the test if it is still there); resolves once it logs `listening`. */
async function npmRunChat(args: readonly string[]): Promise<Child> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['PORT', 'HOST', 'NODE_OPTIONS', 'CHAT_HISTORY', 'CHAT_AUTH', 'JWT_SECRET', 'JWT_PUBLIC_KEY_FILE', 'CHAT_ALLOW_ORIGINS', 'LOG_LEVEL']) delete env[name];
  const child = spawn('npm', ['run', 'chat', '--ignore-scripts', '--silent', '--', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  defer(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const lines: Record<string, unknown>[] = [];
  return new Promise<Child>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const record = JSON.parse(line) as Record<string, unknown>;
      lines.push(record);
      if (record['event'] === 'listening') resolve({ pid: record['pid'] as number, port: record['port'] as number, lines, exited });
    });
    void exited.then((code) => reject(new Error(`npm run chat exited (${code}) before listening: ${stderr}`)));
  });
}

describe('npm run chat', () => {
  it('serves, and on SIGINT to its PID: /readyz 503, connections closed with 1001 at once, the SQLite history flushed, exit 0', async () => {
    const file = join(dir, 'cli.db');
    const chat = await npmRunChat(['--port', '0', '--host', HOST, '--history', `sqlite:${file}`, '--close-timeout', '30000']);
    expect(chat.pid).not.toBe(undefined);
    expect((await fetch(`http://${HOST}:${chat.port}/readyz`)).status).toBe(200);

    // A client that sends one chat and then does not answer the close, so the drain lasts until it does.
    const socket = connect(chat.port, HOST);
    defer(() => socket.destroy());
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'connect');
    socket.write(upgradeRequest(chat.port, '/ws?username=Ana&userId=ana'));
    while (!Buffer.concat(chunks).includes('user_list')) await once(socket, 'data');
    const payload = Buffer.from(JSON.stringify({ type: 'chat', content: 'kept on disk' }));
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
    socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    while (!Buffer.concat(chunks).includes('kept on disk')) await once(socket, 'data');

    process.kill(chat.pid, 'SIGINT');
    let readyz = 200;
    for (let tries = 0; readyz !== 503 && tries < 1000; tries++) readyz = (await fetch(`http://${HOST}:${chat.port}/readyz`)).status;
    expect(readyz).toBe(503);
    const closeFrame = Buffer.from([0x88, 22, 0x03, 0xe9, ...Buffer.from('server shutting down')]);
    while (!Buffer.concat(chunks).includes(closeFrame)) await once(socket, 'data');
    socket.destroy();
    expect(await chat.exited).toBe(0);
    expect(chat.lines.map((line) => line['event'])).toEqual(['listening', 'connected', 'signal', 'draining', 'closed', 'stopped']);

    // Flushed and closed cleanly: another process opens the file and finds the message.
    const bus = new SqliteBus(file);
    defer(() => bus.close());
    const page = await bus.broker().history('room:general', undefined, 10);
    expect(page.messages.map((m) => JSON.parse(Buffer.from(m.payload).toString()).content)).toEqual(['kept on disk']);
  });

  it('on SIGTERM drains: /readyz 503 first, then every client closed with 1012 (service restart) within the drain deadline, exit 0', async () => {
    const chat = await npmRunChat(['--port', '0', '--host', HOST, '--drain-deadline', '1000']);
    const clients = await Promise.all(['ana', 'bo', 'cy'].map((name) => connectClient(`ws://${HOST}:${chat.port}/ws`, { username: name, userId: name })));
    await Promise.all(clients.map((client) => client.nextOf('user_list')));
    const signalled = performance.now();
    process.kill(chat.pid, 'SIGTERM');
    let readyz = 200;
    for (let tries = 0; readyz !== 503 && tries < 1000; tries++) readyz = (await fetch(`http://${HOST}:${chat.port}/readyz`)).status;
    expect(readyz).toBe(503);
    for (const client of clients) expect(await client.closed).toEqual({ code: 1012, reason: 'service restart' });
    expect(performance.now() - signalled).toBeLessThan(1000 + 2000);
    expect(await chat.exited).toBe(0);
    expect(chat.lines.map((line) => line['event']).filter((event) => event !== 'connected' && event !== 'closed')).toEqual(['listening', 'signal', 'draining', 'stopped']);
    expect(chat.lines.find((line) => line['event'] === 'draining')).toMatchObject({ deadline: 1000, connections: 3 });
  });

  it('--help prints the usage and exits 0; a bad flag exits 2', async () => {
    const help = spawn('npm', ['run', 'chat', '--ignore-scripts', '--silent', '--', '--help'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    help.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const [helpCode] = (await once(help, 'exit')) as [number];
    expect(helpCode).toBe(0);
    expect(out).toContain('usage: npm run chat -- [options]');
    const bad = spawn('npm', ['run', 'chat', '--ignore-scripts', '--silent', '--', '--bogus'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    bad.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const [badCode] = (await once(bad, 'exit')) as [number];
    expect(badCode).toBe(2);
    expect(err).toContain('unknown option "--bogus"');
  });
});
