/**
 * The packed package's `rfc6455` command (package.json `bin` -> dist/cli.js): npm links it into
 * node_modules/.bin and makes it executable; its `#!/usr/bin/env node` line (kept by tsc from
 * src/cli.ts) lets the OS run it without `node` in front.
 */

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HOST, cleanup, defer, wsConnect } from '../node/helpers.js';
import { childEnv, installPacked, run, type PackedProject } from './packed.js';

afterEach(cleanup);

let project: PackedProject;
let bin: string;
beforeAll(async () => {
  project = await installPacked();
  bin = join(project.dir, 'node_modules', '.bin', 'rfc6455');
});
afterAll(() => project?.remove());

describe('the installed rfc6455 command', () => {
  it('dist/cli.js starts with the node shebang', () => {
    const cli = readFileSync(join(project.dir, 'node_modules', 'rfc6455', 'dist', 'cli.js'), 'utf8');
    expect(cli.split('\n', 1)[0]).toBe('#!/usr/bin/env node');
  });

  it('--help prints the usage and exits 0', async () => {
    const result = await run(bin, ['--help'], project.dir);
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(result.stdout.split('\n', 1)[0]).toBe('Usage: rfc6455 [echo] [--port N] [--host H] [--no-deflate] [--cert FILE --key FILE]');
    expect(result.stdout).toContain('--no-deflate');
  });

  it('an unknown command exits 2 with a message', async () => {
    const result = await run(bin, ['bogus'], project.dir);
    expect(result).toMatchObject({ code: 2, signal: null, stdout: '' });
    expect(result.stderr.trim()).toBe('rfc6455 echo server: unknown command "bogus" (try --help)');
  });

  it('`rfc6455 echo --port 0` serves an echo and stops with 1001 and exit code 0 on SIGTERM', async () => {
    const child = spawn(bin, ['echo', '--port', '0', '--host', HOST], {
      cwd: project.dir,
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    defer(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
      void exit.then(({ code }) => reject(new Error(`exited with ${code} before logging; stderr: ${err}`)));
    });
    const match = /^rfc6455 echo server listening on ws:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
    expect(match, `log line: ${line}`).not.toBeNull();

    const client = await wsConnect(`ws://${HOST}:${match![1]}`);
    client.ws.send('from the bin');
    expect((await client.messages.next()).data.toString('utf8')).toBe('from the bin');
    child.kill('SIGTERM');
    expect(await client.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(err).toBe('');
  });
});
