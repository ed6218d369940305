/**
 * Interop with Node's built-in WebSocket (undici), in a child process on the Node that runs the
 * tests: behind --experimental-websocket on Node 20, a global without a flag from Node 22 (issue 10,
 * "Interop matrix"). It is a client only, with the browser's API: it cannot send pings, and offers
 * permessage-deflate (`permessage-deflate; client_max_window_bits`) without an option to turn it off.
 */

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { cleanup } from '../node/helpers.js';
import { theirClientAgainstOurServer } from './client-scenarios.js';
import { describeWithPeer } from './peers.js';
import { Scripted } from './scripted.js';

afterEach(cleanup);

const MAJOR = Number(process.versions.node.split('.')[0]);
const FLAGS = MAJOR < 22 ? ['--experimental-websocket'] : [];
const SCRIPT = fileURLToPath(new URL('undici-client.mjs', import.meta.url));

const probe = spawnSync(process.execPath, [...FLAGS, '-e', 'process.exit(typeof WebSocket === "function" ? 0 : 1)'], { timeout: 30_000 });
const PEER = {
  name: `Node ${process.versions.node}'s built-in WebSocket`,
  install: 'Node 20.10 or later (the global WebSocket needs --experimental-websocket before Node 22)',
  path: probe.status === 0 ? process.execPath : null,
};
// undici 6.24 and 7.24 (the fix of CVE-2026-1526; Node 20.20) cap an inflated message at 4 MiB and
// drop the connection past it (nodejs/undici#4899); later versions (Node 22.23, 24.22) take 16 MiB.
const UNDICI = process.versions.undici ?? '';
const MAX_INFLATED = /^[67]\.24\./.test(UNDICI) ? 4 * 1024 * 1024 : undefined;
const spawnClient = (url: string): Scripted => new Scripted(process.execPath, [...FLAGS, SCRIPT, url]);

describeWithPeer(PEER, `Node ${process.versions.node} WebSocket (undici ${process.versions.undici}) -> our server`, () => {
  theirClientAgainstOurServer({
    // Its only setting: it always offers permessage-deflate, so "off" is our server declining it.
    spawn: (url) => spawnClient(url),
    deflate: [true, false],
    offer: () => 'permessage-deflate; client_max_window_bits',
    ...(MAX_INFLATED === undefined ? {} : { maxInflated: MAX_INFLATED }),
    compressesOutgoing: false,
    sendsPings: false,
    echoedReason: () => '',
  });
});
