/**
 * The documented deployment, run: chat/deploy/haproxy.cfg (Debian's haproxy, in the foreground, on
 * a free port, the servers' addresses from the environment) in front of two chat servers on one
 * Redis. Clients connect through haproxy only, from distinct loopback addresses: they land on both
 * servers, the servers see their addresses through X-Forwarded-For (--trust-proxy), and messages,
 * rooms and presence cross; then one server drains (SIGTERM) and its clients, reconnecting through
 * haproxy, are served by the other. Every process is stopped by its PID.
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeWithPeer, executablePeer } from '../../test/interop/peers.js';
import { freePort, redisPeer, startRedis, type RedisServer } from '../../redis/test/redis-server.js';
import { HOST, cleanup, connectClient, defer, type ChatClient } from './helpers.js';
import { pollHttp, startChatProcess, type ChatProcess } from './processes.js';

afterEach(cleanup);

const CONFIG = fileURLToPath(new URL('../deploy/haproxy.cfg', import.meta.url));
const haproxyPeer = executablePeer('haproxy', 'apt-get install haproxy', ['/usr/sbin/haproxy', '/usr/bin/haproxy']);

/** Starts haproxy -db (foreground) with the repository's config; resolves once it answers /readyz from a server. */
async function startHaproxy(path: string, servers: readonly ChatProcess[]): Promise<{ base: string; url: string }> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, CHAT_FRONTEND: `${HOST}:${port}` };
  servers.forEach((server, i) => (env[`CHAT_SERVER_${i + 1}`] = `${HOST}:${server.port}`));
  const child = spawn(path, ['-db', '-f', CONFIG], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
  const base = `http://${HOST}:${port}`;
  await pollHttp(base, '/readyz', (status) => status === 200).catch((error: unknown) => {
    throw new Error(`haproxy did not come up: ${String(error)}\n${stderr}`);
  });
  return { base, url: `ws://${HOST}:${port}/ws` };
}

describeWithPeer(haproxyPeer, 'two chat servers behind haproxy (chat/deploy/haproxy.cfg)', (haproxy) => {
  describeWithPeer(redisPeer, 'on one Redis', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('clients through haproxy reach both servers, with their own addresses; messages, rooms and presence cross; a drained server’s clients come back to the other', async () => {
      const args = ['--port', '0', '--host', HOST, '--redis', redis.url, '--trust-proxy', HOST, '--drain-deadline', '500'];
      const servers = [await startChatProcess(args), await startChatProcess(args)];
      const proxy = await startHaproxy(haproxy, servers);

      // Four clients, each from a loopback address of its own, through haproxy.
      const clients: { name: string; client: ChatClient; server: ChatProcess }[] = [];
      for (let i = 0; i < 4; i++) {
        const name = `p${i}`;
        const client = await connectClient(proxy.url, { username: name, userId: name, room: 'lobby', localAddress: `127.0.0.${i + 2}` });
        await client.nextOf('user_list');
        const found = await Promise.race(
          servers.map((server) => server.line((line) => line['event'] === 'connected' && line['userId'] === name).then((line) => ({ server, line }))),
        );
        // The server saw the client's own address (X-Forwarded-For, believed from the trusted proxy), not haproxy's.
        expect(found.line['address']).toBe(`127.0.0.${i + 2}`);
        clients.push({ name, client, server: found.server });
      }
      const [first, second] = servers as [ChatProcess, ChatProcess];
      const onFirst = clients.filter((c) => c.server === first);
      const onSecond = clients.filter((c) => c.server === second);
      expect([onFirst.length, onSecond.length]).toEqual([2, 2]);

      // A message crosses; the user lists agree (a join answers the room's list again).
      onFirst[0]!.client.send({ type: 'chat', content: 'through haproxy' });
      expect((await onSecond[0]!.client.nextOf('chat')).content).toBe('through haproxy');
      const lists = await Promise.all(
        [onFirst[1]!, onSecond[1]!].map(async ({ client }) => {
          client.send({ type: 'join', room: 'lobby' });
          let list;
          do list = await client.nextOf('user_list');
          while ((list.data!['users'] as unknown[]).length < 4);
          return list.data;
        }),
      );
      expect(lists[0]).toEqual(lists[1]);
      // Rooms: a room joined on one server, a message from the other.
      onFirst[1]!.client.send({ type: 'join', room: 'side' });
      onSecond[1]!.client.send({ type: 'join', room: 'side' });
      await onFirst[1]!.client.nextOf('user_list');
      await onSecond[1]!.client.nextOf('user_list');
      onSecond[1]!.client.send({ type: 'chat', room: 'side', content: 'in the side room' });
      expect((await onFirst[1]!.client.nextOf('chat')).content).toBe('in the side room');

      // The first server drains (SIGTERM): its clients get 1012; reconnecting through haproxy, the second serves them.
      first.kill('SIGTERM');
      for (const { client } of onFirst) expect((await client.closed).code).toBe(1012);
      await first.exited;
      for (const { name } of onFirst) {
        const back = await connectClient(proxy.url, { username: name, userId: name, room: 'lobby' });
        const list = await back.nextOf('user_list');
        expect((list.data!['users'] as { userId: string }[]).map((user) => user.userId).sort()).toEqual(['p0', 'p1', 'p2', 'p3']);
        await second.line((line) => line['event'] === 'connected' && line['userId'] === name);
      }
      // Within their grace period: the others never saw them leave.
      await onSecond[0]!.client.sync();
      expect(onSecond[0]!.client.received.filter((m) => m.type === 'user_left')).toEqual([]);
    }, 60_000);
  });
});
