/**
 * `npm run chat -- --workers 2 --redis URL`: a node:cluster primary and two workers on one port,
 * one chat through Redis. Clients land on both workers (the primary hands connections out in
 * turn); messages and presence cross between them; a worker SIGKILLed by its PID: its users leave
 * the other worker's user lists within the presence bound (here a short lease and grace), and the
 * primary forks a new worker; SIGTERM to the primary drains every worker and exits 0.
 */

import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeWithPeer } from '../../test/interop/peers.js';
import { redisPeer, startRedis, type RedisServer } from '../../redis/test/redis-server.js';
import { HOST, cleanup, connectClient, type ChatClient } from './helpers.js';
import { startChatProcess } from './processes.js';

afterEach(cleanup);

const LEASE = 1000;
const GRACE = 500;

describeWithPeer(redisPeer, 'npm run chat -- --workers 2 --redis URL', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('two workers share the port and the chat; one killed: its users leave within the bound, it is forked again; SIGTERM drains all', async () => {
    const chat = await startChatProcess(
      ['--port', '0', '--host', HOST, '--redis', redis.url, '--workers', '2', '--presence-lease', String(LEASE), '--presence-grace', String(GRACE), '--drain-deadline', '500'],
      { listening: 2 },
    );
    const workers = new Set(chat.lines.filter((line) => line['event'] === 'listening').map((line) => line['pid'] as number));
    expect(workers.size).toBe(2);
    expect(workers.has(chat.pid)).toBe(false);

    // Clients until both workers have some (each worker logs its connections with its pid).
    const byWorker = new Map<number, { name: string; client: ChatClient }[]>();
    for (let i = 0; i < 12 && (byWorker.size < 2 || [...byWorker.values()].some((list) => list.length < 2)); i++) {
      const name = `u${i}`;
      const client = await connectClient(chat.url, { username: name, userId: name, room: 'w' });
      await client.nextOf('user_list');
      const pid = (await chat.line((line) => line['event'] === 'connected' && line['userId'] === name))['pid'] as number;
      byWorker.set(pid, [...(byWorker.get(pid) ?? []), { name, client }]);
    }
    expect(byWorker.size).toBe(2);
    const [[doomed, victims], [survivor, watchers]] = [...byWorker.entries()] as [[number, { name: string; client: ChatClient }[]], [number, { name: string; client: ChatClient }[]]];
    const watcher = watchers[0]!.client;

    // Messages cross between the workers.
    victims[0]!.client.send({ type: 'chat', content: 'from one worker' });
    expect((await watcher.nextOf('chat')).content).toBe('from one worker');

    // One worker SIGKILLed: its clients are cut off, its users leave the other's lists, a new worker comes.
    const from = chat.lines.length;
    const killed = performance.now();
    process.kill(doomed, 'SIGKILL');
    for (const { client } of victims) expect((await client.closed).code).toBe(1006);
    const gone = new Set(victims.map((victim) => victim.name));
    const left: string[] = [];
    while (left.length < gone.size) left.push((await watcher.nextOf('user_left')).data!['userId'] as string);
    const elapsed = performance.now() - killed;
    expect(left.sort()).toEqual([...gone].sort());
    expect(elapsed).toBeGreaterThanOrEqual(GRACE);
    expect(elapsed).toBeLessThan(LEASE + LEASE / 8 + GRACE + 2000);
    const died = await chat.line((line) => line['event'] === 'worker_died', from);
    expect(died).toMatchObject({ workerPid: doomed, signal: 'SIGKILL' });
    const relisten = await chat.line((line) => line['event'] === 'listening' && line['pid'] !== survivor && line['pid'] !== doomed, from);
    const replacement = relisten['pid'] as number;

    // The new worker serves too: clients until one lands on it, and it is in the same chat.
    let onNew: ChatClient | null = null;
    for (let i = 0; i < 12 && onNew === null; i++) {
      const name = `v${i}`;
      const client = await connectClient(chat.url, { username: name, userId: name, room: 'w' });
      await client.nextOf('user_list');
      const pid = (await chat.line((line) => line['event'] === 'connected' && line['userId'] === name))['pid'] as number;
      if (pid === replacement) onNew = client;
    }
    expect(onNew).not.toBe(null);
    onNew!.send({ type: 'chat', content: 'from the new worker' });
    expect((await watcher.nextOf('chat')).content).toBe('from the new worker');

    // SIGTERM to the primary: every worker drains (1012), then the primary exits 0.
    const stopFrom = chat.lines.length;
    chat.kill('SIGTERM');
    expect((await watcher.closed).code).toBe(1012);
    expect(await chat.exited).toBe(0);
    expect(chat.lines.slice(stopFrom).filter((line) => line['event'] === 'worker_stopped')).toHaveLength(2);
  }, 60_000);
});
