/**
 * examples/broadcast.ts (issue 11): every connection is subscribed to one topic, and each message a
 * client sends goes to every connection, the sender included, with its opcode. Run as users run
 * it (`node --import tsx/esm examples/broadcast.ts`, on the built package), on a port the kernel picks
 * (PORT=0; it prints the one it got), and stopped with SIGTERM.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, closePayload, deadline, MessageInflater, OP, rawConnect, serverFrame, type RawClient } from '../node/helpers.js';

const root = new URL('../../', import.meta.url);
let child: ChildProcess | undefined;

afterEach(async () => {
  await cleanup();
  child?.kill('SIGKILL');
  child = undefined;
});

function startExample(env: Record<string, string> = {}): Promise<number> {
  const started = spawn(process.execPath, ['--import', 'tsx/esm', 'examples/broadcast.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child = started;
  return deadline(
    new Promise((resolve, reject) => {
      let output = '';
      started.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const port = /broadcast server on ws:\/\/localhost:(\d+)/.exec(output)?.[1];
        if (port !== undefined) resolve(Number(port));
      });
      started.once('exit', (code) => reject(new Error(`the example exited with ${code}: ${output}`)));
    }),
    20_000,
    'the example to listen',
  );
}

function stopExample(): Promise<number | null> {
  const running = child!;
  const exited = new Promise<number | null>((resolve) => running.once('exit', (code) => resolve(code)));
  running.kill('SIGTERM');
  return deadline(exited, 10_000, 'the example to exit');
}

/** A masked client frame (RFC 6455 5.3). */
function send(client: RawClient, opcode: number, payload: Buffer): void {
  client.sendFrame({ opcode, payload });
}

describe('examples/broadcast.ts', () => {
  it('sends every message to every connection, the sender included, text as text and binary as binary; exits 0 on SIGTERM', async () => {
    const port = await startExample();
    const clients = [await rawConnect(port), await rawConnect(port), await rawConnect(port)];
    const binary = Buffer.from([0x00, 0x01, 0x80, 0xfe, 0xff]);
    send(clients[1]!, OP.TEXT, Buffer.from('hello, everyone'));
    send(clients[1]!, OP.BINARY, binary);
    for (const client of clients) {
      // Unmasked server frames, byte for byte, in the order they were sent.
      expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.TEXT, 'hello, everyone'));
      expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.BINARY, binary));
    }
    // SIGTERM: its shutdown closes every connection with 1001 "going away" (RFC 6455 7.4.1); the
    // clients answer, and it exits 0.
    const exited = stopExample();
    for (const client of clients) {
      const frame = await client.nextFrame();
      expect(frame.raw).toEqual(serverFrame(OP.CLOSE, closePayload(1001, 'server shutting down')));
      client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1001) });
    }
    expect(await exited).toBe(0);
  });

  it('DEFLATE=1: clients that keep context takeover each get the broadcast compressed', async () => {
    const port = await startExample({ DEFLATE: '1' });
    const offer = { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' } };
    const clients = [await rawConnect(port, offer), await rawConnect(port, offer), await rawConnect(port, offer)];
    for (const client of clients) expect(client.response!.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate/);
    const text = JSON.stringify(Array.from({ length: 60 }, (_, i) => ({ id: i, name: `user ${i}`, online: i % 3 === 0 })));
    expect(text.length).toBeGreaterThan(1024); // above the default threshold
    send(clients[0]!, OP.TEXT, Buffer.from(text));
    for (const client of clients) {
      const frame = await client.nextFrame();
      expect([frame.opcode, frame.rsv]).toEqual([OP.TEXT, 0b100]);
      expect((await new MessageInflater().inflate(frame.payload)).toString('utf8')).toBe(text);
    }
    const exited = stopExample();
    for (const client of clients) {
      expect((await client.nextFrame()).opcode).toBe(OP.CLOSE);
      client.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1001) });
    }
    expect(await exited).toBe(0);
  });
});
