/**
 * `rfc6455 connect URL` (src/cli/connect.ts) driven as a user would: lines written to its stdin,
 * its stdout read line by line, its exit code (issue 9, "A command line").
 */

import { spawn, type ChildProcess } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message, Ws } from '../../src/index.js';
import { formatMessage } from '../../src/cli/connect.js';
import { AsyncQueue, cleanup, defer, deferred, startServer } from '../node/helpers.js';

afterEach(cleanup);

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Client {
  readonly child: ChildProcess;
  /** Lines of stdout, as they come. */
  readonly lines: AsyncQueue<string>;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  type(line: string): void;
}

function runConnect(args: string[]): Client {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['NODE_OPTIONS'];
  const child = spawn(process.execPath, ['--import', 'tsx/esm', 'src/cli.ts', 'connect', ...args], {
    cwd: ROOT,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  defer(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = new AsyncQueue<string>();
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
      lines.push(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      lines.end(new Error(`exited with ${code}; stderr: ${err}`));
      resolve({ code, signal });
    }),
  );
  return { child, lines, exit, stderr: () => err, type: (line) => child.stdin!.write(`${line}\n`) };
}

/** An echo server that records each connection's request and the close it received. */
async function echoServer(extra: Parameters<typeof startServer>[0] = {}) {
  const requests = new AsyncQueue<IncomingMessage>();
  const server = await startServer({
    ...extra,
    selectProtocol: (offered) => offered[0],
    handler: async (ws: Ws, request: IncomingMessage) => {
      requests.push(request);
      for await (const message of ws) await ws.send(message.data);
    },
  });
  return { ...server, requests };
}

describe('formatMessage', () => {
  it('prints text as it is and binary as spaced hex with its length', () => {
    expect(formatMessage({ type: 'text', data: 'héllo' })).toBe('< héllo');
    expect(formatMessage({ type: 'binary', data: Buffer.from([0x01, 0xab, 0xff]) })).toBe('< binary 3 bytes: 01 ab ff');
    expect(formatMessage({ type: 'binary', data: Buffer.from([0x00]) })).toBe('< binary 1 byte: 00');
    expect(formatMessage({ type: 'binary', data: Buffer.alloc(0) })).toBe('< binary 0 bytes: ');
  });

  it('prints the first KiB of a large binary message, and counts the rest', () => {
    const message: Message = { type: 'binary', data: Buffer.alloc(1500, 0x41) };
    expect(formatMessage(message)).toBe(`< binary 1500 bytes: ${Array(1024).fill('41').join(' ')} ... (476 more bytes)`);
  });
});

describe('rfc6455 connect', () => {
  it('sends each stdin line as a text message and prints the echo; end of input closes with 1000, exit 0', async () => {
    const server = await echoServer({ perMessageDeflate: true });
    const client = runConnect([server.url]);
    const ws = await server.connections.next();
    client.type('hello');
    expect(await client.lines.next()).toBe('< hello');
    client.type('€ and 😀');
    expect(await client.lines.next()).toBe('< € and 😀');
    client.child.stdin!.end();
    expect(await client.lines.next()).toBe('closed 1000');
    expect(await client.exit).toEqual({ code: 0, signal: null });
    expect(await ws.closed).toMatchObject({ code: 1000, wasClean: true });
    expect(client.stderr()).toBe(`connected to ${server.url} (extensions permessage-deflate)\n`);
  });

  it('prints binary messages as hex with their length', async () => {
    const server = await startServer({
      handler: async (ws: Ws) => {
        await ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
        await ws.send('then text');
      },
    });
    const client = runConnect([server.url]);
    expect(await client.lines.next()).toBe('< binary 4 bytes: de ad be ef');
    expect(await client.lines.next()).toBe('< then text');
    client.child.stdin!.end();
    expect(await client.lines.next()).toBe('closed 1000');
    expect(await client.exit).toEqual({ code: 0, signal: null });
  });

  it('-H adds headers, -s offers subprotocols, --origin sets Origin, --no-deflate makes no offer', async () => {
    const server = await echoServer({ perMessageDeflate: true, origins: ['http://example.test'] });
    const client = runConnect([server.url, '-H', 'X-Token: abc 123', '-s', 'chat', '-s', 'superchat', '--origin', 'http://example.test', '--no-deflate']);
    const request = await server.requests.next();
    expect(request.headers['x-token']).toBe('abc 123');
    expect(request.headers['sec-websocket-protocol']).toBe('chat, superchat');
    expect(request.headers['origin']).toBe('http://example.test');
    expect(request.headers['sec-websocket-extensions']).toBeUndefined();
    client.type('x');
    expect(await client.lines.next()).toBe('< x');
    client.child.stdin!.end();
    expect(await client.exit).toEqual({ code: 0, signal: null });
    expect(client.stderr()).toBe(`connected to ${server.url} (subprotocol chat)\n`);
  });

  it('prints the close code and reason the server sent, exit 0 for a clean close', async () => {
    const server = await startServer({
      handler: async (ws: Ws) => {
        await ws.recv();
        await ws.close(4000, 'bye now');
      },
    });
    const client = runConnect([server.url]);
    client.type('go');
    expect(await client.lines.next()).toBe('closed 4000 bye now');
    expect(await client.exit).toEqual({ code: 0, signal: null });
  });

  it('exits 1 when the connection ends without a closing handshake', async () => {
    const gone = deferred();
    const server = await startServer({
      handler: async (ws: Ws) => {
        await ws.recv();
        ws.terminate();
        gone.resolve();
      },
    });
    const client = runConnect([server.url]);
    client.type('go');
    await gone.promise;
    expect(await client.lines.next()).toBe('closed 1006 connection ended without a closing handshake (not clean)');
    expect(await client.exit).toEqual({ code: 1, signal: null });
  });

  it('exits 1 with the error code and phase when the connect fails', async () => {
    const server = await startServer();
    const url = server.url;
    await server.server.close({ timeout: 100 });
    const client = runConnect([url]);
    expect(await client.exit).toEqual({ code: 1, signal: null });
    expect(client.stderr()).toMatch(/^rfc6455 connect: WS_ERR_CONNECT \(connect\): cannot connect to 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
  });

  it('prints the status and body of a refused handshake, exit 1', async () => {
    const server = await startServer({ allowRequest: () => false });
    const client = runConnect([server.url]);
    expect(await client.exit).toEqual({ code: 1, signal: null });
    expect(client.stderr()).toBe(
      'rfc6455 connect: WS_ERR_UNEXPECTED_RESPONSE (handshake): the server answered the handshake with 403 Forbidden\nthe request was refused\n',
    );
  });

  it('usage errors exit 2: no URL, an invalid URL, a malformed header', async () => {
    for (const [args, message] of [
      [[], 'rfc6455 connect: a URL is needed: rfc6455 connect ws://host:port/path'],
      [['ws://127.0.0.1:1/', '-H', 'no colon'], `rfc6455 connect: a header must be 'Name: value', got "no colon"`],
    ] as const) {
      const client = runConnect([...args]);
      expect(await client.exit).toEqual({ code: 2, signal: null });
      expect(client.stderr().trim()).toBe(message);
    }
    const invalid = runConnect(['ftp://example.test/']);
    expect(await invalid.exit).toEqual({ code: 1, signal: null });
    expect(invalid.stderr().trim()).toBe(
      'rfc6455 connect: WS_ERR_INVALID_URL: the URL scheme must be ws:, wss: (or http:, https:, ws+unix:), got ftp:',
    );
  });
});
