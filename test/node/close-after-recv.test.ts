/**
 * Issue 14's bug: an application reads exactly the messages it expects with recv(), then awaits
 * `ws.closed`. The peer's close arrived behind those messages; once the last of them is taken,
 * nothing is left to return and the closing handshake must complete at once, not after
 * closeTimeout (the close was held until a next read that never came).
 *
 * closeTimeout is a minute here and every test is bounded at 10 s: with the bug, `closed` waits
 * for the timer and the test fails by its own timeout.
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { OP, cleanup, clientFrame, closePayload, rawConnect, serverFrame, startServer, text, until, type Frame } from './helpers.js';
import { parseClose, startRawServer, type RawPeer } from './client/helpers.js';

afterEach(cleanup);

const LONG = 60_000;
const BOUND = 10_000;

type PeerEnd = 'ends TCP' | 'destroys TCP' | 'keeps TCP open';
const ENDS: PeerEnd[] = ['ends TCP', 'destroys TCP', 'keeps TCP open'];

/** The raw server's side: two messages and a close frame in one write, then `end` as the test says. */
async function serveTwoMessagesThenClose(peer: RawPeer, end: PeerEnd): Promise<void> {
  await peer.request();
  peer.accept();
  const bytes = Buffer.concat([
    serverFrame(OP.TEXT, text('one')),
    serverFrame(OP.TEXT, text('two')),
    serverFrame(OP.CLOSE, closePayload(1000, 'bye')),
  ]);
  if (end === 'ends TCP') peer.socket.end(bytes);
  else if (end === 'destroys TCP') peer.socket.write(bytes, () => peer.socket.destroy());
  else {
    peer.write(bytes);
    // A peer that keeps TCP open answers nothing itself: it waits for our close frame, then, as a
    // server does (RFC 6455 7.1.1), ends TCP.
    const echo = await peer.nextFrame();
    expect(echo.opcode).toBe(OP.CLOSE);
    expect(parseClose(echo.payload)).toEqual({ code: 1000, reason: '' });
    peer.socket.end();
  }
}

describe('client: recv() for exactly the messages expected, then `await ws.closed`', () => {
  for (const end of ENDS) {
    it(`settles at once when the server sends its close and ${end}`, { timeout: BOUND }, async () => {
      const server = await startRawServer();
      const connecting = connect(server.url, { closeTimeout: LONG });
      const peer = await server.peers.next();
      const serving = serveTwoMessagesThenClose(peer, end);
      const ws = await connecting;
      expect(await ws.recv()).toEqual({ type: 'text', data: 'one' });
      expect(await ws.recv()).toEqual({ type: 'text', data: 'two' });
      const result = await ws.closed;
      await serving;
      expect(result.code).toBe(1000);
      expect(result.reason).toBe('bye');
      // A destroyed connection may lose our echo; otherwise close frames went both ways.
      if (end !== 'destroys TCP') expect(result.wasClean).toBe(true);
      expect(ws.readyState).toBe('closed');
    });
  }

  it('a reply sent in the same turn as the last read still goes out before the close echo', { timeout: BOUND }, async () => {
    const server = await startRawServer();
    const connecting = connect(server.url, { closeTimeout: LONG });
    const peer = await server.peers.next();
    await peer.request();
    peer.accept();
    peer.write(
      Buffer.concat([
        serverFrame(OP.TEXT, text('ping?')),
        serverFrame(OP.CLOSE, closePayload(1000)),
      ]),
    );
    const ws = await connecting;
    const message = await ws.recv();
    const reply = ws.send(`${message.data as string} pong!`);
    const first = await peer.nextFrame();
    const second = await peer.nextFrame();
    expect([first.opcode, Buffer.from(first.payload).toString()]).toEqual([OP.TEXT, 'ping? pong!']);
    expect(second.opcode).toBe(OP.CLOSE);
    peer.socket.end();
    await reply;
    expect((await ws.closed).wasClean).toBe(true);
  });

  it('recv() after the end rejects with WS_ERR_CLOSED carrying the close code', { timeout: BOUND }, async () => {
    const server = await startRawServer();
    const connecting = connect(server.url, { closeTimeout: LONG });
    const peer = await server.peers.next();
    const serving = serveTwoMessagesThenClose(peer, 'ends TCP');
    const ws = await connecting;
    await ws.recv();
    await ws.recv();
    await expect(ws.recv()).rejects.toMatchObject({ code: 'WS_ERR_CLOSED', closeCode: 1000 });
    await ws.closed;
    await serving;
  });
});

describe('server: a handler that recv()s exactly the messages expected, then awaits `ws.closed`', () => {
  for (const end of ENDS) {
    it(`settles at once when the client sends its close and ${end}`, { timeout: BOUND }, async () => {
      const results: Array<Promise<unknown>> = [];
      const { port } = await startServer({
        closeTimeout: LONG,
        async handler(ws) {
          const got = [await ws.recv(), await ws.recv()];
          results.push(Promise.resolve(got));
          results.push(ws.closed);
        },
      });
      const client = await rawConnect(port);
      const bytes = Buffer.concat([
        clientFrame({ opcode: OP.TEXT, payload: text('one') }),
        clientFrame({ opcode: OP.TEXT, payload: text('two') }),
        clientFrame({ opcode: OP.CLOSE, payload: closePayload(1001, 'leaving') }),
      ]);
      if (end === 'ends TCP') client.socket.end(bytes);
      else if (end === 'destroys TCP') client.socket.write(bytes, () => client.socket.destroy());
      else client.send(bytes);
      if (end === 'keeps TCP open') {
        // The server answers with its close frame and, being the server, ends TCP itself (7.1.1).
        const echo: Frame = await client.nextFrame();
        expect(echo.opcode).toBe(OP.CLOSE);
        expect(parseClose(echo.payload).code).toBe(1001);
        await client.ended;
      }
      await until(() => results.length === 2, 'the handler to read both messages');
      expect(await results[0]).toEqual([
        { type: 'text', data: 'one' },
        { type: 'text', data: 'two' },
      ]);
      const result = (await results[1]) as { code: number; reason: string; wasClean: boolean };
      expect(result.code).toBe(1001);
      expect(result.reason).toBe('leaving');
      if (end !== 'destroys TCP') expect(result.wasClean).toBe(true);
    });
  }
});

describe('a script whose last step is `await ws.closed`', () => {
  it('exits 0 at once, with no "unsettled top-level await"', { timeout: BOUND }, async () => {
    const server = await startRawServer();
    const script = fileURLToPath(new URL('../fixtures/recv-then-closed.mjs', import.meta.url));
    const child = spawn(process.execPath, [script, server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const peer = await server.peers.next();
    await serveTwoMessagesThenClose(peer, 'ends TCP');
    const code = await exited;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ messages: ['one', 'two'], code: 1000, reason: 'bye', wasClean: true });
  });
});
