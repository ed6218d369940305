/**
 * Chromium's WebSockets over HTTP/2 (RFC 8441, issue 17). Chromium opens a page's WebSockets as
 * streams of the page's own HTTP/2 connection when the server advertises
 * SETTINGS_ENABLE_CONNECT_PROTOCOL, which `wss.attach(http2Server)` does. The pages are served over
 * HTTPS with a throwaway certificate from openssl, which the browser context is told to accept
 * (`ignoreHTTPSErrors`): Chromium then still negotiates h2.
 *
 * A. The echo page of `npm start -- --cert --key`: the page shows what the server says carries its
 *    WebSocket (h2), and echoes text and binary over it.
 * B. The same page from an in-process server that records, on the server side, each WebSocket's
 *    `ws.transport` and request: over HTTP/2 (h2, CONNECT), over an HTTPS server without HTTP/2
 *    (http/1.1), and over an HTTP/2 server that does not advertise the extended CONNECT (the
 *    page over h2, its WebSocket over a new HTTP/1.1 connection: Chromium's fallback).
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureServer } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { asksForTransport, serveEchoPage, serveNotFound, type PageRequest, type PageResponse } from '../../src/echo/page.js';
import { WebSocketServer, type UpgradeRequest, type Ws } from '../../src/index.js';
import { HOST, cleanup, defer } from '../node/helpers.js';
import { OPENSSL, describeWithTools, makeCertificate, type Certificate } from '../node/client/tools.js';
import { logLines, useChromium } from './chromium.js';
import { startEchoCli } from './echo-cli.js';
import { chromiumPeer, describeWithPeer } from './peers.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/chromium/', import.meta.url));

/** The echo page of npm start at /, 404 elsewhere. */
function servePage(request: PageRequest, response: PageResponse): void {
  if (!serveEchoPage(request, response)) serveNotFound(request, response);
}

/** What the server saw of each WebSocket. */
interface Seen {
  readonly transport: string;
  readonly method: string | undefined;
  readonly httpVersion: string;
}

/** The echo handler of npm start (the transport first, for /?transport), recording what it saw. */
function recordingEcho(seen: Seen[]): (ws: Ws, request: UpgradeRequest) => Promise<void> {
  return async (ws, request) => {
    seen.push({ transport: ws.transport, method: request.method, httpVersion: request.httpVersion });
    if (asksForTransport(request.url)) await ws.send(`transport: ${ws.transport}`);
    for await (const message of ws) await ws.send(message.data);
  };
}

describeWithPeer(chromiumPeer(), 'Chromium over HTTP/2 (RFC 8441)', (executable) => {
  describeWithTools('with a throwaway certificate', [OPENSSL], () => {
    let certificate: Certificate;
    beforeAll(() => {
      certificate = makeCertificate();
    });
    const chromium = useChromium(executable, defer);
    afterEach(cleanup);

    /** Opens `url` in a new context that accepts the throwaway certificate; the page's CSP is checked. */
    async function openPage(url: string): Promise<Page> {
      const page = await chromium.newPage({ ignoreHTTPSErrors: true });
      const response = await page.goto(url);
      expect(response?.status()).toBe(200);
      // The page's socket goes to wss: of its own origin, which its CSP names.
      expect(await response?.headerValue('content-security-policy')).toContain(`connect-src 'self' wss://${new URL(url).host};`);
      return page;
    }

    it('the echo page of `npm start -- --cert --key`: its WebSocket goes over h2, as the server says; text and binary echo', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rfc6455-echo-tls-'));
      defer(() => rmSync(dir, { recursive: true, force: true }));
      writeFileSync(join(dir, 'cert.pem'), certificate.cert);
      writeFileSync(join(dir, 'key.pem'), certificate.key);
      const cli = await startEchoCli(['--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem')]);
      defer(() => cli.stop());
      const origin = `https://${HOST}:${cli.port}`;
      const page = await openPage(`${origin}/`);
      await logLines(page, 3);
      await page.fill('#message', 'over one connection');
      await page.click('#send-text');
      await logLines(page, 5);
      await page.click('#send-binary');
      await logLines(page, 7);
      await page.fill('#close-code', '4000');
      await page.click('#close');
      const lines = await logLines(page, 9);
      const bytes = '6f 76 65 72 20 6f 6e 65 20 63 6f 6e 6e 65 63 74 \u2026';
      expect(lines).toEqual([
        `connecting to wss://${HOST}:${cli.port}/?transport`,
        'open: extensions "permessage-deflate", protocol ""',
        'transport: h2 (the server says)',
        'sent text (19 bytes): over one connection',
        'received text (19 bytes): over one connection',
        `sent binary (19 bytes): ${bytes}`,
        `received binary (19 bytes): ${bytes}`,
        'close requested: code 4000, reason "done"',
        'close: code 4000, reason "", wasClean true',
      ]);
      expect(await page.locator('#state').textContent()).toBe(`closed: wss://${HOST}:${cli.port}/?transport over h2`);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}echo-page-h2.png`, fullPage: true });
      expect(await cli.stop()).toBe(0);
      expect(cli.stderr()).toBe('');
    });

    it('over HTTP/2: the server sees a CONNECT stream (h2, 2.0), and the page says h2', async () => {
      const seen: Seen[] = [];
      const wss = new WebSocketServer({ handler: recordingEcho(seen), perMessageDeflate: true });
      const server = createSecureServer({ cert: certificate.cert, key: certificate.key, allowHTTP1: true }, servePage);
      wss.attach(server);
      const port = await listen(server, wss);
      const page = await openPage(`https://${HOST}:${port}/`);
      const lines = await logLines(page, 3);
      expect(lines[2]).toBe('transport: h2 (the server says)');
      expect(seen).toEqual([{ transport: 'h2', method: 'CONNECT', httpVersion: '2.0' }]);
      expect(await page.locator('#state').textContent()).toBe(`open: wss://${HOST}:${port}/?transport over h2`);
      // The page's response itself came over HTTP/2 as well: one connection for both.
      expect(await page.evaluate('performance.getEntriesByType("navigation")[0].nextHopProtocol')).toBe('h2');
    });

    it('the same page over HTTP/1.1 (an HTTPS server without h2): an upgrade, and the page says http/1.1', async () => {
      const seen: Seen[] = [];
      const wss = new WebSocketServer({ handler: recordingEcho(seen) });
      const server = createHttpsServer({ cert: certificate.cert, key: certificate.key }, servePage);
      wss.attach(server);
      const port = await listen(server, wss);
      const page = await openPage(`https://${HOST}:${port}/`);
      const lines = await logLines(page, 3);
      expect(lines[2]).toBe('transport: http/1.1 (the server says)');
      expect(seen).toEqual([{ transport: 'http/1.1', method: 'GET', httpVersion: '1.1' }]);
      expect(await page.evaluate('performance.getEntriesByType("navigation")[0].nextHopProtocol')).toBe('http/1.1');
    });

    it('an HTTP/2 server without the extended CONNECT: the page over h2, its WebSocket over HTTP/1.1 (the fallback)', async () => {
      const seen: Seen[] = [];
      const wss = new WebSocketServer({ handler: recordingEcho(seen) });
      const server = createSecureServer({ cert: certificate.cert, key: certificate.key, allowHTTP1: true }, servePage);
      // Upgrades only: no attach(), so no SETTINGS_ENABLE_CONNECT_PROTOCOL.
      server.on('upgrade', (request, socket, head) => void wss.handleUpgrade(request, socket, head));
      const port = await listen(server, wss);
      const page = await openPage(`https://${HOST}:${port}/`);
      const lines = await logLines(page, 3);
      expect(lines[2]).toBe('transport: http/1.1 (the server says)');
      expect(seen).toEqual([{ transport: 'http/1.1', method: 'GET', httpVersion: '1.1' }]);
      expect(await page.evaluate('performance.getEntriesByType("navigation")[0].nextHopProtocol')).toBe('h2');
    });
  });
});

/** Listens on 127.0.0.1:0; closes the WebSocketServer, the server and its connections after the test. */
async function listen(
  server: import('node:https').Server | import('node:http2').Http2SecureServer,
  wss: WebSocketServer,
): Promise<number> {
  const closers = new Set<{ destroy(): void }>();
  server.on('session', (session: { destroy(): void }) => closers.add(session));
  server.on('secureConnection', (socket: { destroy(): void }) => closers.add(socket));
  await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
  defer(async () => {
    await wss.close({ timeout: 100 });
    for (const closer of closers) closer.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as { port: number }).port;
}
