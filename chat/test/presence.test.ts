/**
 * Presence per user through the running server: two tabs of one user are one user_joined and one
 * user_left; a user who drops and comes back within the grace period (default 5 s) causes neither.
 * The grace period runs on fake timers (setTimeout only; sockets stay real).
 */

import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChatServer } from '../src/index.js';
import { cleanup, connectClient, startChat, type ChatClient } from './helpers.js';

afterEach(cleanup);

/** Waits (turn by turn, no timer) until the server has `count` open connections. */
async function connectionsAre(chat: ChatServer, count: number): Promise<void> {
  for (let turn = 0; chat.stats().current_connections !== count; turn++) {
    if (turn > 100_000) throw new Error(`never ${count} connections`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function presenceOf(client: ChatClient): string[] {
  return client.received.filter((m) => m.type === 'user_joined' || m.type === 'user_left').map((m) => `${m.type} ${m.data!['userId'] as string}`);
}

describe('presence per user', () => {
  it('two tabs of one user: one user_joined, and one user_left once both are gone (after the grace period)', async () => {
    const { url, chat } = await startChat();
    const ana = await connectClient(url, { username: 'Ana', userId: 'ana' });
    await ana.nextOf('user_list');
    const tab1 = await connectClient(url, { username: 'Bo', userId: 'bo' });
    await tab1.nextOf('user_list');
    const tab2 = await connectClient(url, { username: 'Bo', userId: 'bo' });
    expect((await tab2.nextOf('user_list')).data).toEqual({ users: [{ username: 'Ana', userId: 'ana' }, { username: 'Bo', userId: 'bo' }] });
    await ana.sync();
    expect(presenceOf(ana)).toEqual(['user_joined bo']);
    expect(chat.stats().active_users).toBe(2);
    expect(chat.stats().rooms).toEqual({ general: { users: 2, connections: 3 } });

    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    await tab1.close();
    await connectionsAre(chat, 2);
    await vi.advanceTimersByTimeAsync(60_000);
    await ana.sync();
    expect(presenceOf(ana)).toEqual(['user_joined bo']);
    await tab2.close();
    await connectionsAre(chat, 1);
    await vi.advanceTimersByTimeAsync(4999);
    await ana.sync();
    expect(presenceOf(ana)).toEqual(['user_joined bo']);
    await vi.advanceTimersByTimeAsync(1);
    expect((await ana.nextOf('user_left')).data).toEqual({ username: 'Bo', userId: 'bo' });
    expect(presenceOf(ana)).toEqual(['user_joined bo', 'user_left bo']);
    expect(chat.stats().active_users).toBe(1);
  });

  it('a quick reconnect (within the grace period) causes no user_left and no user_joined; the user list still names it', async () => {
    const { url, chat } = await startChat({ presenceGrace: 5000 });
    const ana = await connectClient(url, { username: 'Ana', userId: 'ana' });
    await ana.nextOf('user_list');
    const bo = await connectClient(url, { username: 'Bo', userId: 'bo' });
    await bo.nextOf('user_list');
    await ana.nextOf('user_joined');

    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    await bo.close(1001);
    await connectionsAre(chat, 1);
    await vi.advanceTimersByTimeAsync(4999);
    // Within the grace period, Bo is still present for anyone who asks.
    const cy = await connectClient(url, { username: 'Cy', userId: 'cy' });
    expect((await cy.nextOf('user_list')).data).toEqual({ users: [{ username: 'Ana', userId: 'ana' }, { username: 'Bo', userId: 'bo' }, { username: 'Cy', userId: 'cy' }] });
    const back = await connectClient(url, { username: 'Bo', userId: 'bo' });
    await back.nextOf('user_list');
    await vi.advanceTimersByTimeAsync(60_000);
    await ana.sync();
    expect(presenceOf(ana)).toEqual(['user_joined bo', 'user_joined cy']);
  });

  it('with a grace of 0, a closed connection is a user_left at once', async () => {
    const { url, chat } = await startChat({ presenceGrace: 0 });
    const ana = await connectClient(url, { username: 'Ana', userId: 'ana' });
    await ana.nextOf('user_list');
    const bo = await connectClient(url, { username: 'Bo', userId: 'bo' });
    await bo.nextOf('user_list');
    await bo.close();
    expect((await ana.nextOf('user_left')).data).toEqual({ username: 'Bo', userId: 'bo' });
    await connectionsAre(chat, 1);
    expect(chat.stats().rooms).toEqual({ general: { users: 1, connections: 1 } });
  });
});
