/**
 * The chat load generator's Socket.IO client (bench/lib/chat-wire.ts) against the real socket.io
 * server of the benchmark (bench/servers/chat-socketio.ts), in this process: Engine.IO's open
 * packet, the namespace connect, the join and its acknowledgment, chat messages to the room and
 * to the room only, the sender's own copy, and the heartbeat (the server's pings answered, so the
 * server keeps the users past several ping timeouts; a client that does not answer is dropped).
 */

import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectUser, type ChatListener, type ChatUser } from '../../bench/lib/chat-wire.js';
import { startSocketIoChat, type SocketIoChat } from '../../bench/servers/chat-socketio.js';
import { FrameCollector, OP, clientHandshake, makeKeyPool, maskedFrame } from '../../testkit/index.js';

const HOST = '127.0.0.1';
const PING_INTERVAL = 50;
const PING_TIMEOUT = 100;

interface Received {
  readonly receiver: number;
  readonly sender: number;
  readonly latencyMs: number;
}

describe('the chat generator speaking Socket.IO to socket.io 4.8', () => {
  let chat: SocketIoChat;
  const disconnects: string[] = [];
  const users: ChatUser[] = [];
  const received: Received[] = [];
  const failures: unknown[] = [];
  const listener: ChatListener = {
    chat(receiver, sender, sentUs, readAt) {
      received.push({ receiver: receiver.index, sender, latencyMs: readAt - sentUs / 1000 });
    },
    fail(error) {
      failures.push(error);
    },
  };
  const keys = makeKeyPool(8);

  beforeEach(async () => {
    chat = await startSocketIoChat(HOST, { pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT });
    chat.io.on('connection', (socket) => socket.on('disconnect', (reason) => disconnects.push(reason)));
  });

  afterEach(async () => {
    for (const user of users.splice(0)) {
      user.closing = true;
      user.socket.destroy();
    }
    await chat.close();
    received.length = 0;
    failures.length = 0;
    disconnects.length = 0;
  });

  const spec = (): { host: string; port: number; protocol: 'socketio'; contentSize: number } => ({
    host: HOST,
    port: chat.port,
    protocol: 'socketio',
    contentSize: 64,
  });

  async function join(index: number, room: number): Promise<ChatUser> {
    const user = await connectUser(spec(), keys[index]!, index, room, `room-${room}`, listener);
    users.push(user);
    return user;
  }

  it('connects to the namespace, joins a room (acknowledged) and reads the open packet', async () => {
    const user = await join(0, 0);
    expect(user.heartbeat).toEqual({ interval: PING_INTERVAL, timeout: PING_TIMEOUT });
    const [socket] = await chat.io.fetchSockets();
    expect(socket?.handshake.query['username']).toBe('u0');
    expect([...(socket?.rooms ?? [])]).toContain('room-0');
    expect(chat.io.sockets.adapter.rooms.get('room-0')?.size).toBe(1);
  });

  it("delivers a chat to every member of the sender's room, the sender's own copy included, and to no other room", async () => {
    const [a, b] = [await join(0, 0), await join(1, 0)];
    const c = await join(2, 1);
    a.send(Math.round(performance.now() * 1000));
    c.send(Math.round(performance.now() * 1000));
    // Each server writes a socket's messages in order: once a second message from each sender has
    // come back to it, anything misrouted from the first would have arrived before.
    await expect.poll(() => received.length).toBe(3);
    a.send(Math.round(performance.now() * 1000));
    c.send(Math.round(performance.now() * 1000));
    await expect.poll(() => received.length).toBe(6);
    const pairs = received.map((r) => `${r.sender}->${r.receiver}`).sort();
    expect(pairs).toEqual(['0->0', '0->0', '0->1', '0->1', '2->2', '2->2']);
    expect([a.received, b.received, c.received]).toEqual([2, 2, 2]);
    for (const r of received) {
      expect(r.latencyMs).toBeGreaterThanOrEqual(0);
      expect(r.latencyMs).toBeLessThan(10_000);
    }
    expect(failures).toEqual([]);
  });

  it("answers the server's pings, so the server keeps the users past several ping timeouts", async () => {
    const joined = [await join(0, 0), await join(1, 0), await join(2, 1)];
    // The server pings every 50 ms and drops a client whose pong does not come within 100 ms: four
    // pings answered by each (the fourth about 200 ms in) outlast the first one's deadline.
    await expect.poll(() => Math.min(...joined.map((user) => user.pings)), { timeout: 5000 }).toBeGreaterThanOrEqual(4);
    expect(disconnects).toEqual([]);
    expect(chat.io.engine.clientsCount).toBe(3);
    // And the users still chat.
    joined[0]!.send(Math.round(performance.now() * 1000));
    await expect.poll(() => received.length).toBe(2);
    expect(failures).toEqual([]);
  });

  it('(control) a client that never answers the pings is dropped: the server does enforce the heartbeat', async () => {
    const key = keys[7]!;
    const socket = connect({ host: HOST, port: chat.port });
    await new Promise((resolve) => socket.once('connect', resolve));
    const response = await clientHandshake(socket, {
      host: `${HOST}:${chat.port}`,
      key: key.key,
      path: '/socket.io/?EIO=4&transport=websocket&username=silent&userId=silent',
    });
    const texts: string[] = [];
    const collector = new FrameCollector((frame) => {
      if (frame.opcode !== OP.TEXT) return;
      const text = frame.payload.toString('utf8');
      texts.push(text);
      if (text.startsWith('0{')) socket.write(maskedFrame(OP.TEXT, '40'));
    });
    collector.push(response.rest);
    socket.on('data', (chunk) => collector.push(chunk));
    socket.resume();
    await expect.poll(() => disconnects, { timeout: 5000 }).toEqual(['ping timeout']);
    socket.destroy();
    expect(texts[0]).toMatch(/^0\{"sid":/);
    expect(texts[1]).toMatch(/^40\{"sid":/);
    expect(texts).toContain('2');
  });
});
