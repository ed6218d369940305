/**
 * Several chat servers, one chat, through a real Redis (issue 16): two `npm run chat -- --redis URL`
 * processes with clients on each. Messages, rooms, user lists, /ws/stats' presence and recovery
 * cross between them; a clientId resent to the other server is not posted twice; one instance
 * SIGKILLed and its users leave the other's user lists within the presence bound (measured, with
 * the default lease and grace); Redis stopped (SIGSTOP) for a few seconds while both keep serving
 * their own clients, then back with the gap filled and every message that could not cross reported;
 * the same chat over a three-node Redis Cluster. Every process is stopped by its PID.
 */

import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeWithPeer } from '../../test/interop/peers.js';
import { redisPeer, startCluster, startRedis, type RedisClusterProcesses, type RedisServer } from '../../redis/test/redis-server.js';
import { cleanup, connectClient, type ChatClient, type Received } from './helpers.js';
import { pollHttp, startChatProcess, type ChatProcess } from './processes.js';

afterEach(cleanup);

const users = (list: Received) => (list.data!['users'] as { userId: string }[]).map((user) => user.userId);

/** Connects `name` to `chat` (room `general` unless said) and waits for its user list. */
async function join(chat: ChatProcess, name: string, query: { room?: string; since?: string } = {}): Promise<{ client: ChatClient; list: Received }> {
  const client = await connectClient(chat.url, { username: name, userId: name, ...query });
  return { client, list: await client.nextOf('user_list') };
}

/** The next envelope `match` accepts (those before it are skipped), bounded. */
async function nextMatching(client: ChatClient, match: (envelope: Received) => boolean, ms = 20_000): Promise<Received> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`nothing matching within ${ms} ms; received ${JSON.stringify(client.received.map((m) => [m.type, m.content]))}`)), ms);
  });
  try {
    for (;;) {
      const envelope = await Promise.race([client.next(), timeout]);
      if (match(envelope)) return envelope;
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves once `client` knows `userId` is in `room`: a user_joined, or a user_list naming it (a
 * server whose broker had not subscribed the room yet when the notice went out sends its list again).
 */
async function learns(client: ChatClient, room: string, userId: string): Promise<Received> {
  const knows = (m: Received): boolean =>
    m.room === room && ((m.type === 'user_joined' && m.data!['userId'] === userId) || (m.type === 'user_list' && users(m).includes(userId)));
  return client.received.find(knows) ?? (await nextMatching(client, knows));
}

async function presenceOf(chat: ChatProcess): Promise<unknown> {
  return ((await (await fetch(`${chat.http}/ws/stats`)).json()) as { presence: unknown }).presence;
}

describeWithPeer(redisPeer, 'two chat servers on one Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('messages, rooms, user lists, /ws/stats presence and recovery cross between them; a resent clientId is not posted twice', async () => {
    const a = await startChatProcess(['--port', '0', '--host', '127.0.0.1', '--redis', redis.url]);
    const b = await startChatProcess(['--port', '0', '--host', '127.0.0.1', '--redis', redis.url]);
    const { client: ana } = await join(a, 'ana');
    const { client: bo, list } = await join(b, 'bo');
    expect(users(list)).toEqual(['ana', 'bo']);
    await learns(ana, 'general', 'bo');

    // A message from a server's client reaches the other's, with the same id, the sender's copy first.
    ana.send({ type: 'chat', content: 'hello from a', clientId: 'm1' });
    const mine = await ana.nextOf('chat');
    const theirs = await bo.nextOf('chat');
    expect(theirs).toEqual(mine);
    expect(mine.id).toMatch(/^[a-z0-9]+-1$/);

    // Rooms: Bo joins a room on b where Cy (on a) is; both user lists agree.
    const { client: cy } = await join(a, 'cy', { room: 'garden' });
    bo.send({ type: 'join', room: 'garden' });
    const gardenOnB = await bo.nextOf('user_list');
    expect([gardenOnB.room, users(gardenOnB)]).toEqual(['garden', ['cy', 'bo']]);
    await learns(cy, 'garden', 'bo');
    cy.send({ type: 'join', room: 'garden' });
    expect(users(await cy.nextOf('user_list'))).toEqual(['cy', 'bo']);
    bo.send({ type: 'chat', room: 'garden', content: 'in the garden' });
    expect((await cy.nextOf('chat')).content).toBe('in the garden');

    // active_users and the user lists agree, the same answer on both servers.
    const overviewA = await presenceOf(a);
    expect(await presenceOf(b)).toEqual(overviewA);
    expect(overviewA).toEqual({ users: 3, rooms: { garden: 2, general: 2 } });

    // The same clientId again, from Ana's second tab on the other server: not posted again; that tab gets the original.
    const { client: anaOnB } = await join(b, 'ana');
    anaOnB.send({ type: 'chat', content: 'hello from a (resent)', clientId: 'm1' });
    expect(await anaOnB.nextOf('chat')).toEqual(mine);
    await bo.sync();
    expect(bo.received.filter((m) => m.type === 'chat' && m.room === 'general')).toEqual([theirs]);
    await anaOnB.close();

    // Recovery across servers: Ana leaves a, misses two messages, comes back to b with `since`.
    await ana.close();
    bo.send({ type: 'chat', content: 'missed 1' });
    bo.send({ type: 'chat', content: 'missed 2' });
    await bo.nextOf('chat');
    await bo.nextOf('chat');
    const back = await connectClient(b.url, { username: 'ana', userId: 'ana', since: mine.id });
    await back.nextOf('user_list');
    const missed = [await back.next(), await back.next(), await back.next()];
    expect(missed.map((m) => [m.type, m.content])).toEqual([
      ['chat', 'missed 1'],
      ['chat', 'missed 2'],
      ['system', 'recovered 2 missed messages'],
    ]);
    expect(missed[2]!.data).toEqual({ room: 'general', recovered: true });
    // Back within the grace period, on the other server: nobody saw Ana leave.
    await bo.sync();
    expect(bo.received.filter((m) => m.type === 'user_left')).toEqual([]);
  });

  it('an instance SIGKILLed: its users leave the other instance’s user lists within the presence bound (default lease and grace)', async () => {
    const a = await startChatProcess(['--port', '0', '--host', '127.0.0.1', '--redis', redis.url]);
    const b = await startChatProcess(['--port', '0', '--host', '127.0.0.1', '--redis', redis.url]);
    await join(a, 'dan', { room: 'lobby' });
    await join(a, 'eve', { room: 'lobby' });
    const { client: watcher, list } = await join(b, 'fay', { room: 'lobby' });
    expect(users(list)).toEqual(['dan', 'eve', 'fay']);

    const killed = performance.now();
    a.kill('SIGKILL');
    await a.exited;
    const left = [await watcher.nextOf('user_left'), await watcher.nextOf('user_left')];
    const elapsed = performance.now() - killed;
    expect(left.map((m) => (m.data as { userId: string }).userId).sort()).toEqual(['dan', 'eve']);
    // The bound: lease (8 s) + a sweep (1 s) + grace (5 s) = 14 s, under the 15 s.
    console.info(`presence bound: the users of a SIGKILLed instance left the other's user lists ${(elapsed / 1000).toFixed(2)} s after the kill`);
    expect(elapsed).toBeGreaterThan(5000);
    expect(elapsed).toBeLessThan(15_000);
    watcher.send({ type: 'join', room: 'lobby' });
    expect(users(await watcher.nextOf('user_list'))).toEqual(['fay']);
    expect(await presenceOf(b)).toEqual({ users: 1, rooms: { lobby: 1 } });
  }, 40_000);

  it('Redis stopped a few seconds: each instance serves its own clients, says degraded, reports what could not cross; back: the gap filled, presence converged', async () => {
    const a = await startChatProcess(['--port', '0', '--host', '127.0.0.1', '--redis', redis.url]);
    const b = await startChatProcess(['--port', '0', '--host', '127.0.0.1', '--redis', redis.url]);
    const room = 'outage';
    const { client: gus } = await join(a, 'gus', { room });
    const { client: hal } = await join(a, 'hal', { room });
    const { client: ivy } = await join(b, 'ivy', { room });
    await learns(gus, room, 'ivy');
    gus.send({ type: 'chat', content: 'before' });
    const before = await ivy.nextOf('chat');
    await hal.nextOf('chat');

    redis.pause();
    const downFrom = [a.lines.length, b.lines.length];
    // In flight when Redis stopped: no answer, then unavailable (Redis may still run it: it is in its buffer).
    gus.send({ type: 'chat', content: 'in flight', clientId: 'f1' });
    await Promise.all([a.line((l) => l['event'] === 'degraded', downFrom[0]), b.line((l) => l['event'] === 'degraded', downFrom[1])]);
    expect((await pollHttp(a.http, '/readyz', (_status, body) => body.startsWith('degraded'))).status).toBe(200);
    expect((await pollHttp(b.http, '/readyz', (_status, body) => body.startsWith('degraded'))).status).toBe(200);
    const inFlight = await gus.nextOf('error');
    expect(inFlight.data).toEqual({ code: 'unavailable', clientId: 'f1' });

    // Meanwhile each serves its own clients: a local room works, and each sender is told.
    hal.send({ type: 'chat', content: 'local on a', clientId: 'l1' });
    const localOnA = await gus.nextOf('chat');
    expect([localOnA.content, localOnA.from, localOnA.data, localOnA.id]).toEqual(['local on a', 'hal', { clientId: 'l1', local: true }, expect.stringMatching(/^[a-z0-9]+\.\d+$/)]);
    expect((await hal.nextOf('error')).data).toEqual({ code: 'unavailable', clientId: 'l1' });
    ivy.send({ type: 'chat', content: 'local on b' });
    expect((await ivy.nextOf('error')).data).toEqual({ code: 'unavailable' });
    ivy.send({ type: 'heartbeat' });
    await ivy.nextOf('heartbeat');
    // A newcomer on a during the outage: served, with a's own view of the room.
    const { client: jo, list } = await join(a, 'jo', { room });
    expect(users(list)).toEqual(['gus', 'hal', 'jo']);

    const upFrom = [a.lines.length, b.lines.length];
    redis.resume();
    await Promise.all([a.line((l) => l['event'] === 'recovered', upFrom[0]), b.line((l) => l['event'] === 'recovered', upFrom[1])]);
    // The message in flight had reached Redis: delivered to every member after all, in order, with its id.
    const filled = await ivy.nextOf('chat');
    expect([filled.content, filled.id]).toEqual(['in flight', `${before.id.split('-')[0]}-2`]);
    expect((await hal.nextOf('chat')).id).toBe(filled.id);
    // Presence converged: b's members hear of the newcomer once both are back (a notice, or their
    // user list sent again when b can hear the others: pub/sub keeps nothing for a server cut off).
    const heard = await learns(ivy, room, 'jo');
    expect(heard.room).toBe(room);
    await pollHttp(a.http, '/readyz', (status, body) => status === 200 && body === 'ready\n');
    await pollHttp(b.http, '/readyz', (status, body) => status === 200 && body === 'ready\n');
    // Resent with its clientId: it was appended already, so it is not posted twice (the sender gets the original).
    expect((await gus.nextOf('chat')).id).toBe(filled.id);
    gus.send({ type: 'chat', content: 'in flight', clientId: 'f1' });
    expect((await gus.nextOf('chat')).id).toBe(filled.id);
    // Every message that could not cross was reported: counted, and told to its sender.
    const metricsA = await (await fetch(`${a.http}/metrics`)).text();
    const metricsB = await (await fetch(`${b.http}/metrics`)).text();
    expect(metricsA).toMatch(/^chat_unavailable_total\{type="chat"\} 2$/m);
    expect(metricsB).toMatch(/^chat_unavailable_total\{type="chat"\} 1$/m);
    expect(metricsA).toMatch(/^chat_degraded 0$/m);
    // After the outage, messages cross again.
    jo.send({ type: 'chat', content: 'after' });
    expect((await ivy.nextOf('chat')).content).toBe('after');
  }, 60_000);
});

describeWithPeer(redisPeer, 'two chat servers on a three-node Redis Cluster', () => {
  let cluster: RedisClusterProcesses;
  beforeAll(async () => {
    cluster = await startCluster(3);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('messages, rooms, user lists and recovery cross between them', async () => {
    const args = ['--port', '0', '--host', '127.0.0.1', '--redis-cluster', cluster.urls.join(',')];
    const a = await startChatProcess(args);
    const b = await startChatProcess(args);
    // Rooms on every shard: their keys hash to different slots.
    for (const room of ['general', 'garden', 'attic', 'cellar']) {
      const { client: kim } = await join(a, `kim-${room}`, { room });
      const { client: lou, list } = await join(b, `lou-${room}`, { room });
      expect(users(list)).toEqual([`kim-${room}`, `lou-${room}`]);
      await learns(kim, room, `lou-${room}`);
      kim.send({ type: 'chat', content: `hi ${room}` });
      const sent = await kim.nextOf('chat');
      expect(await lou.nextOf('chat')).toEqual(sent);
      await kim.close();
      lou.send({ type: 'chat', content: `missed in ${room}` });
      await lou.nextOf('chat');
      const back = await connectClient(b.url, { username: `kim-${room}`, userId: `kim-${room}`, room, since: sent.id });
      await back.nextOf('user_list');
      expect((await back.next()).content).toBe(`missed in ${room}`);
      expect((await back.next()).data).toEqual({ room, recovered: true });
    }
    expect(await presenceOf(a)).toEqual(await presenceOf(b));
  }, 60_000);
});
