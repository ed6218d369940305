/**
 * Our client against our server over HTTP/2 (RFC 8441), cleartext (h2c, prior knowledge) and TLS
 * (h2 by ALPN, a throwaway certificate from openssl): messages of every kind and size, with and
 * without compression, pings, every close path, reset streams, 200 WebSockets on one session with
 * one that does not read; the session pool; the fallback to HTTP/1.1 and `http2: 'only'`; errors
 * by phase, as over HTTP/1.1.
 */

import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientOptions, ServerOptions } from '../../../src/index.js';
import { http2Sessions } from '../../../src/node/client/http2-sessions.js';
import { cleanup, echoHandler, nextTurn, until } from '../helpers.js';
import { dial } from '../client/helpers.js';
import { OPENSSL, describeWithTools, makeCertificate, type Certificate } from '../client/tools.js';
import { startHttp2Server, type Http2TestServer } from './helpers.js';

afterEach(cleanup);

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Connects and closes the connection after the test. */

interface Variant {
  start(options?: ServerOptions): Promise<Http2TestServer>;
  /** Client options that reach the server (its CA for TLS), with http2 on. */
  readonly client: ClientOptions;
}

/** The suite that runs over both h2c and h2. */
function overBoth(name: string, variant: () => Variant): void {
  describe(name, () => {
    it('text and binary, both ways; both ends say h2; one session for several WebSockets', async () => {
      const { start, client } = variant();
      const server = await start({ handler: echoHandler });
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => dial(server.url, client)));
      for (const ws of [a!, b!, c!]) expect(ws.transport).toBe('h2');
      for (let i = 0; i < 3; i++) expect((await server.connections.next()).transport).toBe('h2');
      await a!.send('héllo ✓');
      expect(await a!.recv()).toEqual({ type: 'text', data: 'héllo ✓' });
      await b!.send(Buffer.from([0, 1, 0xfe, 0xff]));
      expect(await b!.recv()).toEqual({ type: 'binary', data: Buffer.from([0, 1, 0xfe, 0xff]) });
      expect(server.sessions).toHaveLength(1);
    });

    it.each([
      ['compressed', true],
      ['uncompressed', false],
    ])('16 MiB of random bytes each way, %s, then more messages', async (_name, deflate) => {
      const { start, client } = variant();
      const server = await start({ handler: echoHandler, perMessageDeflate: deflate });
      const ws = await dial(server.url, client);
      expect(ws.extensions).toBe(deflate ? 'permessage-deflate' : '');
      expect((await server.connections.next()).deflateAgreement === null).toBe(!deflate);
      const payload = randomBytes(16 * 1024 * 1024);
      await ws.send(payload);
      const echo = await ws.recv();
      expect(echo.type).toBe('binary');
      expect(sha256(echo.data as Buffer)).toBe(sha256(payload));
      await ws.send('after');
      expect(await ws.recv()).toEqual({ type: 'text', data: 'after' });
    });

    it('pings both ways', async () => {
      const { start, client } = variant();
      const server = await start({ handler: echoHandler });
      const ws = await dial(server.url, client);
      const serverWs = await server.connections.next();
      expect(await ws.ping('from the client')).toBeGreaterThanOrEqual(0);
      expect(await serverWs.ping('from the server')).toBeGreaterThanOrEqual(0);
    });

    it('the client closes: clean at both ends, the stream ends without a reset', async () => {
      const { start, client } = variant();
      const server = await start({ handler: echoHandler });
      const ws = await dial(server.url, client);
      const serverWs = await server.connections.next();
      expect(await ws.close(4001, 'client leaving')).toEqual({ code: 4001, reason: '', wasClean: true });
      expect(await serverWs.closed).toEqual({ code: 4001, reason: 'client leaving', wasClean: true });
    });

    it('the server closes: clean at both ends', async () => {
      const { start, client } = variant();
      const server = await start({ handler: echoHandler });
      const ws = await dial(server.url, client);
      const serverWs = await server.connections.next();
      expect(await serverWs.close(4000, 'bye')).toEqual({ code: 4000, reason: '', wasClean: true });
      expect(await ws.closed).toEqual({ code: 4000, reason: 'bye', wasClean: true });
    });

    it('closes that cross: clean at both ends', async () => {
      const { start, client } = variant();
      const server = await start({ handler: echoHandler });
      const ws = await dial(server.url, client);
      const serverWs = await server.connections.next();
      const [mine, theirs] = await Promise.all([ws.close(4001), serverWs.close(4002)]);
      expect(mine).toMatchObject({ code: 4002, wasClean: true });
      expect(theirs).toMatchObject({ code: 4001, wasClean: true });
    });

    it('either side terminates (RST_STREAM CANCEL): 1006 at the other; the session goes on', async () => {
      const { start, client } = variant();
      const server = await start({ handler: echoHandler });
      const [first, second, third] = await Promise.all([1, 2, 3].map(() => dial(server.url, client)));
      const serverSide = [await server.connections.next(), await server.connections.next(), await server.connections.next()];
      first!.terminate();
      expect((await first!.closed).code).toBe(1006);
      // The server's end of the first: the one that closed without a close frame.
      await until(() => serverSide.filter((ws) => ws.readyState === 'closed').length === 1, 'the server saw the reset');
      expect(serverSide.find((ws) => ws.readyState === 'closed')!.closeResult).toMatchObject({ code: 1006, wasClean: false });
      const secondServer = serverSide.find((ws) => ws.readyState === 'open')!;
      secondServer.terminate();
      await until(() => [second!, third!].some((ws) => ws.readyState === 'closed'), 'the client saw the reset');
      const [reset, alive] = second!.readyState === 'closed' ? [second!, third!] : [third!, second!];
      expect(reset.closeResult).toMatchObject({ code: 1006, wasClean: false });
      await alive.send('still here');
      expect(await alive.recv()).toEqual({ type: 'text', data: 'still here' });
      expect(server.sessions).toHaveLength(1);
    });

    it('the session going away: every WebSocket on it gets 1006', async () => {
      const { start, client } = variant();
      const server = await start({ handler: echoHandler });
      const sockets = await Promise.all([1, 2].map(() => dial(server.url, client)));
      await until(() => server.sessions.length === 1, 'the session');
      server.sessions[0]!.destroy();
      for (const ws of sockets) expect((await ws.closed).code).toBe(1006);
    });

    it('200 WebSockets on one session, one of them not reading: it is bounded, the others echo, and a new one opens', async () => {
      const { start, client } = variant();
      const server = await start({ maxBufferedAmount: 2 * 1024 * 1024, sendOverflow: 'reject', handler: echoHandler });
      // The first one's application never reads (until the end): the server floods it.
      const stuck = await dial(server.url, { ...client, receiveHighWaterMark: 64 * 1024 });
      const stuckServer = await server.connections.next();
      const others = await Promise.all(Array.from({ length: 199 }, () => dial(server.url, client)));
      expect(server.sessions).toHaveLength(1);
      expect(others.every((ws) => ws.transport === 'h2')).toBe(true);
      const chunk = randomBytes(128 * 1024);
      let overflow: unknown;
      const flood = (async () => {
        for (let i = 0; i < 100 && overflow === undefined; i++) {
          stuckServer.send(chunk).catch((error: unknown) => {
            overflow ??= error;
          });
          await nextTurn();
        }
      })();
      // Meanwhile every other WebSocket on the session echoes, three rounds each.
      await Promise.all(
        others.map(async (ws, i) => {
          for (let round = 0; round < 3; round++) {
            await ws.send(`message ${i}.${round}`);
            expect(await ws.recv()).toEqual({ type: 'text', data: `message ${i}.${round}` });
          }
        }),
      );
      await flood;
      // Bounded as on TCP: the sends past maxBufferedAmount were refused.
      expect(overflow).toMatchObject({ code: 'WS_ERR_BUFFER_FULL' });
      expect(stuckServer.bufferedAmount).toBeGreaterThanOrEqual(2 * 1024 * 1024);
      expect(stuckServer.bufferedAmount).toBeLessThan(2 * 1024 * 1024 + chunk.length + 64 * 1024);
      // A new WebSocket still opens on the same session.
      const late = await dial(server.url, client);
      await late.send('late');
      expect(await late.recv()).toEqual({ type: 'text', data: 'late' });
      expect(late.transport).toBe('h2');
      expect(server.sessions).toHaveLength(1);
      // The stuck one reads at last: what the server accepted arrives, intact.
      const first = await stuck.recv();
      expect(first.type).toBe('binary');
      expect((first.data as Buffer).equals(chunk)).toBe(true);
    });

    it('the session closes once its last WebSocket is gone', async () => {
      const { start, client } = variant();
      const server = await start({ handler: echoHandler });
      const before = http2Sessions.size;
      const [a, b] = await Promise.all([1, 2].map(() => dial(server.url, client)));
      expect(http2Sessions.size).toBe(before + 1);
      await a!.close();
      expect(http2Sessions.size).toBe(before + 1);
      await b!.close();
      expect(http2Sessions.size).toBe(before);
      await until(() => server.sessions[0]!.closed, 'the server saw the session close');
    });
  });
}

overBoth('over h2c (cleartext, prior knowledge)', () => ({
  start: (options) => startHttp2Server(options),
  client: { http2: true },
}));

describeWithTools('over h2 (TLS, ALPN)', [OPENSSL], () => {
  let certificate: Certificate;
  const variant = (): Variant => {
    certificate ??= makeCertificate();
    return {
      start: (options) => startHttp2Server(options, { tls: certificate }),
      client: { http2: true, ca: certificate.cert },
    };
  };
  overBoth('with a throwaway certificate', variant);
});
