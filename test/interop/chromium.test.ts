/**
 * Interop with Chromium (issue 10): Debian's headless chromium, driven by playwright-core.
 *
 * A. The echo page of `npm start` (the CLI in a child process), opened and used as a person would:
 *    type text and Send, Send as binary, Close with a code and reason from the page's inputs. The
 *    page's log is checked line by line, and the server's view is read from the wire: the test
 *    puts a TCP tap between the browser and the server, so it sees every byte the server received
 *    and sent (the 101's negotiated extension, compressed frames both ways, the close frame).
 * B. The browser's own WebSocket (page.evaluate in a page our server served: Chromium's Local
 *    Network Access checks let a loopback page reach loopback) with 1 MiB messages against an
 *    in-process server that records a SHA-256 of every message it received.
 */

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { serveEchoPage } from '../../src/echo/page.js';
import type { CloseResult, Ws } from '../../src/index.js';
import type { DeflateOptions } from '../../src/node/options.js';
import { HOST, cleanup, defer, echoHandler, startServer } from '../node/helpers.js';
import { RECORD_CSP_VIOLATIONS, logLines, useChromium } from './chromium.js';
import { startEchoCli } from './echo-cli.js';
import { chromiumPeer, describeWithPeer } from './peers.js';
import { startTap, type TappedConnection } from './tap.js';
import { closeOf, headerValue, readMessages, readWireStream } from './wire.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/chromium/', import.meta.url));
const LARGE_ECHO = readFileSync(new URL('./browser/large-echo.js', import.meta.url), 'utf8');
const MiB = 1024 * 1024;

function hexPrefix(bytes: Buffer): string {
  const shown = [...bytes.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return bytes.length > 16 ? `${shown} \u2026` : shown;
}

function isWebSocket(connection: TappedConnection): boolean {
  return /^GET \/\?transport HTTP\/1\.1\r\n(?:[^\r\n]*\r\n)*upgrade: *websocket\r\n/i.test(Buffer.concat(connection.toServer).toString('latin1'));
}

interface LargeEchoResult {
  readonly extensions: string;
  readonly results: ReadonlyArray<{
    readonly name: string;
    readonly sent: { readonly type: string; readonly bytes: number; readonly sha256: string };
    readonly echo: { readonly type: string; readonly bytes: number; readonly sha256: string };
  }>;
  readonly close: { readonly code: number; readonly reason: string; readonly wasClean: boolean };
}

describeWithPeer(chromiumPeer(), 'Chromium (headless, Debian package)', (executable) => {
  const chromium = useChromium(executable, defer);
  afterEach(cleanup);

  it('uses the echo page of npm start: text, binary, close with a code and reason; page log, server view, screenshot', async () => {
    const cli = await startEchoCli();
    defer(() => cli.stop());
    const tap = await startTap(cli.port);
    defer(() => tap.close());
    const page = await chromium.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    await page.addInitScript(RECORD_CSP_VIOLATIONS);

    const origin = `http://${HOST}:${tap.port}`;
    const response = await page.goto(`${origin}/`);
    expect(response?.status()).toBe(200);
    expect(await response?.headerValue('content-security-policy')).toBe(
      `default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ws://${HOST}:${tap.port}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    await logLines(page, 3); // connecting, open, the transport the server says

    const text = 'Hello from Chromium, caf\u00e9 \u20ac \u{1F600}';
    const textBytes = Buffer.from(text, 'utf8');
    await page.fill('#message', text);
    await page.click('#send-text');
    await logLines(page, 5);
    await page.click('#send-binary');
    await logLines(page, 7);
    const reason = 'bye from the page \u2713';
    await page.fill('#close-code', '4000');
    await page.fill('#close-reason', reason);
    await page.click('#close');
    const lines = await logLines(page, 9);
    await page.locator('#connect:enabled').waitFor(); // the page saw the close and re-rendered

    // The server's side of the same connection, from the bytes on the wire.
    const socket = tap.connections.find(isWebSocket);
    expect(socket, 'the tap saw the WebSocket connection').toBeDefined();
    await socket!.closed;
    const request = readWireStream(socket!.toServer);
    const reply = readWireStream(socket!.toClient);
    expect(reply.head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
    const offered = headerValue(request.head, 'sec-websocket-extensions');
    const agreed = headerValue(reply.head, 'sec-websocket-extensions');
    expect(offered, 'Chromium offers permessage-deflate').toMatch(/^permessage-deflate\b/);
    expect(agreed).toBe('permessage-deflate');

    expect(request.head.split('\r\n')[0]).toBe('GET /?transport HTTP/1.1');
    expect(lines).toEqual([
      `connecting to ws://${HOST}:${tap.port}/?transport`,
      `open: extensions "${agreed}", protocol ""`,
      // The server's first message, as the page asked (/?transport): what carries the WebSocket.
      'transport: http/1.1 (the server says)',
      `sent text (${textBytes.length} bytes): ${text}`,
      `received text (${textBytes.length} bytes): ${text}`,
      `sent binary (${textBytes.length} bytes): ${hexPrefix(textBytes)}`,
      `received binary (${textBytes.length} bytes): ${hexPrefix(textBytes)}`,
      `close requested: code 4000, reason "${reason}"`,
      // The server's close answers with the page's code (RFC 6455 5.5.1) and no reason.
      `close: code 4000, reason "", wasClean true`,
    ]);

    // What the server received: Chromium's masked, compressed messages, then its close frame.
    expect(request.frames.every((frame) => frame.masked)).toBe(true);
    expect(await readMessages(request.frames)).toEqual([
      { opcode: 1, compressed: true, frames: 1, data: textBytes },
      { opcode: 2, compressed: true, frames: 1, data: textBytes },
    ]);
    const clientClose = request.frames.filter((frame) => frame.opcode === 8);
    expect(clientClose.map(closeOf)).toEqual([{ code: 4000, reason }]);
    expect(request.frames.at(-1)?.opcode).toBe(8); // nothing after the close
    // What it sent back: unmasked, compressed (the CLI compresses every message): the transport,
    // the echoes, then the close answering the page's with the same code (RFC 6455 5.5.1),
    // without a reason.
    expect(reply.frames.every((frame) => !frame.masked)).toBe(true);
    expect(await readMessages(reply.frames)).toEqual([
      { opcode: 1, compressed: true, frames: 1, data: Buffer.from('transport: http/1.1') },
      { opcode: 1, compressed: true, frames: 1, data: textBytes },
      { opcode: 2, compressed: true, frames: 1, data: textBytes },
    ]);
    expect(reply.frames.filter((frame) => frame.opcode === 8).map(closeOf)).toEqual([{ code: 4000, reason: '' }]);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}echo-page.png`, fullPage: true });

    // The CSP is enforced: a WebSocket to another origin and an inline script are refused, and
    // they are the only violations (the page's own script, stylesheet and socket were allowed).
    // (Chromium 156 does not throw from the constructor: the socket fires error and is CLOSED.)
    expect(
      await page.evaluate(`new Promise((resolve) => {
        const socket = new WebSocket('ws://127.0.0.2:9/');
        socket.onerror = () => resolve('error, readyState ' + socket.readyState);
      })`),
    ).toBe('error, readyState 3');
    await page.evaluate(`(() => {
      const script = document.createElement('script');
      script.textContent = 'window.inlineRan = true';
      document.body.append(script);
    })()`);
    await expect.poll(() => page.evaluate('window.cspViolations.length')).toBe(2);
    expect(await page.evaluate('window.cspViolations')).toEqual(['connect-src ws://127.0.0.2:9/', 'script-src-elem inline']);
    expect(await page.evaluate('window.inlineRan === true')).toBe(false);
    expect(problems).toEqual([]);

    expect(await cli.stop()).toBe(0);
    expect(cli.stderr()).toBe('');
  });

  it('the echo page shows what the browser refuses, and reconnects', async () => {
    const { port } = await startServer({ handler: echoHandler, onHttpRequest: serveEchoPage });
    const page = await chromium.newPage();
    await page.goto(`http://${HOST}:${port}/`);
    await logLines(page, 2);
    // WHATWG WebSockets, close(): a code other than 1000 or 3000-4999 is an InvalidAccessError,
    // a reason over 123 bytes a SyntaxError; the connection stays open.
    await page.fill('#close-code', '1001');
    await page.click('#close');
    await page.fill('#close-code', '1000');
    await page.fill('#close-reason', '\u00e9'.repeat(62)); // 124 bytes
    await page.click('#close');
    await page.fill('#message', 'still open');
    await page.click('#send-text');
    await page.fill('#close-code', '');
    await page.click('#close');
    await page.locator('#connect:enabled').click();
    const lines = await logLines(page, 10);
    expect(lines.slice(0, 2)).toEqual([`connecting to ws://${HOST}:${port}/?transport`, 'open: extensions "", protocol ""']);
    expect(lines[2]).toMatch(/^close refused by the browser: InvalidAccessError: .*1001/);
    expect(lines[3]).toMatch(/^close refused by the browser: SyntaxError: .*123 UTF-8 bytes/);
    expect(lines.slice(4)).toEqual([
      'sent text (10 bytes): still open',
      'received text (10 bytes): still open',
      'close requested without a code',
      // No code sent: the server's close has none either, which the browser reports as 1005.
      'close: code 1005, reason "", wasClean true',
      `connecting to ws://${HOST}:${port}/?transport`,
      'open: extensions "", protocol ""',
    ]);
  });

  it.each([
    ['on (threshold 0, as npm start)', { threshold: 0 } as DeflateOptions, 'permessage-deflate', 0],
    ['off', false as const, '', 0],
    // Issue 10: "fragmented replies": the echoes come back in 64 KiB frames (RFC 6455 5.4),
    // compressed ones with RSV1 on the first frame only (RFC 7692 6.1).
    ['on, replies in 64 KiB fragments', { threshold: 0 } as DeflateOptions, 'permessage-deflate', 64 * 1024],
    ['off, replies in 64 KiB fragments', false as const, '', 64 * 1024],
  ])('the browser’s WebSocket: 1 MiB binary and text messages echoed intact, permessage-deflate %s', async (_name, deflate, extensions, fragmentSize) => {
    const received: Array<{ type: string; bytes: number; sha256: string }> = [];
    const views: Array<{ compressed: boolean; close: CloseResult }> = [];
    const { port } = await startServer({
      onHttpRequest: serveEchoPage,
      perMessageDeflate: deflate,
      async handler(ws: Ws) {
        let messages = 0;
        for await (const message of ws) {
          messages++;
          const bytes = message.type === 'text' ? Buffer.from(message.data, 'utf8') : message.data;
          received.push({ type: message.type, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
          await ws.send(message.data, fragmentSize > 0 ? { fragmentSize } : undefined);
        }
        // The page's own socket sends nothing; only the test's socket is the server's view here.
        if (messages > 0) views.push({ compressed: ws.deflateAgreement !== null, close: await ws.closed });
      },
    });
    const page = await chromium.newPage();
    await page.goto(`http://${HOST}:${port}/`);
    const result = (await page.evaluate(`(${LARGE_ECHO})(${JSON.stringify({ size: MiB })})`)) as LargeEchoResult;

    expect(result.extensions).toBe(extensions);
    expect(result.results.map((r) => r.name)).toEqual([
      'random binary, one at a time',
      'random text, one at a time',
      'zeros, one at a time',
      'random binary, all at once',
      'random text, all at once',
      'zeros, all at once',
    ]);
    for (const { name, sent, echo } of result.results) {
      expect(sent.bytes, name).toBe(MiB);
      expect(echo, name).toEqual(sent);
    }
    // The server received exactly what the page sent, in order.
    expect(received).toEqual(result.results.map((r) => r.sent));
    // The browser sees the server's answer (the code, no reason); the server saw the page's close.
    expect(result.close).toEqual({ code: 1000, reason: '', wasClean: true });
    await expect.poll(() => views.length).toBe(1);
    expect(views).toEqual([{ compressed: deflate !== false, close: { code: 1000, reason: 'large echo done', wasClean: true } }]);
  });
});
