/**
 * Abuse limits per client address (issue 15): handshakes a second (429 with Retry-After) and open
 * connections (429). Raw requests, exact responses; time is a faked performance.now().
 */

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Admission, addressKey, resolveLimits } from '../../src/node/limits.js';
import type { RefusedHandshake } from '../../src/node/server-options.js';
import { HOST, cleanup, echoHandler, openRawClient, startServer, until, upgradeRequest, type HttpHead, type RawClient } from './helpers.js';
import type { IncomingMessage } from 'node:http';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['performance'] });
});
afterEach(async () => {
  vi.useRealTimers();
  await cleanup();
});

interface Answer extends HttpHead {
  readonly client: RawClient;
  readonly body: string;
}

async function handshake(port: number, headers: Record<string, string> = {}): Promise<Answer> {
  const client = await openRawClient(port);
  client.send(Buffer.from(upgradeRequest({ headers: { Host: `${HOST}:${port}`, ...headers } }), 'latin1'));
  const head = await client.responseHead();
  if (head.status !== 101) await client.closed;
  return { ...head, client, body: client.body.toString('utf8') };
}

describe('handshakeRate', () => {
  it('over the rate: 429 with Retry-After, exactly; the next second admits again', async () => {
    const refused: RefusedHandshake[] = [];
    const server = await startServer({ handler: echoHandler, limits: { handshakeRate: { perSecond: 2, burst: 2 } }, onRefused: (r) => refused.push(r) });
    expect((await handshake(server.port)).status).toBe(101);
    expect((await handshake(server.port)).status).toBe(101);
    const third = await handshake(server.port);
    expect(third.statusLine).toBe('HTTP/1.1 429 Too Many Requests');
    expect(third.headers).toEqual({
      'retry-after': '1',
      connection: 'close',
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String('too many handshakes from this address\n'.length),
    });
    expect(third.body).toBe('too many handshakes from this address\n');
    expect(refused.map((r) => [r.status, r.code])).toEqual([[429, 'WS_ERR_HANDSHAKE_RATE_LIMITED']]);
    vi.advanceTimersByTime(500); // 2 a second: one token back
    expect((await handshake(server.port)).status).toBe(101);
    expect((await handshake(server.port)).status).toBe(429);
  });

  it('Retry-After says how many whole seconds until a handshake would pass', async () => {
    const server = await startServer({ handler: echoHandler, limits: { handshakeRate: { perSecond: 0.2, burst: 1 } } });
    expect((await handshake(server.port)).status).toBe(101);
    expect((await handshake(server.port)).headers['retry-after']).toBe('5');
    vi.advanceTimersByTime(2500);
    expect((await handshake(server.port)).headers['retry-after']).toBe('3');
  });
});

describe('connectionsPerAddress', () => {
  it('over the count: 429; a connection that closes makes room', async () => {
    const refused: RefusedHandshake[] = [];
    const server = await startServer({ handler: echoHandler, limits: { connectionsPerAddress: 2 }, onRefused: (r) => refused.push(r) });
    const first = await handshake(server.port);
    expect(first.status).toBe(101);
    expect((await handshake(server.port)).status).toBe(101);
    const third = await handshake(server.port);
    expect(third.statusLine).toBe('HTTP/1.1 429 Too Many Requests');
    expect(third.body).toBe('too many connections from this address\n');
    expect(third.headers['retry-after']).toBeUndefined();
    expect(refused.map((r) => [r.status, r.code])).toEqual([[429, 'WS_ERR_HANDSHAKE_TOO_MANY_CONNECTIONS']]);
    first.client.socket.destroy();
    await until(() => server.server.clients.size === 1, 'the server to see the first connection go');
    expect((await handshake(server.port)).status).toBe(101);
  });

  it('a refused handshake gives its slot back (a 426 is not an open connection)', async () => {
    const server = await startServer({ handler: echoHandler, limits: { connectionsPerAddress: 1 } });
    for (let i = 0; i < 3; i++) expect((await handshake(server.port, { 'Sec-WebSocket-Version': '8' })).status).toBe(426);
    expect((await handshake(server.port)).status).toBe(101);
  });

  it('clientAddress decides what an address is (behind a proxy, from its header)', async () => {
    const server = await startServer({
      handler: echoHandler,
      limits: { connectionsPerAddress: 1, clientAddress: (request) => String(request.headers['x-forwarded-for']) },
    });
    expect((await handshake(server.port, { 'X-Forwarded-For': '203.0.113.1' })).status).toBe(101);
    expect((await handshake(server.port, { 'X-Forwarded-For': '203.0.113.2' })).status).toBe(101);
    expect((await handshake(server.port, { 'X-Forwarded-For': '203.0.113.1' })).status).toBe(429);
  });
});

describe('Admission', () => {
  function request(address: string): IncomingMessage {
    return { socket: { remoteAddress: address }, headers: {} } as unknown as IncomingMessage;
  }

  it('forgets addresses that are idle again, so memory follows the addresses active lately', () => {
    const admission = new Admission(resolveLimits({ handshakeRate: { perSecond: 1, burst: 1 } })!);
    for (let i = 0; i < 5000; i++) admission.admit(request(`10.0.${i >> 8}.${i & 255}`), 0);
    // All 5,000 were active this second: forgetting one would give it a fresh burst.
    expect(admission.size).toBe(5000);
    // A second later their buckets are full again: a sweep, when the map has doubled, drops them.
    for (let i = 0; i < 5000; i++) admission.admit(request(`10.1.${i >> 8}.${i & 255}`), 1000 + i / 1000);
    expect(admission.size).toBe(5000);
    expect(() => admission.admit(request('10.1.0.0'), 1000.5)).toThrow(expect.objectContaining({ status: 429 }));
    expect(() => admission.admit(request('10.0.0.0'), 1000.5)).not.toThrow();
  });

  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
  ])('addressKey(%s) is %s: IPv6 by its /64', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });
});
