/**
 * Cross-site WebSocket hijacking, tried with a real browser (issue 14): a page of another origin
 * opens a WebSocket to our server with default options, and the handshake is refused with 403
 * (Chromium reports the failure as close code 1006); a page the server itself serves (same
 * origin) connects; listing the other origin in `origins` lets it in. Both origins are loopback
 * (Chromium's Local Network Access lets a loopback page reach loopback).
 */

import { createServer } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import type { RefusedHandshake } from '../../src/node/server-options.js';
import { HOST, cleanup, defer, echoHandler, startHttpServer, startServer } from '../node/helpers.js';
import { useChromium } from './chromium.js';
import { chromiumPeer, describeWithPeer } from './peers.js';

const PAGE = '<!doctype html><title>origin test</title><p>a page</p>';

function servePage(response: import('node:http').ServerResponse): void {
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  response.end(PAGE);
}

/** The parts of the page's WebSocket the script below uses (the tests are type-checked without DOM types). */
interface PageWebSocket {
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number }) => void) | null;
  send(data: string): void;
  close(): void;
}

/** Runs in the page: opens a WebSocket, sends "hi"; resolves with the echo, or how it closed. */
const TRY_WEBSOCKET = (url: string): Promise<string> =>
  new Promise((resolve) => {
    const PageSocket = (globalThis as unknown as { WebSocket: new (url: string) => PageWebSocket }).WebSocket;
    const ws = new PageSocket(url);
    ws.onopen = () => ws.send('hi');
    ws.onmessage = (event) => {
      resolve(`echo: ${String(event.data)}`);
      ws.close();
    };
    ws.onclose = (event) => resolve(`close: ${event.code}`);
  });

describeWithPeer(chromiumPeer(), 'Chromium and the origins option', (executable) => {
  const chromium = useChromium(executable, defer);
  afterEach(cleanup);

  async function pageAt(url: string) {
    const page = await chromium.newPage();
    expect((await page.goto(url))?.status()).toBe(200);
    return page;
  }

  it('by default: a page of another origin is refused (403, close 1006 in the page); the server\'s own page connects', async () => {
    const refused: RefusedHandshake[] = [];
    const wss = await startServer({
      handler: echoHandler,
      onRefused: (info) => refused.push(info),
      onHttpRequest: (_request, response) => (servePage(response), true),
    });
    const otherPort = await startHttpServer(createServer((_request, response) => servePage(response)));
    const wsUrl = `ws://${HOST}:${wss.port}/`;

    const foreign = await pageAt(`http://${HOST}:${otherPort}/`);
    expect(await foreign.evaluate(TRY_WEBSOCKET, wsUrl)).toBe('close: 1006');
    expect(refused.map((r) => ({ status: r.status, code: r.code, origin: r.request?.headers.origin }))).toEqual([
      { status: 403, code: 'WS_ERR_HANDSHAKE_ORIGIN', origin: `http://${HOST}:${otherPort}` },
    ]);
    expect(wss.server.clients.size).toBe(0);

    const own = await pageAt(`http://${HOST}:${wss.port}/`);
    expect(await own.evaluate(TRY_WEBSOCKET, wsUrl)).toBe('echo: hi');
    expect(refused).toHaveLength(1);
  });

  it('an origin listed in `origins` connects from its own page', async () => {
    const otherServer = createServer((_request, response) => servePage(response));
    const otherPort = await startHttpServer(otherServer);
    const wss = await startServer({ handler: echoHandler, origins: [`http://${HOST}:${otherPort}`] });
    const page = await pageAt(`http://${HOST}:${otherPort}/`);
    expect(await page.evaluate(TRY_WEBSOCKET, `ws://${HOST}:${wss.port}/`)).toBe('echo: hi');
  });
});
