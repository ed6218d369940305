/**
 * The matrix of issue 10 for our client (`connect()`) against a peer's echo server (python-websockets,
 * ws): text, binary, compressible text, 16 MiB of random bytes and more traffic after it, with and
 * without permessage-deflate; ping/pong both ways; close codes and reasons both ways.
 */

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { connect, type Message, type Ws } from '../../src/index.js';
import { defer } from '../node/helpers.js';
import { BINARY_HEX, COMPRESSIBLE, SIXTEEN_MIB, UNICODE_TEXT } from './scripted.js';

export interface CloseFrame {
  readonly code: number;
  readonly reason: string;
}

/** One of their servers, started for one test. */
export interface TheirServer {
  readonly url: string;
  /** The next connection's handshake, as the server saw it. */
  opened(): Promise<{ readonly offered: string; readonly extensions: string }>;
  /** Makes the server ping our client; resolves once it has the pong. */
  pingUs(ws: Ws): Promise<void>;
  /** Makes the server close our connection with this code and reason. */
  closeUs(ws: Ws, code: number, reason: string): Promise<void>;
  /** The close frame the server received on the next connection to end (null: none). */
  closed(): Promise<CloseFrame | null>;
  /** Bytes its side of the connection has read and written so far, where the peer can tell. */
  readonly wire?: () => { readonly read: number; readonly written: number };
}

export interface ServerPeer {
  /** Starts their echo server (with permessage-deflate enabled or not); stopped after the test. */
  start(deflate: boolean): Promise<TheirServer>;
  /** The reason their close frame carries when it answers ours. */
  readonly echoedReason: (reason: string) => string;
}

const KIB = 1024;

async function dial(peer: ServerPeer, deflate: boolean): Promise<{ server: TheirServer; ws: Ws }> {
  const server = await peer.start(deflate);
  const ws = await connect(server.url, { perMessageDeflate: deflate });
  defer(() => ws.terminate());
  const opened = await server.opened();
  if (deflate) {
    expect(opened.offered).toMatch(/^permessage-deflate(;|$)/);
    expect(opened.extensions).toMatch(/^permessage-deflate(;|$)/);
    expect(ws.extensions).toBe(opened.extensions);
    expect(ws.deflateAgreement).not.toBeNull();
  } else {
    expect(opened).toEqual({ offered: '', extensions: '' });
    expect(ws.deflateAgreement).toBeNull();
  }
  return { server, ws };
}

async function echo(ws: Ws, data: string | Buffer): Promise<Message> {
  await ws.send(data);
  return ws.recv();
}

function expectBinary(message: Message, bytes: Buffer): void {
  expect(message.type).toBe('binary');
  // Buffer.equals, not toEqual: a 16 MiB diff would be unreadable, and this is exact.
  expect(message.type === 'binary' && message.data.length === bytes.length && message.data.equals(bytes)).toBe(true);
}

export function ourClientAgainstTheirServer(peer: ServerPeer): void {
  for (const deflate of [true, false]) {
    describe(deflate ? 'with permessage-deflate' : 'without compression', () => {
      it('text, binary, 256 KiB of compressible text, 16 MiB of random bytes, then more traffic', async () => {
        const { server, ws } = await dial(peer, deflate);
        expect(await echo(ws, UNICODE_TEXT)).toEqual({ type: 'text', data: UNICODE_TEXT });
        expectBinary(await echo(ws, Buffer.from(BINARY_HEX, 'hex')), Buffer.from(BINARY_HEX, 'hex'));

        const compressible = COMPRESSIBLE.data.repeat(COMPRESSIBLE.repeat);
        const before = server.wire?.();
        expect(await echo(ws, compressible)).toEqual({ type: 'text', data: compressible });
        if (before !== undefined) {
          const after = server.wire!();
          // Their side read our message and wrote its echo: compressed both ways, or not at all.
          for (const moved of [after.read - before.read, after.written - before.written]) {
            if (deflate) expect(moved).toBeLessThan(16 * KIB);
            else expect(moved).toBeGreaterThan(compressible.length);
          }
        }

        const random = randomBytes(SIXTEEN_MIB);
        expectBinary(await echo(ws, random), random);
        expect(await echo(ws, 'after 16 MiB')).toEqual({ type: 'text', data: 'after 16 MiB' });
        expectBinary(await echo(ws, Buffer.from([1, 2])), Buffer.from([1, 2]));

        expect(await ws.close(1000, 'done')).toEqual({ code: 1000, reason: peer.echoedReason('done'), wasClean: true });
        expect(await server.closed()).toEqual({ code: 1000, reason: 'done' });
      });
    });
  }

  it('ping/pong both ways: our ping() resolves with the round trip, and we answer theirs', async () => {
    const { server, ws } = await dial(peer, true);
    const rtt = await ws.ping('from rfc6455');
    expect(Number.isFinite(rtt) && rtt >= 0).toBe(true);
    await server.pingUs(ws);
    expect(await echo(ws, 'still here')).toEqual({ type: 'text', data: 'still here' });
    await ws.close();
  });

  it('we close with a code and a reason: the server sees both', async () => {
    const { server, ws } = await dial(peer, true);
    expect(await ws.close(4003, 'client bye ✓')).toEqual({ code: 4003, reason: peer.echoedReason('client bye ✓'), wasClean: true });
    expect(await server.closed()).toEqual({ code: 4003, reason: 'client bye ✓' });
  });

  it('the server closes with a code and a reason: we see both, and echo the code', async () => {
    const { server, ws } = await dial(peer, true);
    await server.closeUs(ws, 4004, 'server bye ✓');
    expect(await ws.closed).toEqual({ code: 4004, reason: 'server bye ✓', wasClean: true });
    expect(await server.closed()).toEqual({ code: 4004, reason: '' });
  });
}
