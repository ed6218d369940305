/**
 * The packed package from CommonJS (issue 9): `require('rfc6455')` and `require('rfc6455/protocol')`
 * through package.json `exports` "default", which Node 20.19+ loads with require(esm) (no top-level
 * await in the package), without an ExperimentalWarning.
 */

import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HOST, cleanup, defer, wsConnect } from '../node/helpers.js';
import { childEnv, installPacked, type PackedProject } from './packed.js';

afterEach(cleanup);

let project: PackedProject;
beforeAll(async () => {
  project = await installPacked();
});
afterAll(() => project?.remove());

// Prints the port, echoes until stdin ends, then closes the server and exits 0 by itself.
const ECHO_CJS = `'use strict';
const { WebSocketServer, CloseCode, WebSocketError } = require('rfc6455');
const { Connection } = require('rfc6455/protocol');

// The core in the client role, with the masking key of RFC 6455 5.7.
const noop = () => {};
const host = { onMessage: noop, onPing: noop, onPong: noop, onEnd: noop, onOutput: noop, endTransport: noop, destroyTransport: noop, setCloseTimer: noop };
const client = new Connection(host, { role: 'client', randomMask: (key) => key.set([0x37, 0xfa, 0x21, 0x3d]) });
client.sendText('Hello');
const frame = Buffer.concat(client.takeOutput());
const server = new WebSocketServer({
  handler: async (ws) => {
    for await (const message of ws) await ws.send(message.data);
  },
});
Promise.all([server.listen(0, ${JSON.stringify(HOST)}), import('rfc6455')]).then(([{ port }, imported]) => {
  console.log(JSON.stringify({
    port,
    frame: Buffer.from(frame).toString('hex'),
    goingAway: CloseCode.GOING_AWAY,
    errorClass: typeof WebSocketError,
    // One module instance for require and import, so instanceof holds across them.
    sameAsImport: imported.WebSocketServer === WebSocketServer && imported.WebSocketError === WebSocketError,
  }));
  process.stdin.resume().once('end', () => server.close({ timeout: 1000 }).then(() => process.exit(0)));
});
`;

describe("require('rfc6455') from CommonJS", () => {
  it('a .cjs file requires both entry points, runs a WebSocketServer on port 0, and prints no warning', async () => {
    const script = project.write('echo.cjs', ECHO_CJS);
    const child = spawn(process.execPath, [script], { cwd: project.dir, env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    defer(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const firstLine = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
      void exit.then((code) => reject(new Error(`exited with ${code} before printing; stderr: ${err}`)));
    });
    const report = JSON.parse(firstLine) as {
      port: number;
      frame: string;
      goingAway: number;
      errorClass: string;
      sameAsImport: boolean;
    };
    // RFC 6455 5.7: a single-frame masked text message "Hello".
    expect(report.frame).toBe('818537fa213d7f9f4d5158');
    expect(report.goingAway).toBe(1001);
    expect(report.errorClass).toBe('function');
    expect(report.sameAsImport).toBe(true);

    const client = await wsConnect(`ws://${HOST}:${report.port}`);
    client.ws.send('required €');
    const reply = await client.messages.next();
    expect(reply.isBinary).toBe(false);
    expect(reply.data.toString('utf8')).toBe('required €');

    child.stdin.end();
    expect(await client.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(await exit).toBe(0);
    // Node 20.19+ warns about require(esm) only under --trace-require-module.
    expect(err).toBe('');
  });
});
