/**
 * Outages, each test with a redis-server of its own: Redis hung (SIGSTOP) and back (SIGCONT); Redis
 * killed and restarted empty on the same port; and one node cut off from a Redis that the other
 * still reaches (a TCP proxy), the case where a node misses stream messages with nothing after
 * them. Meanwhile both hubs keep serving their local members; every publish that could not cross is
 * reported; appends reject with WS_ERR_UNAVAILABLE; the state goes down, then up; subscriptions
 * come back; and the stream messages a node missed are delivered to it in order once it is back.
 *
 * Every wait is on an event (a hub event, a client's message), bounded: nothing sleeps.
 */

import { afterEach, expect, it } from 'vitest';
import { WebSocketError } from 'rfc6455';
import type { BrokerMessage } from 'rfc6455/hub';
import { freshTopic } from '../../test/hub/broker-contract.js';
import { describeWithPeer } from '../../test/interop/peers.js';
import { FAST, startNode, type TestNode } from './nodes.js';
import { redisPeer, startRedis, type RedisServer } from './redis-server.js';
import { startProxy, type TcpProxy } from './tcp-proxy.js';

const renderStream = (message: BrokerMessage): string => `${message.position!.offset}:${Buffer.from(message.payload).toString()}`;

/** The code an append's rejection carries. */
async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof WebSocketError ? error.code : `not a WebSocketError: ${String(error)}`;
  }
  return 'resolved';
}

describeWithPeer(redisPeer, 'RedisBroker outages', () => {
  let servers: RedisServer[] = [];
  let proxies: TcpProxy[] = [];
  let nodes: TestNode[] = [];
  afterEach(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await Promise.all(servers.map((server) => server.stop()));
    nodes = [];
    proxies = [];
    servers = [];
  });

  async function setUp(urlOf: (server: RedisServer) => [string, string]): Promise<{ server: RedisServer; a: TestNode; b: TestNode }> {
    const server = await startRedis();
    servers.push(server);
    const [urlA, urlB] = urlOf(server);
    const [a, b] = await Promise.all([
      startNode('A', { url: urlA, ...FAST, hub: { renderStream } }),
      startNode('B', { url: urlB, ...FAST, hub: { renderStream } }),
    ]);
    nodes = [a, b];
    return { server, a, b };
  }

  it('Redis hung (SIGSTOP): local members still served, publishes reported, appends rejected; back (SIGCONT): up, resubscribed', async () => {
    const { server, a, b } = await setUp((s) => [s.url, s.url]);
    const topic = freshTopic('hung');
    const { client: a1 } = await a.client(topic);
    const { client: b1 } = await b.client(topic);
    await a.hub.append(topic, 'before');
    expect(await b1.received(1)).toEqual(['1:before']);

    server.pause();
    // An append sent now gets no answer: it is rejected after commandTimeout, as unavailable.
    expect(await rejection(a.hub.append(topic, 'lost in flight'))).toBe('WS_ERR_UNAVAILABLE');
    await Promise.all([a.event('broker', (e) => e.state === 'down'), b.event('broker', (e) => e.state === 'down')]);
    expect([a.hub.brokerState, b.hub.brokerState]).toEqual(['down', 'down']);

    // Each hub still serves its own members; what could not cross is reported, one event per publish.
    expect(a.hub.publish(topic, 'local on a').recipients).toBe(1);
    expect(a.hub.publish(topic, 'local on a, again').recipients).toBe(1);
    expect(b.hub.publish(topic, 'local on b').recipients).toBe(1);
    await a.event('unpublished', (e) => Buffer.from(e.payload).toString() === 'local on a, again');
    await b.event('unpublished');
    expect(a.events('unpublished').map((e) => [e.topic, Buffer.from(e.payload).toString(), e.isText, (e.error as WebSocketError).code])).toEqual([
      [topic, 'local on a', true, 'WS_ERR_UNAVAILABLE'],
      [topic, 'local on a, again', true, 'WS_ERR_UNAVAILABLE'],
    ]);
    expect(b.events('unpublished').map((e) => Buffer.from(e.payload).toString())).toEqual(['local on b']);
    expect(await a1.received(3)).toEqual(['1:before', 'local on a', 'local on a, again']);
    expect(await b1.received(2)).toEqual(['1:before', 'local on b']);
    expect(await rejection(a.hub.append(topic, 'while down'))).toBe('WS_ERR_UNAVAILABLE');
    expect(await rejection(b.hub.history(topic))).toBe('WS_ERR_UNAVAILABLE');

    const downs = a.events('broker').length;
    server.resume();
    await Promise.all([a.event('broker', (e) => e.state === 'up', downs), b.event('broker', (e) => e.state === 'up', downs)]);
    // Subscribed again (new connections): a publish and an append cross once more.
    a.hub.publish(topic, 'after');
    await b1.saw('after'); // messages of two nodes have no order between them: one at a time
    const next = await b.hub.append(topic, 'appended after');
    // The append that was rejected in flight may have run when Redis went on (its bytes were in
    // Redis' socket buffer): a rejection after a timeout does not say it did not happen (resend
    // with an idempotency key). If it ran, both nodes get it, in its place, without asking.
    const ran = next.position.offset === 3;
    expect(next.position.offset).toBe(ran ? 3 : 2);
    const caughtUp = ran ? ['2:lost in flight'] : [];
    expect(await b1.received(4 + caughtUp.length)).toEqual(['1:before', 'local on b', ...caughtUp, 'after', `${next.position.offset}:appended after`]);
    // On A, its own publish is delivered at once, so it has no order with A's catch-up: each kind in its order.
    const onA = await a1.received(5 + caughtUp.length);
    expect(onA.filter((t) => /^\d+:/.test(t))).toEqual(['1:before', ...caughtUp, `${next.position.offset}:appended after`]);
    expect(onA.filter((t) => !/^\d+:/.test(t))).toEqual(['local on a', 'local on a, again', 'after']);
    expect(a.events('broker').map((e) => e.state)).toEqual(['down', 'up']);
  });

  it('Redis killed and restarted empty on the same port: down, then up with new epochs; an old position is not trusted', async () => {
    const { server, a, b } = await setUp((s) => [s.url, s.url]);
    const topic = freshTopic('restart');
    const { client: a1 } = await a.client(topic);
    const { client: b1 } = await b.client(topic);
    const before = await b.hub.append(topic, 'before');
    expect(await a1.received(1)).toEqual(['1:before']);

    await server.kill();
    await Promise.all([a.event('broker', (e) => e.state === 'down'), b.event('broker', (e) => e.state === 'down')]);
    a.hub.publish(topic, 'local');
    expect(await a1.received(2)).toEqual(['1:before', 'local']);
    await a.event('unpublished');
    expect(await rejection(b.hub.append(topic, 'x'))).toBe('WS_ERR_UNAVAILABLE');

    await server.restart();
    await Promise.all([a.event('broker', (e) => e.state === 'up'), b.event('broker', (e) => e.state === 'up')]);
    // Redis lost everything: the stream starts again in a new epoch, and both nodes follow it.
    const after = await a.hub.append(topic, 'after');
    expect(after.position.offset).toBe(1);
    expect(after.position.epoch).not.toBe(before.position.epoch);
    expect(await b1.received(2)).toEqual(['1:before', '1:after']);
    b.hub.publish(topic, 'crossed');
    expect(await b1.received(3)).toEqual(['1:before', '1:after', 'crossed']);
    expect(await a1.received(4)).toEqual(['1:before', 'local', '1:after', 'crossed']);
    // A client back with a position of the lost history is told to reload.
    const { ws } = await b.client();
    expect(await b.hub.recover(ws, topic, before.position)).toMatchObject({ recovered: false, position: after.position });
  });

  it('a node cut off from Redis gets, once back, the stream messages appended meanwhile, in order, with nothing after them', async () => {
    // Node C reaches Redis through a proxy that the test cuts; B reaches it directly and appends meanwhile.
    const server = await startRedis();
    servers.push(server);
    const proxy = await startProxy(server.port);
    proxies.push(proxy);
    const [b, c] = await Promise.all([
      startNode('B', { url: server.url, ...FAST, hub: { renderStream } }),
      startNode('C', { url: proxy.url, ...FAST, hub: { renderStream } }),
    ]);
    nodes = [b, c];

    const chat = freshTopic('chat');
    const quiet = freshTopic('quiet'); // nothing appended before the cut: C only knows where it stood
    const short = freshTopic('short'); // a history of 2: what C missed is trimmed before it is back
    const { client: c1 } = await c.client(chat, quiet, short);
    await b.client(chat, quiet, short);
    await b.hub.append(chat, 'm1');
    await b.hub.append(short, 'k1', { history: { size: 2, ttl: 0 } });
    expect(await c1.received(2)).toEqual(['1:m1', '1:k1']);

    await proxy.cut();
    await c.event('broker', (e) => e.state === 'down');
    for (const text of ['m2', 'm3', 'm4']) await b.hub.append(chat, text);
    await b.hub.append(quiet, 'q1');
    for (const text of ['k2', 'k3', 'k4', 'k5', 'k6']) await b.hub.append(short, text, { history: { size: 2, ttl: 0 } });
    b.hub.publish(chat, 'a publish C will never see');
    expect(c.hub.publish(chat, 'local on c').recipients).toBe(1);

    await proxy.restore();
    await c.event('broker', (e) => e.state === 'up');
    // No new message comes: the broker reads the streams after what it last delivered.
    const texts = await c1.received(9);
    const of = (topicTexts: string[], wanted: string[]): string[] => topicTexts.filter((t) => wanted.some((w) => t.endsWith(`:${w}`) || t === w));
    expect(of(texts, ['m1', 'm2', 'm3', 'm4'])).toEqual(['1:m1', '2:m2', '3:m3', '4:m4']);
    expect(of(texts, ['q1'])).toEqual(['1:q1']);
    expect(of(texts, ['k1', 'k2', 'k3', 'k4', 'k5', 'k6'])).toEqual(['1:k1', '5:k5', '6:k6']);
    expect(texts).toContain('local on c');
    // What the short history no longer held is reported, not silently skipped.
    expect(await c.event('lost')).toMatchObject({ topic: short, from: 2, to: 4 });
    expect(c.events('lost')).toHaveLength(1);
    expect(texts).not.toContain('a publish C will never see');
    expect(c.events('unpublished').map((e) => Buffer.from(e.payload).toString())).toEqual(['local on c']);
  });
});
