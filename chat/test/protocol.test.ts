/**
 * The wire protocol as a running server speaks it (chat/README.md, "The wire protocol"): every
 * client type (chat, notification, heartbeat, join, leave), every server type, every key of the
 * envelope, and every error code, each to the client that caused it only, with the connection
 * still working afterwards.
 */

import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, connectClient, startChat, type ChatClient, type Received } from './helpers.js';

afterEach(cleanup);

const STREAM_ID = /^([a-z0-9]+)-([0-9]+)$/;
const OWN_ID = /^[a-z0-9]+\.[0-9]+$/;

function offsetOf(envelope: Received): number {
  const match = STREAM_ID.exec(envelope.id);
  if (match === null) throw new Error(`not a stream id: ${envelope.id}`);
  return Number(match[2]);
}

/** Two users in `general`, each having seen the other arrive. */
async function twoUsers(url: string): Promise<{ ana: ChatClient; bo: ChatClient }> {
  const ana = await connectClient(url, { username: 'Ana', userId: 'ana-1' });
  await ana.nextOf('user_list');
  const bo = await connectClient(url, { username: 'Bo', userId: 'bo-1' });
  await bo.nextOf('user_list');
  await ana.nextOf('user_joined');
  return { ana, bo };
}

describe('connecting', () => {
  it('joins the room of the query (default general) and gets its user_list, naming the joiner; every key is present', async () => {
    const { url } = await startChat();
    const ana = await connectClient(url, { username: 'Ana', userId: 'ana-1' });
    const list = await ana.next();
    expect(Object.keys(list)).toEqual(['id', 'type', 'content', 'from', 'timestamp', 'data', 'room']);
    expect(list).toMatchObject({ type: 'user_list', content: '', from: 'system', room: 'general', data: { users: [{ username: 'Ana', userId: 'ana-1' }] } });
    expect(list.id).toMatch(OWN_ID);
    const other = await connectClient(url, { username: 'Cy', userId: 'cy', room: 'kitchen' });
    expect(await other.next()).toMatchObject({ type: 'user_list', room: 'kitchen', data: { users: [{ username: 'Cy', userId: 'cy' }] } });
  });

  it('user_joined to the members already there (not to the joiner), with { username, userId }', async () => {
    const { url } = await startChat();
    const { ana, bo } = await twoUsers(url);
    const joined = ana.received.find((m) => m.type === 'user_joined')!;
    expect(joined).toMatchObject({ type: 'user_joined', content: 'Bo joined', from: 'system', room: 'general', data: { username: 'Bo', userId: 'bo-1' } });
    expect(joined.id).toMatch(OWN_ID);
    expect(bo.received.map((m) => m.type)).toEqual(['user_list']);
    expect(bo.received[0]!.data).toEqual({ users: [{ username: 'Ana', userId: 'ana-1' }, { username: 'Bo', userId: 'bo-1' }] });
  });
});

describe('chat', () => {
  it('goes to every member, the sender included (its acknowledgment), with the id <epoch>-<offset> growing by one, the sender, a timestamp in ms', async () => {
    const { url } = await startChat();
    const { ana, bo } = await twoUsers(url);
    const before = Date.now();
    ana.send({ type: 'chat', content: 'hello', timestamp: 1 });
    ana.send({ type: 'chat', content: 'how are you?' });
    const mine = [await ana.nextOf('chat'), await ana.nextOf('chat')];
    const theirs = [await bo.nextOf('chat'), await bo.nextOf('chat')];
    const after = Date.now();
    expect(theirs).toEqual(mine);
    const [first, second] = mine as [Received, Received];
    expect(first).toMatchObject({ type: 'chat', content: 'hello', from: 'Ana', data: null, room: 'general' });
    expect(Object.keys(first)).toEqual(['id', 'type', 'content', 'from', 'timestamp', 'data', 'room']);
    expect(first.timestamp).toBeGreaterThanOrEqual(before);
    expect(first.timestamp).toBeLessThanOrEqual(after);
    expect(STREAM_ID.exec(first.id)![1]).toBe(STREAM_ID.exec(second.id)![1]);
    expect(offsetOf(first)).toBe(1);
    expect(offsetOf(second)).toBe(2);
  });

  it('goes to its room only; `room` names another room the connection joined', async () => {
    const { url } = await startChat();
    const { ana, bo } = await twoUsers(url);
    const cy = await connectClient(url, { username: 'Cy', userId: 'cy', room: 'kitchen' });
    await cy.nextOf('user_list');
    ana.send({ type: 'join', room: 'kitchen' });
    await ana.nextOf('user_list');
    ana.send({ type: 'chat', content: 'in the kitchen', room: 'kitchen' });
    const inKitchen = await cy.nextOf('chat');
    expect(inKitchen).toMatchObject({ content: 'in the kitchen', from: 'Ana', room: 'kitchen' });
    expect(offsetOf(inKitchen)).toBe(1);
    expect((await ana.nextOf('chat')).room).toBe('kitchen');
    await bo.sync();
    expect(bo.received.filter((m) => m.type === 'chat')).toEqual([]);
  });

  it('a clientId is repeated in data; a second send with it is dropped for the others and the sender gets the original again', async () => {
    const { url, chat } = await startChat();
    const { ana, bo } = await twoUsers(url);
    ana.send({ type: 'chat', content: 'once', clientId: 'c-1' });
    const original = await ana.nextOf('chat');
    expect(original.data).toEqual({ clientId: 'c-1' });
    ana.send({ type: 'chat', content: 'once (resent)', clientId: 'c-1' });
    expect(await ana.nextOf('chat')).toEqual(original);
    // Another user may use the same clientId: keys are per user.
    bo.send({ type: 'chat', content: 'mine', clientId: 'c-1' });
    await bo.nextOf('chat');
    const seen = (await bo.nextOf('chat')).content;
    await bo.sync();
    expect([original.content, seen]).toEqual(['once', 'mine']);
    expect(bo.received.filter((m) => m.type === 'chat').map((m) => [m.content, offsetOf(m)])).toEqual([
      ['once', 1],
      ['mine', 2],
    ]);
    expect(chat.stats().messages_received).toBe(2);
    expect(chat.stats().dropped).toEqual({ duplicate: 1 });
  });
});

describe('notification', () => {
  it('is sent like a chat by a user with the notify right (a JWT with rights: ["notify"])', async () => {
    const secret = 'a-test-secret-of-at-least-32-bytes!!';
    const { url } = await startChat({ auth: 'jwt', jwtSecret: secret });
    const token = await new SignJWT({ name: 'Admin', rights: ['notify'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('admin-1').setExpirationTime('1h').sign(new TextEncoder().encode(secret));
    const admin = await connectClient(url, { query: { token } });
    await admin.nextOf('user_list');
    admin.send({ type: 'notification', content: 'maintenance at 18:00' });
    const notice = await admin.nextOf('notification');
    expect(notice).toMatchObject({ type: 'notification', content: 'maintenance at 18:00', from: 'Admin', data: null, room: 'general' });
    expect(offsetOf(notice)).toBe(1);
  });
});

describe('heartbeat', () => {
  it('is answered to that client only, room null', async () => {
    const { url } = await startChat();
    const { ana, bo } = await twoUsers(url);
    ana.send({ type: 'heartbeat', timestamp: 5 });
    const answer = await ana.nextOf('heartbeat');
    expect(answer).toMatchObject({ type: 'heartbeat', content: '', from: 'system', data: null, room: null });
    expect(answer.id).toMatch(OWN_ID);
    await bo.sync();
    expect(bo.received.filter((m) => m.type === 'heartbeat')).toHaveLength(1); // its own sync only
  });
});

describe('join and leave', () => {
  it('join answers the room user_list and tells its members user_joined; join again answers the list again', async () => {
    const { url } = await startChat();
    const { ana, bo } = await twoUsers(url);
    bo.send({ type: 'join', room: 'garden' });
    expect(await bo.nextOf('user_list')).toMatchObject({ room: 'garden', data: { users: [{ username: 'Bo', userId: 'bo-1' }] } });
    ana.send({ type: 'join', room: 'garden' });
    expect(await ana.nextOf('user_list')).toMatchObject({
      room: 'garden',
      data: { users: [{ username: 'Bo', userId: 'bo-1' }, { username: 'Ana', userId: 'ana-1' }] },
    });
    expect(await bo.nextOf('user_joined')).toMatchObject({ room: 'garden', data: { username: 'Ana', userId: 'ana-1' } });
    ana.send({ type: 'join', room: 'garden' });
    expect((await ana.nextOf('user_list')).room).toBe('garden');
    await bo.sync();
    expect(bo.received.filter((m) => m.type === 'user_joined')).toHaveLength(1);
  });

  it('leave takes effect at once (no grace period): user_left to the members, no more messages of the room', async () => {
    const { url } = await startChat({ presenceGrace: 60_000 });
    const { ana, bo } = await twoUsers(url);
    bo.send({ type: 'leave', room: 'general' });
    expect(await ana.nextOf('user_left')).toMatchObject({ type: 'user_left', content: 'Bo left', from: 'system', room: 'general', data: { username: 'Bo', userId: 'bo-1' } });
    ana.send({ type: 'chat', content: 'anyone?' });
    await ana.nextOf('chat');
    await bo.sync();
    expect(bo.received.filter((m) => m.type === 'chat' || m.type === 'user_left')).toEqual([]);
    // Its first room left, a chat without a room is refused.
    bo.send({ type: 'chat', content: 'hello?' });
    expect((await bo.nextOf('error')).data).toEqual({ code: 'not_a_member' });
  });

  it('leave by one of a user’s two connections tells nobody; by the last, user_left', async () => {
    const { url } = await startChat({ presenceGrace: 60_000 });
    const { ana, bo } = await twoUsers(url);
    const boTab2 = await connectClient(url, { username: 'Bo', userId: 'bo-1' });
    await boTab2.nextOf('user_list');
    boTab2.send({ type: 'leave', room: 'general' });
    await boTab2.sync();
    await ana.sync();
    expect(ana.received.filter((m) => m.type === 'user_left' || m.type === 'user_joined').map((m) => m.type)).toEqual(['user_joined']);
    bo.send({ type: 'leave', room: 'general' });
    expect((await ana.nextOf('user_left')).data).toEqual({ username: 'Bo', userId: 'bo-1' });
  });
});

describe('errors: to that client only, the connection stays', () => {
  async function expectError(client: ChatClient, other: ChatClient, message: string | Buffer, data: Record<string, unknown>, room: string | null = null): Promise<Received> {
    if (Buffer.isBuffer(message)) client.ws.send(message);
    else client.send(message);
    const error = await client.nextOf('error');
    expect(Object.keys(error)).toEqual(['id', 'type', 'content', 'from', 'timestamp', 'data', 'room']);
    expect(error).toMatchObject({ type: 'error', from: 'system', data, room });
    expect(error.id).toMatch(OWN_ID);
    expect(typeof error.content).toBe('string');
    // Still connected and answering; the other member got nothing of it.
    await client.sync();
    await other.sync();
    expect(other.received.filter((m) => m.type === 'error')).toEqual([]);
    return error;
  }

  it('invalid_json: text that is not JSON, and binary messages', async () => {
    const { url } = await startChat();
    const { ana, bo } = await twoUsers(url);
    expect((await expectError(ana, bo, '{"type": "chat", ', { code: 'invalid_json' })).content).toBe('the message is not JSON');
    await expectError(ana, bo, Buffer.from('{"type":"chat","content":"x"}'), { code: 'invalid_json' });
  });

  it.each([['[]'], ['42'], ['null'], ['"chat"'], ['{}'], ['{"type":"shout"}'], ['{"type":7}']])('unknown_type: %s', async (message) => {
    const { url } = await startChat();
    const { ana, bo } = await twoUsers(url);
    await expectError(ana, bo, message, { code: 'unknown_type' });
  });

  it.each([
    ['a chat without content', { type: 'chat' }, 'content'],
    ['a chat with empty content', { type: 'chat', content: '' }, 'content'],
    ['a chat whose content is not a string', { type: 'chat', content: 12 }, 'content'],
    ['a chat whose room is not a room name', { type: 'chat', content: 'x', room: 'a b' }, 'room'],
    ['a chat with a clientId of 65 characters', { type: 'chat', content: 'x', clientId: 'c'.repeat(65) }, 'clientId'],
    ['a chat with a clientId that is not a string', { type: 'chat', content: 'x', clientId: 5 }, 'clientId'],
    ['a join without room', { type: 'join' }, 'room'],
    ['a join whose since is not an id', { type: 'join', room: 'r', since: 'yesterday' }, 'since'],
    ['a leave without room', { type: 'leave' }, 'room'],
  ])('missing_field: %s', async (_name, message, field) => {
    const { url } = await startChat();
    const { ana, bo } = await twoUsers(url);
    await expectError(ana, bo, JSON.stringify(message), { code: 'missing_field', field });
  });

  it('too_large: content over 4,096 characters (a surrogate pair is one); exactly 4,096 is sent', async () => {
    const { url } = await startChat();
    const { ana, bo } = await twoUsers(url);
    await expectError(ana, bo, JSON.stringify({ type: 'chat', content: 'x'.repeat(4097) }), { code: 'too_large', field: 'content' });
    const emoji = '\u{1F600}'.repeat(4096); // 8,192 UTF-16 units, 4,096 characters
    ana.send({ type: 'chat', content: emoji });
    expect((await bo.nextOf('chat')).content).toBe(emoji);
    await expectError(ana, bo, JSON.stringify({ type: 'chat', content: `${emoji}!` }), { code: 'too_large', field: 'content' });
  });

  it('a message larger than the hard cap (maxPayload) closes the connection with 1009', async () => {
    const { url } = await startChat();
    const { ana } = await twoUsers(url);
    ana.send(JSON.stringify({ type: 'chat', content: 'x'.repeat(4096 * 12 + 4096) }));
    expect((await ana.closed).code).toBe(1009);
  });

  it('not_a_member: a chat to a room not joined, a leave of a room not joined', async () => {
    const { url } = await startChat();
    const { ana, bo } = await twoUsers(url);
    await expectError(ana, bo, JSON.stringify({ type: 'chat', content: 'x', room: 'elsewhere' }), { code: 'not_a_member' }, 'elsewhere');
    await expectError(ana, bo, JSON.stringify({ type: 'leave', room: 'elsewhere' }), { code: 'not_a_member' }, 'elsewhere');
  });

  it('forbidden: a notification without the notify right; a join past maxRooms', async () => {
    const { url } = await startChat({ maxRooms: 2 });
    const { ana, bo } = await twoUsers(url);
    await expectError(ana, bo, JSON.stringify({ type: 'notification', content: 'all hands' }), { code: 'forbidden' }, 'general');
    ana.send({ type: 'join', room: 'second' });
    await ana.nextOf('user_list');
    await expectError(ana, bo, JSON.stringify({ type: 'join', room: 'third' }), { code: 'forbidden' }, 'third');
  });
});
