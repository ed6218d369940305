/**
 * The chat load generator speaking the chat's own protocol (issue 15, seed 004's envelope), until
 * the chat itself is in this tree: against a stand-in written here on `ws`, which does what the
 * issue says the chat does with what the generator sends (the room from the query, `user_list` to
 * the joiner and `user_joined` to the others, each `chat` to every member of the room, the sender
 * included, an `error` to the sender only). The chat smoke test runs the real one once it lands.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { connectUser, type ChatListener, type ChatUser } from '../../bench/lib/chat-wire.js';
import { makeKeyPool, maskedFrame, OP } from '../../testkit/index.js';

const HOST = '127.0.0.1';

interface StandIn {
  readonly port: number;
  close(): Promise<void>;
}

/** `fromFirst`: the envelope's keys in another order, `from` (of varying length) before `content`. */
async function startStandIn(fromFirst: boolean): Promise<StandIn> {
  const server = new WebSocketServer({ host: HOST, port: 0, path: '/ws' });
  const rooms = new Map<string, Set<WebSocket>>();
  let offset = 0;
  const envelope = (type: string, content: string, from: string, room: string | null, data: unknown = null): string =>
    JSON.stringify(
      fromFirst
        ? { from, type, room, content, timestamp: Date.now(), id: `e-${++offset}`, data }
        : { type, content, from, timestamp: Date.now(), id: `e-${++offset}`, data, room },
    );
  server.on('connection', (ws, request) => {
    const query = new URL(request.url!, 'http://x').searchParams;
    const username = query.get('username')!;
    const room = query.get('room') ?? 'general';
    const members = rooms.get(room) ?? new Set();
    rooms.set(room, members);
    for (const member of members) member.send(envelope('user_joined', '', 'system', room, { username, userId: username }));
    members.add(ws);
    ws.send(envelope('user_list', '', 'system', room, { users: [...members].map(() => ({ username })) }));
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; content: string };
      if (message.type !== 'chat') return void ws.send(envelope('error', 'unknown type', 'system', null, { code: 'unknown_type' }));
      for (const member of members) member.send(envelope('chat', message.content, username, room));
    });
    ws.on('close', () => members.delete(ws));
  });
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe("the chat generator speaking the chat's protocol", () => {
  const keys = makeKeyPool(16);
  const users: ChatUser[] = [];
  const received: string[] = [];
  const failures: string[] = [];
  const listener: ChatListener = {
    chat: (receiver, sender, sentUs, readAt) => {
      expect(readAt - sentUs / 1000).toBeGreaterThanOrEqual(0);
      received.push(`${sender}->${receiver.index}`);
    },
    fail: (error) => void failures.push(String(error)),
  };
  let standIn: StandIn | null = null;

  afterEach(async () => {
    for (const user of users.splice(0)) {
      user.closing = true;
      user.socket.destroy();
    }
    await standIn?.close();
    received.length = 0;
    failures.length = 0;
  });

  it.each([false, true])(
    "joins by the query's room (user_list), and reads every chat of its room, the sender's own copy included (from first: %s)",
    async (fromFirst) => {
      standIn = await startStandIn(fromFirst);
      const spec = { host: HOST, port: standIn.port, protocol: 'ws' as const, contentSize: 64 };
      // Users 9 and 10: usernames of two lengths, so `content` moves when `from` comes first.
      for (const [index, room] of [[9, 0], [10, 0], [2, 1]] as const) {
        users.push(await connectUser(spec, keys[index]!, index, room, `room-${room}`, listener));
      }
      const [a, b, c] = users as [ChatUser, ChatUser, ChatUser];
      a.send(Math.round(performance.now() * 1000));
      b.send(Math.round(performance.now() * 1000));
      c.send(Math.round(performance.now() * 1000));
      await expect.poll(() => received.length).toBe(5);
      expect(received.sort()).toEqual(['10->10', '10->9', '2->2', '9->10', '9->9']);
      expect(failures).toEqual([]);
    },
  );

  it('fails the run on an error envelope', async () => {
    standIn = await startStandIn(false);
    const spec = { host: HOST, port: standIn.port, protocol: 'ws' as const, contentSize: 64 };
    const user = await connectUser(spec, keys[0]!, 0, 0, 'room-0', listener);
    users.push(user);
    user.socket.write(maskedFrame(OP.TEXT, '{"type":"nonsense"}'));
    await expect.poll(() => failures.length).toBe(1);
    expect(failures[0]).toMatch(/the server answered an error: .*unknown_type/);
  });
});
