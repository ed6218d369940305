/**
 * `npm run slowloris`: how long a slowloris client keeps a connection, measured from the outside.
 *
 * Two clients against three setups, all at once (about 100 s in all):
 *   clients  slowloris: sends a valid WebSocket upgrade request one byte per second, so it would
 *                       take longer than the measurement to finish it;
 *            silent:    connects and sends nothing.
 *   setups   (a) our own server, wss.listen(), default handshakeTimeout (10 s);
 *            (b) an existing http.createServer() with Node's defaults, routing 'upgrade' to
 *                wss.handleUpgrade() itself, without wss.guard(server): only Node's headersTimeout
 *                (60 s, checked every connectionsCheckingInterval, 30 s) applies, so 60-90 s;
 *            (c) the same with wss.guard(server): handshakeTimeout again, ~10 s.
 * Each probe records when the server disconnected it (FIN or RST) and the first bytes it got back,
 * and gives up after CAP_S seconds ("still connected"). Prints a Markdown table.
 */

import { createServer, type Server as HttpServer } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type Ws } from '../src/index.js';
import { upgradeRequest } from '../testkit/index.js';

const HOST = '127.0.0.1';
const CAP_S = 100;

// Padded so that, at one byte per second, it is still unfinished when the measurement stops.
const REQUEST = Buffer.from(
  upgradeRequest({
    host: HOST,
    path: '/chat',
    key: 'dGhlIHNhbXBsZSBub25jZQ==',
    headers: { 'User-Agent': 'slowloris-probe (one byte per second, never done in time)' },
  }),
  'latin1',
);
if (REQUEST.length <= CAP_S + 10) throw new Error('the slowloris request must outlast the cap');

const started = performance.now();
const log = (line: string): void => void process.stdout.write(`${line}\n`);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function echo(ws: Ws): Promise<void> {
  for await (const message of ws) await ws.send(message.data);
}

function listen(server: HttpServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve((server.address() as AddressInfo).port));
  });
}

/** An application's existing HTTP server: plain requests are its own, upgrades go to the library. */
function existingServer(wss: WebSocketServer): HttpServer {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end('plain HTTP\n');
  });
  server.on('upgrade', (request, socket, head) => void wss.handleUpgrade(request, socket, head));
  return server;
}

type ClientKind = 'slowloris (1 byte/s)' | 'silent (sends nothing)';

interface ProbeResult {
  /** Milliseconds from TCP connect until the server ended the connection; null: still connected at the cap. */
  readonly disconnectedAfter: number | null;
  /** How it ended: 'FIN', 'RST (ECONNRESET)'... */
  readonly ending: string;
  readonly received: Buffer;
  /** When the first byte from the server came, ms after connect. */
  readonly firstByteAfter: number | null;
  readonly bytesSent: number;
}

function probe(port: number, kind: ClientKind): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    const chunks: Buffer[] = [];
    let connectedAt = performance.now();
    let firstByteAt: number | null = null;
    let sent = 0;
    let writer: NodeJS.Timeout | undefined;
    let cap: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (ending: string | null): void => {
      if (done) return;
      done = true;
      clearInterval(writer);
      clearTimeout(cap);
      socket.destroy();
      resolve({
        disconnectedAfter: ending === null ? null : performance.now() - connectedAt,
        ending: ending ?? '',
        received: Buffer.concat(chunks),
        firstByteAfter: firstByteAt === null ? null : firstByteAt - connectedAt,
        bytesSent: sent,
      });
    };
    const writeByte = (): void => {
      if (sent < REQUEST.length && socket.writable) socket.write(REQUEST.subarray(sent, ++sent));
    };
    socket.on('connect', () => {
      connectedAt = performance.now();
      if (kind.startsWith('slowloris')) {
        writeByte();
        writer = setInterval(writeByte, 1000);
      }
      cap = setTimeout(finish, CAP_S * 1000, null);
    });
    socket.on('data', (chunk: Buffer) => {
      firstByteAt ??= performance.now();
      chunks.push(chunk);
    });
    // The server's FIN; a RST shows as an error instead.
    socket.on('end', () => finish('FIN'));
    socket.on('error', (error: NodeJS.ErrnoException) => finish(`RST/error (${error.code ?? error.message})`));
    socket.on('close', () => finish('closed'));
  });
}

/** "'HTTP/1.1 408 Request Timeout' at 10.0 s, then FIN", from what the probe got. */
function answered(result: ProbeResult): string {
  if (result.disconnectedAfter === null) {
    return result.received.length === 0 ? '-' : `'${statusLines(result.received)}' (but kept open)`;
  }
  if (result.received.length === 0) return `nothing, then ${result.ending}`;
  const at = result.firstByteAfter === null ? '' : ` at ${seconds(result.firstByteAfter)}`;
  return `'${statusLines(result.received)}'${at}, then ${result.ending}`;
}

/** The status line of each HTTP response received (a server might answer twice). */
function statusLines(bytes: Buffer): string {
  const text = bytes.toString('latin1');
  const lines = text.match(/HTTP\/1\.[01] \d{3}[^\r\n]*/g);
  if (lines !== null) return lines.join("' + '");
  return JSON.stringify(text.slice(0, 40));
}

interface Setup {
  readonly name: string;
  readonly expected: string;
  readonly port: number;
  readonly stop: () => Promise<unknown>;
}

async function main(): Promise<void> {
  const setups: Setup[] = [];

  const ownWss = new WebSocketServer({ handler: echo });
  const ownAddress = await ownWss.listen(0, HOST);
  setups.push({
    name: '(a) wss.listen()',
    expected: '~10 s (handshakeTimeout)',
    port: ownAddress.port,
    stop: () => ownWss.close(),
  });

  for (const guarded of [false, true]) {
    const wss = new WebSocketServer({ handler: echo });
    const server = existingServer(wss);
    if (guarded) wss.guard(server);
    const port = await listen(server);
    setups.push({
      name: guarded ? '(c) http.createServer() + wss.guard()' : '(b) http.createServer(), no guard',
      expected: guarded ? '~10 s (handshakeTimeout)' : '60-90 s (Node headersTimeout)',
      port,
      stop: () => {
        server.closeAllConnections();
        return new Promise((resolve) => server.close(resolve));
      },
    });
  }

  log(
    `slowloris: Node ${process.version}; ${setups.length} setups x 2 clients, all at once, ` +
      `each given up after ${CAP_S} s; the slowloris request is ${REQUEST.length} bytes`,
  );
  const kinds: ClientKind[] = ['slowloris (1 byte/s)', 'silent (sends nothing)'];
  const runs = setups.flatMap((setup) =>
    kinds.map(async (kind) => {
      const result = await probe(setup.port, kind);
      const when = result.disconnectedAfter === null ? `still connected after ${CAP_S} s` : seconds(result.disconnectedAfter);
      log(`  [${seconds(performance.now() - started)}] ${setup.name}, ${kind}: ${when}`);
      return { setup, kind, result };
    }),
  );
  const results = await Promise.all(runs);
  await Promise.all(setups.map((setup) => setup.stop()));

  log('');
  log('| setup | client | disconnected after | what answered | bytes the client sent | expected |');
  log('| --- | --- | --- | --- | --- | --- |');
  for (const { setup, kind, result } of results) {
    const when =
      result.disconnectedAfter === null ? `still connected after ${CAP_S} s` : seconds(result.disconnectedAfter);
    const sent = kind.startsWith('slowloris') ? `${result.bytesSent} of ${REQUEST.length}` : '0';
    log(`| ${setup.name} | ${kind} | ${when} | ${answered(result)} | ${sent} | ${setup.expected} |`);
  }
}

await main();
