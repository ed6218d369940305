/**
 * RedisPresence beyond the contract, on real time with a short lease (1 s: swept every 125 ms) and
 * a short grace period (500 ms), against a real redis-server: a node cut off from Redis (a TCP
 * proxy, as a dead node looks to the others) disappears within lease + lease / 8 + grace, and a
 * user who moved to another node first never leaves; the cut-off node keeps its own view, and once
 * back it re-joins what it holds and lets go of what left meanwhile; a node that closes hands its
 * grace periods over at once. Waits are on announcements, bounded; nothing sleeps.
 */

import { afterEach, expect, it } from 'vitest';
import { describeWithPeer } from '../../test/interop/peers.js';
import { RedisPresence, type PresenceChange, type RedisPresenceOptions } from '../src/index.js';
import { presenceNodeKeys } from '../src/keys.js';
import { FAST, waitFor } from './nodes.js';
import { redisCli, redisPeer, startRedis, type RedisServer } from './redis-server.js';
import { startProxy, type TcpProxy } from './tcp-proxy.js';

const LEASE = 1000;
const GRACE = 500;
const ana = { username: 'Ana', userId: 'ana' };
const bo = { username: 'Bo', userId: 'bo' };
const cy = { username: 'Cy', userId: 'cy' };
const dan = { username: 'Dan', userId: 'dan' };

interface Node {
  readonly presence: RedisPresence;
  readonly changes: (PresenceChange & { at: number })[];
  /** Resolves with the first change (from the `from`th on) that `match` accepts. */
  change(match: (change: PresenceChange) => boolean, ms?: number): Promise<PresenceChange & { at: number }>;
}

describeWithPeer(redisPeer, 'RedisPresence: leases, dead nodes, outages', () => {
  let servers: RedisServer[] = [];
  let proxies: TcpProxy[] = [];
  let nodes: Node[] = [];
  afterEach(async () => {
    await Promise.all(nodes.map((node) => node.presence.close()));
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await Promise.all(servers.map((server) => server.stop()));
    [servers, proxies, nodes] = [[], [], []];
  });

  async function node(url: string, options: RedisPresenceOptions = {}): Promise<Node> {
    const presence = new RedisPresence({ url, lease: LEASE, grace: GRACE, ...FAST, ...options });
    const changes: (PresenceChange & { at: number })[] = [];
    const wakers = new Set<() => void>();
    presence.onChange((change) => {
      changes.push({ ...change, at: performance.now() });
      for (const wake of [...wakers]) wake();
    });
    await presence.ready();
    const made: Node = {
      presence,
      changes,
      change: (match, ms = 10_000) =>
        waitFor(
          'a presence change',
          (wake) => {
            wakers.add(wake);
            return () => wakers.delete(wake);
          },
          () => changes.find(match),
          ms,
        ),
    };
    nodes.push(made);
    return made;
  }

  const is = (type: 'joined' | 'left', userId: string) => (change: PresenceChange) => change.type === type && change.member.userId === userId;
  const names = (changes: readonly PresenceChange[]) => changes.map((change) => `${change.type} ${change.member.userId}`);

  it('a node cut off from Redis: its users leave on the others within lease + lease/8 + grace, once; one who moved first never leaves; back, it re-joins what it holds', async () => {
    const server = await startRedis();
    servers.push(server);
    const proxy = await startProxy(server.port);
    proxies.push(proxy);
    const a = await node(proxy.url);
    const b = await node(server.url);
    await a.presence.join('lobby', ana, 'a1');
    await a.presence.join('lobby', bo, 'a2');
    // Ana's tab moves to b (a reconnect after a's crash would do the same, a little later).
    await b.presence.join('lobby', ana, 'b1');
    expect(await b.presence.members('lobby')).toEqual([ana, bo]);

    const cut = performance.now();
    await proxy.cut();
    const left = await b.change(is('left', 'bo'));
    const elapsed = left.at - cut;
    // Never before the grace period; within the bound (and a little for the round trips).
    expect(elapsed).toBeGreaterThanOrEqual(GRACE);
    expect(elapsed).toBeLessThan(LEASE + LEASE / 8 + GRACE + 1000);
    expect(await b.presence.members('lobby')).toEqual([ana]);
    expect(names(b.changes)).toEqual(['left bo']);

    // Meanwhile a keeps its own view, never rejects, and says it is down.
    expect(a.presence.state).toBe('down');
    await a.presence.join('lobby', cy, 'a3');
    await a.presence.join('lobby', dan, 'a4');
    await a.presence.leave('lobby', dan.userId, 'a4', { grace: true });
    expect(await a.presence.members('lobby')).toEqual([ana, bo, cy]);

    // Back: a new id; what it holds is joined again (bo and cy are new to the room: announced by a).
    const oldId = a.presence.nodeId;
    await proxy.restore();
    await a.presence.ready();
    await Promise.all([a.change(is('joined', 'bo')), a.change(is('joined', 'cy'))]);
    expect(a.presence.nodeId).not.toBe(oldId);
    expect(await b.presence.members('lobby')).toEqual([ana, bo, cy]);
    expect(names(a.changes.slice(0, 2))).toEqual(['joined ana', 'joined bo']);
    expect(names(a.changes.slice(2)).sort()).toEqual(['joined bo', 'joined cy']);
    // Dan joined and left while a was cut off: Redis never saw it, nobody is told.
    expect(a.changes.some((change) => change.member.userId === 'dan')).toBe(false);
    // The registry lists the two live nodes only.
    const keys = presenceNodeKeys('rfc6455');
    const alive = (await redisCli(server.port, 'zrange', keys.alive, '0', '-1')).split('\n').sort();
    expect(alive).toEqual([a.presence.nodeId, b.presence.nodeId].sort());
    expect(await redisCli(server.port, 'zcard', keys.reaping)).toBe('0');
  });

  it('a user who left while its node was cut off leaves once the node is back, after the grace period', async () => {
    const server = await startRedis();
    servers.push(server);
    const proxy = await startProxy(server.port);
    proxies.push(proxy);
    // A long lease: b does not reap a during this short outage; a reaps its own old id when back.
    const a = await node(proxy.url, { lease: 60_000 });
    const b = await node(server.url, { lease: 60_000 });
    await a.presence.join('garden', ana, 'a1');
    await a.presence.join('garden', bo, 'a2');
    await proxy.cut();
    await a.presence.leave('garden', bo.userId, 'a2', { grace: true });
    const back = performance.now();
    await proxy.restore();
    const left = await a.change(is('left', 'bo'));
    expect(left.at - back).toBeGreaterThanOrEqual(GRACE - 50);
    expect(await b.presence.members('garden')).toEqual([ana]);
    expect(names(a.changes)).toEqual(['joined ana', 'joined bo', 'left bo']);
    expect(names(b.changes)).toEqual([]);
  });

  it('a node that closes releases its lease: another node finishes its grace periods at once, not a lease later', async () => {
    const server = await startRedis();
    servers.push(server);
    const a = await node(server.url, { lease: 60_000 });
    const b = await node(server.url, { lease: 60_000 });
    await a.presence.join('hall', ana, 'a1');
    await a.presence.leave('hall', ana.userId, 'a1', { grace: true });
    const closed = performance.now();
    await a.presence.close();
    // b sweeps every 60_000 / 8 ms: too slow for this test, so this b sweeps on a lease of its own.
    const c = await node(server.url, { lease: 400 });
    const left = await c.change(is('left', 'ana'));
    expect(left.at - closed).toBeLessThan(GRACE + 2000);
    expect(await b.presence.members('hall')).toEqual([]);
  });
});
