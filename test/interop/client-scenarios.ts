/**
 * The matrix of issue 10 for a peer's client (python-websockets and Node's built-in
 * WebSocket) against our server: text, binary, compressible text, 16 MiB of random bytes and more
 * traffic after it, with and without permessage-deflate; ping/pong; close codes and reasons both ways.
 * (ws's client runs the same commands in-process, test/interop/ws-driver.ts.)
 */

import { describe, expect, it } from 'vitest';
import { ourEchoServer, type OurConnection, type OurEchoServer } from './our-server.js';
import { BINARY_HEX, COMPRESSIBLE, SIXTEEN_MIB, UNICODE_TEXT, sha256, type ClientDriver } from './scripted.js';

export interface ClientPeer {
  /** Starts the peer's client, connecting to `url`, offering permessage-deflate or not. */
  spawn(url: string, deflate: boolean): ClientDriver;
  /** Runs with our server's permessage-deflate on and off (and the peer's, where it has a setting). */
  readonly deflate: readonly boolean[];
  /** Its exact Sec-WebSocket-Extensions header when told to offer compression or not (undefined: none). */
  readonly offer: (deflate: boolean) => string | undefined;
  /**
   * The largest compressed message it accepts, if below 16 MiB: the big random message is then this
   * size with compression, and one byte more must fail the connection.
   */
  readonly maxInflated?: number;
  /** Whether it compresses what it sends once permessage-deflate is agreed. */
  readonly compressesOutgoing: boolean;
  /** Whether its API can send a ping (the browser API cannot). */
  readonly sendsPings: boolean;
  /** The reason it puts in the close frame that answers ours (RFC 6455 5.5.1 leaves it open). */
  readonly echoedReason: (reason: string) => string;
}

const KIB = 1024;

async function open(peer: ClientPeer, deflate: boolean): Promise<{ server: OurEchoServer; client: ClientDriver; ours: OurConnection }> {
  const server = await ourEchoServer(deflate);
  const client = peer.spawn(server.url, deflate);
  const opened = await client.next();
  expect(opened['ok']).toBe('open');
  const ours = await server.connections.next();
  expect(ours.offered).toBe(peer.offer(deflate));
  if (deflate) {
    // Both ends agree: what the peer saw in our 101, and what our side negotiated.
    expect(opened['extensions']).toMatch(/^permessage-deflate(;|$)/);
    expect(ours.ws.extensions).toBe(opened['extensions']);
    expect(ours.ws.deflateAgreement).not.toBeNull();
  } else {
    expect(opened['extensions']).toBe('');
    expect(ours.ws.deflateAgreement).toBeNull();
  }
  return { server, client, ours };
}

/** One message from the peer, echoed by us, checked on both sides. */
async function roundTrip(server: OurEchoServer, client: ClientDriver, command: Record<string, unknown>, expected: Record<string, unknown>): Promise<void> {
  const sent = await client.request(command);
  expect(sent['ok']).toBe('sent');
  const received = await server.received.next();
  expect(received).toMatchObject(expected);
  const echoed = await client.request({ op: 'recv' });
  expect(echoed).toMatchObject({ ok: 'message', ...expected });
}

export function theirClientAgainstOurServer(peer: ClientPeer): void {
  for (const deflate of peer.deflate) {
    describe(deflate ? 'with permessage-deflate' : 'without compression', () => {
      it('text, binary, 256 KiB of compressible text, 16 MiB of random bytes, then more traffic', async () => {
        const { server, client, ours } = await open(peer, deflate);
        await roundTrip(server, client, { op: 'text', data: UNICODE_TEXT }, { type: 'text', data: UNICODE_TEXT });
        const binary = Buffer.from(BINARY_HEX, 'hex');
        await roundTrip(server, client, { op: 'binary', hex: BINARY_HEX }, { type: 'binary', size: 6, sha256: sha256(binary), hex: BINARY_HEX });

        // 256 KiB that deflate shrinks ~100 times: the socket's byte counts show whether each
        // direction was compressed.
        const size = COMPRESSIBLE.data.length * COMPRESSIBLE.repeat;
        const [read, written] = [ours.socket.bytesRead, ours.socket.bytesWritten];
        const expected = { type: 'text', size, sha256: sha256(COMPRESSIBLE.data.repeat(COMPRESSIBLE.repeat)) };
        await roundTrip(server, client, { op: 'text', ...COMPRESSIBLE }, expected);
        const inbound = ours.socket.bytesRead - read;
        const outbound = ours.socket.bytesWritten - written;
        if (deflate && peer.compressesOutgoing) expect(inbound).toBeLessThan(16 * KIB);
        else expect(inbound).toBeGreaterThan(size);
        if (deflate) expect(outbound).toBeLessThan(16 * KIB);
        else expect(outbound).toBeGreaterThan(size);

        // 16 MiB of random bytes (incompressible: deflate must pass it through intact), each way.
        const big = deflate ? Math.min(SIXTEEN_MIB, peer.maxInflated ?? SIXTEEN_MIB) : SIXTEEN_MIB;
        const random = await client.request({ op: 'random', size: big });
        expect(random).toMatchObject({ ok: 'sent', size: big });
        expect(await server.received.next()).toEqual({ type: 'binary', size: big, sha256: random['sha256'] });
        expect(await client.request({ op: 'recv' })).toEqual({ ok: 'message', type: 'binary', size: big, sha256: random['sha256'] });

        // The connection goes on after it.
        await roundTrip(server, client, { op: 'text', data: 'after 16 MiB' }, { type: 'text', data: 'after 16 MiB' });
        await roundTrip(server, client, { op: 'binary', hex: '0102' }, { type: 'binary', size: 2 });
        await client.request({ op: 'close', code: 1000, reason: 'done' });
        expect(await ours.ws.closed).toEqual({ code: 1000, reason: 'done', wasClean: true });
        expect(await client.end()).toBe(0);
      });
    });
  }

  const maxInflated = peer.maxInflated;
  if (maxInflated !== undefined && peer.deflate.includes(true)) {
    it(`a compressed message over the peer's limit (${maxInflated} bytes) fails the connection, as the peer decides`, async () => {
      const { client, ours } = await open(peer, true);
      // The peer drops TCP without a close frame: 1006 at both ends.
      const sent = ours.ws.send(Buffer.alloc(maxInflated + 1, 7)).catch(() => undefined);
      expect(await client.request({ op: 'recv' })).toMatchObject({ ok: 'closed', received: { code: 1006 } });
      await sent;
      expect(await ours.ws.closed).toMatchObject({ code: 1006, wasClean: false });
      await client.end();
    });
  }

  it('ping/pong: our ping() resolves with the round trip when the peer answers' + (peer.sendsPings ? ', and we answer its ping' : ''), async () => {
    const { client, ours } = await open(peer, peer.deflate[0]!);
    const rtt = await ours.ws.ping('from rfc6455');
    expect(Number.isFinite(rtt) && rtt >= 0).toBe(true);
    if (peer.sendsPings) {
      const pong = await client.request({ op: 'ping', hex: Buffer.from('from the peer').toString('hex') });
      expect(pong['ok']).toBe('pong');
      expect(pong['latency']).toBeGreaterThanOrEqual(0);
    }
    // Still a working connection after the control frames.
    expect(await client.request({ op: 'text', data: 'still here' })).toEqual({ ok: 'sent' });
    expect(await client.request({ op: 'recv' })).toEqual({ ok: 'message', type: 'text', data: 'still here' });
    await client.end();
  });

  it('the peer closes with a code and a reason: we see both, and echo the code', async () => {
    const { client, ours } = await open(peer, peer.deflate[0]!);
    const closed = await client.request({ op: 'close', code: 4001, reason: 'client bye ✓' });
    expect(closed).toMatchObject({ ok: 'closed', received: { code: 4001, reason: '' } });
    expect(await ours.ws.closed).toEqual({ code: 4001, reason: 'client bye ✓', wasClean: true });
    expect(await client.end()).toBe(0);
  });

  it('we close with a code and a reason: the peer sees both', async () => {
    const { client, ours } = await open(peer, peer.deflate[0]!);
    const result = ours.ws.close(4002, 'server bye ✓');
    const closed = await client.request({ op: 'wait_closed' });
    expect(closed).toMatchObject({ ok: 'closed', received: { code: 4002, reason: 'server bye ✓' } });
    expect(await result).toEqual({ code: 4002, reason: peer.echoedReason('server bye ✓'), wasClean: true });
    expect(await client.end()).toBe(0);
  });
}
