/**
 * Recovery (chat/README.md, "Recovery"): a client that comes back with `since=<the id of the last
 * chat or notification it saw>` gets every message it missed in that room, in order, then a
 * `system` message `{ room, recovered: true }`; when that is impossible (the history no longer
 * reaches back, the server restarted without persistent history, an id never issued) it gets
 * `recovered: false`. With `--history sqlite:FILE` recovery works across a restart.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createChatServer } from '../src/index.js';
import { HOST, cleanup, connectClient, defer, startChat, type ChatClient, type Received } from './helpers.js';

afterEach(cleanup);

const dir = mkdtempSync(join(tmpdir(), 'chat-recovery-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Sends `contents` as chats and waits for the sender's own copies. */
async function say(client: ChatClient, ...contents: string[]): Promise<Received[]> {
  const copies: Received[] = [];
  for (const content of contents) {
    client.send({ type: 'chat', content });
    copies.push(await client.nextOf('chat'));
  }
  return copies;
}

/** Reads what a returning client gets up to its recovery notice: [types and contents], notice. */
async function untilNotice(client: ChatClient): Promise<{ seen: string[]; notice: Received }> {
  const seen: string[] = [];
  for (;;) {
    const message = await client.next();
    if (message.type === 'system') return { seen, notice: message };
    seen.push(message.type === 'chat' ? `chat ${message.content} ${message.id}` : message.type);
  }
}

describe('recovery', () => {
  it('fills the gap in order: the user list, every message missed, { recovered: true }, then live messages', async () => {
    const { url } = await startChat();
    const ana = await connectClient(url, { username: 'Ana', userId: 'ana' });
    await ana.nextOf('user_list');
    const bo = await connectClient(url, { username: 'Bo', userId: 'bo' });
    await bo.nextOf('user_list');
    const [m1] = await say(ana, 'm1');
    expect(await bo.nextOf('chat')).toEqual(m1);
    await bo.close();
    // Away: m2 to m4 are sent; Bo comes back from m1, the last it saw.
    const [m2, m3, m4] = await say(ana, 'm2', 'm3', 'm4');
    const back = await connectClient(url, { username: 'Bo', userId: 'bo', since: m1!.id });
    const { seen, notice } = await untilNotice(back);
    expect(seen).toEqual(['user_list', `chat m2 ${m2!.id}`, `chat m3 ${m3!.id}`, `chat m4 ${m4!.id}`]);
    expect(notice).toMatchObject({ type: 'system', content: 'recovered 3 missed messages', from: 'system', room: 'general', data: { room: 'general', recovered: true } });
    expect(notice.id).toMatch(/^[a-z0-9]+\.[0-9]+$/);
    const [m5] = await say(ana, 'm5');
    expect(await back.nextOf('chat')).toEqual(m5);
  });

  it('an up-to-date id: recovered true, nothing missed', async () => {
    const { url } = await startChat();
    const ana = await connectClient(url, { username: 'Ana', userId: 'ana' });
    const [m1] = await say(ana, 'm1');
    const back = await connectClient(url, { username: 'Bo', userId: 'bo', since: m1!.id });
    const { seen, notice } = await untilNotice(back);
    expect(seen).toEqual(['user_list']);
    expect(notice).toMatchObject({ content: 'recovered 0 missed messages', data: { room: 'general', recovered: true } });
  });

  it('a join with since recovers that room', async () => {
    const { url } = await startChat();
    const ana = await connectClient(url, { username: 'Ana', userId: 'ana', room: 'garden' });
    const [g1, g2] = await say(ana, 'g1', 'g2');
    const bo = await connectClient(url, { username: 'Bo', userId: 'bo' });
    await bo.nextOf('user_list');
    bo.send({ type: 'join', room: 'garden', since: g1!.id });
    const { seen, notice } = await untilNotice(bo);
    expect(seen).toEqual(['user_list', `chat g2 ${g2!.id}`]);
    expect(notice.data).toEqual({ room: 'garden', recovered: true });
  });

  it('the history no longer reaches back (overflow): what is kept, then { recovered: false }', async () => {
    const { url } = await startChat({ historySize: 3 });
    const ana = await connectClient(url, { username: 'Ana', userId: 'ana' });
    const [m1] = await say(ana, 'm1');
    const [, , , m5, m6] = await say(ana, 'm2', 'm3', 'm4', 'm5', 'm6');
    const back = await connectClient(url, { username: 'Bo', userId: 'bo', since: m1!.id });
    const { seen, notice } = await untilNotice(back);
    const m4 = ana.received.find((m) => m.content === 'm4')!;
    expect(seen).toEqual(['user_list', `chat m4 ${m4.id}`, `chat m5 ${m5!.id}`, `chat m6 ${m6!.id}`]);
    expect(notice).toMatchObject({ content: 'some messages since then are no longer kept: reload', data: { room: 'general', recovered: false } });
  });

  it('an id never issued (another epoch, or an offset not reached yet): { recovered: false }, nothing replayed', async () => {
    const { url } = await startChat();
    const ana = await connectClient(url, { username: 'Ana', userId: 'ana' });
    const [m1] = await say(ana, 'm1');
    const epoch = m1!.id.split('-')[0]!;
    for (const since of ['zzzzzzzz-1', `${epoch}-99`]) {
      const back = await connectClient(url, { username: 'Bo', userId: 'bo', since });
      const { seen, notice } = await untilNotice(back);
      expect(seen).toEqual(['user_list']);
      expect(notice.data).toEqual({ room: 'general', recovered: false });
      await back.close();
    }
  });

  it('after a restart without persistent history: { recovered: false } (the epoch changed), new ids in a new epoch', async () => {
    const first = await startChat();
    const ana = await connectClient(first.url, { username: 'Ana', userId: 'ana' });
    const [m1] = await say(ana, 'm1');
    await first.chat.close();
    const second = await startChat();
    const back = await connectClient(second.url, { username: 'Ana', userId: 'ana', since: m1!.id });
    const { seen, notice } = await untilNotice(back);
    expect(seen).toEqual(['user_list']);
    expect(notice.data).toEqual({ room: 'general', recovered: false });
    const [next] = await say(back, 'after the restart');
    expect(next!.id.split('-')[0]).not.toBe(m1!.id.split('-')[0]);
    expect(next!.id.endsWith('-1')).toBe(true);
  });

  it('with SQLite, recovery works across a restart of the server on the same file: same epoch, the gap filled, offsets go on', async () => {
    const file = join(dir, 'restart.db');
    const history = `sqlite:${file}`;
    const first = await createChatServer({ logLevel: 'silent', history });
    const { port } = await first.listen(0, HOST);
    defer(() => first.close());
    const url = `ws://${HOST}:${port}/ws`;
    const ana = await connectClient(url, { username: 'Ana', userId: 'ana' });
    const [m1, m2, m3] = await say(ana, 'm1', 'm2', 'm3');
    await first.close();
    expect((await ana.closed).code).toBe(1001);

    const second = await createChatServer({ logLevel: 'silent', history });
    const restarted = await second.listen(0, HOST);
    defer(() => second.close());
    const back = await connectClient(`ws://${HOST}:${restarted.port}/ws`, { username: 'Bo', userId: 'bo', since: m1!.id });
    const { seen, notice } = await untilNotice(back);
    expect(seen).toEqual(['user_list', `chat m2 ${m2!.id}`, `chat m3 ${m3!.id}`]);
    expect(notice.data).toEqual({ room: 'general', recovered: true });
    const [m4] = await say(back, 'm4');
    expect(m4!.id).toBe(`${m1!.id.split('-')[0]}-4`);
    // The recovered messages are byte for byte what was sent live.
    expect(back.received.filter((m) => m.type === 'chat').slice(0, 2)).toEqual([m2, m3]);
  });
});
