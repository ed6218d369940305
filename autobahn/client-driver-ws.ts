/**
 * `npm run autobahn:client -- --driver ws`: the same cases run by the `ws` package's client (a dev
 * dependency), for comparison: the grades of a widely used client on the same fuzzing server. Not
 * the client under test; CI runs client-driver.ts.
 */

import WebSocket from 'ws';
import { drive, type VisitFn } from './lib/driver.js';

const MAX_PAYLOAD = 64 * 1024 * 1024;
// ws 8.23's client fails a message of more than 16,384 fragments with 1008, so 9.3.1 and 9.4.1
// (4 MiB in 64-byte fragments: 65,536) would fail on that limit rather than on the protocol; our
// connections allow 131,072 (maxFragments), and so does ws here.
const MAX_FRAGMENTS = 131_072;

const visit: VisitFn = (url, echo, received, signal) =>
  new Promise((resolvePromise, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: true, maxPayload: MAX_PAYLOAD, maxFragments: MAX_FRAGMENTS });
    const texts: string[] = [];
    let opened = false;
    let lastError: Error | undefined;
    signal.addEventListener('abort', () => ws.terminate(), { once: true });
    ws.on('open', () => (opened = true));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      received();
      if (echo) ws.send(data, { binary: isBinary });
      else if (!isBinary) texts.push(data.toString());
    });
    // ws emits 'error' when it fails the connection (bad UTF-8, a protocol error): the case's point.
    ws.on('error', (error) => (lastError = error));
    ws.on('close', (code) => {
      if (opened) resolvePromise({ texts, code });
      else reject(lastError ?? new Error(`connection to ${url} closed before it opened`));
    });
  });

await drive('ws', visit);
