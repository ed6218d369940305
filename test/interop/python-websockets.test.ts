/**
 * Interop with python-websockets (PyPI, pinned in autobahn/requirements.txt, installed into the
 * Autobahn runner's venv by `npm run venv`): its asyncio client against our server, and our client
 * against its asyncio server (issue 10, "Interop matrix").
 */

import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect } from 'vitest';
import { hasPinned, pinnedVersions, VENV_PYTHON } from '../../autobahn/lib/venv.js';
import { cleanup, defer } from '../node/helpers.js';
import { theirClientAgainstOurServer } from './client-scenarios.js';
import { describeWithPeer, type Peer } from './peers.js';
import { Scripted, type Line } from './scripted.js';
import { ourClientAgainstTheirServer, type CloseFrame, type TheirServer } from './server-scenarios.js';

afterEach(cleanup);

const VERSION = pinnedVersions().get('websockets');
const PEER: Peer = { name: `python-websockets ${VERSION}`, install: 'npm run venv', path: hasPinned('websockets') ? VENV_PYTHON : null };
const script = (name: string): string => fileURLToPath(new URL(`python/${name}`, import.meta.url));

/** server.py: its events arrive as lines; it is told to ping or close by text commands. */
async function pythonServer(python: string, deflate: boolean): Promise<TheirServer> {
  const server = new Scripted(python, [script('server.py'), ...(deflate ? [] : ['--no-compression'])]);
  defer(() => server.end());
  const { port } = (await server.next()) as { port: number };
  const event = async (name: string): Promise<Line> => {
    const line = await server.next();
    expect(line['event']).toBe(name);
    return line;
  };
  return {
    url: `ws://127.0.0.1:${port}/echo`,
    async opened() {
      const line = await event('open');
      return { offered: String(line['offered']), extensions: String(line['extensions']) };
    },
    async pingUs(ws) {
      await ws.send(`!ping ${Buffer.from('from python').toString('hex')}`);
      const answer = await ws.recv();
      expect(answer.type === 'text' && /^pong \d+\.\d{3}$/.test(answer.data)).toBe(true);
    },
    async closeUs(ws, code, reason) {
      await ws.send(`!close ${code} ${reason}`);
    },
    async closed() {
      return ((await event('closed'))['received'] as CloseFrame | null) ?? null;
    },
  };
}

describeWithPeer(PEER, `python-websockets ${VERSION}`, (python) => {
  describe('its client -> our server', () => {
    theirClientAgainstOurServer({
      spawn: (url, deflate) => new Scripted(python, [script('client.py'), url, ...(deflate ? [] : ['--no-compression'])]),
      deflate: [true, false],
      offer: (deflate) => (deflate ? 'permessage-deflate; client_max_window_bits' : undefined),
      compressesOutgoing: true,
      sendsPings: true,
      // websockets answers a close with the code and reason it received.
      echoedReason: (reason) => reason,
    });
  });

  describe('our client -> its server', () => {
    ourClientAgainstTheirServer({
      start: (deflate) => pythonServer(python, deflate),
      echoedReason: (reason) => reason,
    });
  });
});
