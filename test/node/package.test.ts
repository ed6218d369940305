/**
 * The package as its users import it, by its own name: package.json `exports` points at dist/
 * (built by `npm run build`, which `npm test` runs first as `pretest`).
 */

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  CloseCode,
  ConnectionClosedError,
  WebSocketError,
  WebSocketServer,
  Ws,
  isSendableCloseCode,
} from 'rfc6455';
import * as protocol from 'rfc6455/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import * as source from '../../src/index.js';
import * as sourceProtocol from '../../src/protocol/index.js';
import { HOST, cleanup, defer, wsConnect } from './helpers.js';

afterEach(cleanup);

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe("import 'rfc6455'", () => {
  it('resolves to the built dist/, with its type declarations', () => {
    expect(import.meta.resolve('rfc6455')).toBe(new URL('dist/index.js', `file://${ROOT}`).href);
    expect(import.meta.resolve('rfc6455/protocol')).toBe(new URL('dist/protocol/index.js', `file://${ROOT}`).href);
    expect(existsSync(`${ROOT}dist/index.d.ts`)).toBe(true);
    expect(existsSync(`${ROOT}dist/protocol/index.d.ts`)).toBe(true);
  });

  it('exports the same names as src/ (dist is not stale)', async () => {
    const built = await import('rfc6455');
    expect(Object.keys(built).sort()).toEqual(Object.keys(source).sort());
    expect(Object.keys(protocol).sort()).toEqual(Object.keys(sourceProtocol).sort());
  });

  it('echoes a message with WebSocketServer from the package', async () => {
    const server = new WebSocketServer({
      handler: async (ws: Ws) => {
        for await (const message of ws) await ws.send(message.data);
      },
    });
    const { port } = await server.listen(0, HOST);
    defer(() => server.close({ timeout: 100 }));
    const client = await wsConnect(`ws://${HOST}:${port}`);
    client.ws.send('from the package €');
    const reply = await client.messages.next();
    expect(reply.isBinary).toBe(false);
    expect(reply.data.toString('utf8')).toBe('from the package €');
  });

  it('a closed connection rejects with the package’s own ConnectionClosedError', async () => {
    let accepted: Ws | undefined;
    const server = new WebSocketServer({
      handler: (ws: Ws) => {
        accepted = ws;
      },
    });
    const { port } = await server.listen(0, HOST);
    defer(() => server.close({ timeout: 100 }));
    const client = await wsConnect(`ws://${HOST}:${port}`);
    client.ws.close(CloseCode.NORMAL);
    await client.closed;
    for (let i = 0; i < 10_000 && accepted?.readyState !== 'closed'; i++) await new Promise((r) => setImmediate(r));
    const error = await accepted!.recv().then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect(error).toBeInstanceOf(WebSocketError);
    expect(error).toMatchObject({ code: 'WS_ERR_CLOSED', closeCode: 1000 });
  });

  it('exports the close codes', () => {
    expect(CloseCode.GOING_AWAY).toBe(1001);
    expect(isSendableCloseCode(4000)).toBe(true);
    expect(isSendableCloseCode(1006)).toBe(false);
  });
});

describe("require('rfc6455')", () => {
  it('resolves both entry points to the same dist/ files as import (package.json exports "default")', () => {
    const require = createRequire(import.meta.url);
    expect(require.resolve('rfc6455')).toBe(`${ROOT}dist/index.js`);
    expect(require.resolve('rfc6455/protocol')).toBe(`${ROOT}dist/protocol/index.js`);
  });
});

describe("import 'rfc6455/protocol'", () => {
  const noop = (): void => {};
  const host: protocol.ConnectionHost = {
    onMessage: noop,
    onPing: noop,
    onPong: noop,
    onEnd: noop,
    onOutput: noop,
    endTransport: noop,
    destroyTransport: noop,
    setCloseTimer: noop,
  };

  it('exports Connection, which frames the RFC 6455 5.7 "Hello" as a server (unmasked) and a client (masked)', () => {
    const server = new protocol.Connection(host, { role: 'server' });
    server.sendText('Hello');
    expect(Buffer.concat(server.takeOutput())).toEqual(Buffer.from([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]));
    const client = new protocol.Connection(host, { role: 'client', randomMask: (key) => key.set([0x37, 0xfa, 0x21, 0x3d]) });
    client.sendText('Hello');
    expect(Buffer.concat(client.takeOutput())).toEqual(Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]));
  });
});

describe('plain Node (no bundler) resolves the package by its name', () => {
  it('imports both entry points', async () => {
    const script = [
      "const main = await import('rfc6455');",
      "const proto = await import('rfc6455/protocol');",
      'console.log(JSON.stringify({ server: typeof main.WebSocketServer, connection: typeof proto.Connection }));',
    ].join('\n');
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['NODE_OPTIONS'];
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env });
    defer(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ server: 'function', connection: 'function' });
  });
});
