import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

const root = new URL('../../', import.meta.url);
let child: ChildProcess | undefined;

afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

function startExample(): Promise<number> {
  child = spawn(process.execPath, ['--import', 'tsx/esm', 'examples/http-server.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    child!.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const port = /localhost:(\d+)/.exec(output)?.[1];
      if (port !== undefined) resolve(Number(port));
    });
    child!.once('exit', (code) => reject(new Error(`example exited with ${code}: ${output}`)));
  });
}

describe('examples/http-server.ts', () => {
  it('is the example shown in the README, character for character', () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    const example = readFileSync(new URL('examples/http-server.ts', root), 'utf8');
    expect(readme).toContain('```ts\n' + example + '```');
  });

  it('serves plain HTTP and WebSocket on one port', async () => {
    const port = await startExample();
    const body = await new Promise<string>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/' }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve(`${response.statusCode} ${text}`));
      })
        .on('error', reject)
        .end();
    });
    expect(body).toBe('200 plain HTTP still works here\n');

    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      client.on('message', (data) => {
        received.push(data.toString());
        if (received.length === 1) client.send('shout');
        else client.close(1000);
      });
      client.on('close', () => resolve());
      client.on('error', reject);
    });
    // The address is IPv4-mapped when the server listens dual-stack on '::'.
    expect(received[0]).toMatch(/^welcome, (::ffff:)?127\.0\.0\.1$/);
    expect(received[1]).toBe('SHOUT');
  });
});
