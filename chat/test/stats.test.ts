/**
 * `/ws/stats`, `/metrics` and the logs equal exactly what the test did: every connection, every
 * message in and out (a broadcast counted once per recipient), bytes both ways, close codes,
 * errors, rooms; one log line per connection event and none per message at the default level.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs, cleanup, connectClient, get, startChat } from './helpers.js';

afterEach(cleanup);

/** The samples of a Prometheus text exposition: `name{labels}` -> value (comments left out). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

describe('stats and metrics', () => {
  it('count exactly what the clients did', async () => {
    const { logger, capture } = captureLogs();
    const test = await startChat({ logger, presenceGrace: 0 });
    const sent: string[] = [];
    const say = (client: { send(message: string): void }, message: unknown): void => {
      const text = typeof message === 'string' ? message : JSON.stringify(message);
      sent.push(text);
      client.send(text);
    };

    const ana = await connectClient(test.url, { username: 'Ana', userId: 'ana' });
    await ana.nextOf('user_list'); // Ana: 1
    const bo = await connectClient(test.url, { username: 'Bo', userId: 'bo' });
    await bo.nextOf('user_list'); // Bo: 1
    await ana.nextOf('user_joined'); // Ana: 2
    say(bo, { type: 'join', room: 'garden' });
    await bo.nextOf('user_list'); // Bo: 2
    say(ana, { type: 'chat', content: 'one' });
    say(ana, { type: 'chat', content: 'two' });
    await ana.nextOf('chat');
    await ana.nextOf('chat'); // Ana: 4
    await bo.nextOf('chat');
    await bo.nextOf('chat'); // Bo: 4
    say(bo, { type: 'chat', content: 'in the garden', room: 'garden' });
    await bo.nextOf('chat'); // Bo: 5
    say(ana, { type: 'heartbeat' });
    await ana.nextOf('heartbeat'); // Ana: 5
    say(ana, 'not json');
    await ana.nextOf('error'); // Ana: 6
    say(ana, { type: 'notification', content: 'no right' });
    await ana.nextOf('error'); // Ana: 7

    expect(test.chat.stats()).toEqual({
      total_connections: 2,
      current_connections: 2,
      messages_sent: 12,
      messages_received: 3,
      active_users: 2,
      uptime_s: expect.any(Number),
      rooms: { garden: { users: 1, connections: 1 }, general: { users: 2, connections: 2 } },
      dropped: {},
      unavailable: 0,
      unpublished: 0,
      degraded: false,
    });
    const stats = await get(test, '/ws/stats');
    expect(stats.status).toBe(200);
    expect(stats.type).toBe('application/json');
    // This server's counters, and who is present across every server (here: this one).
    expect(JSON.parse(stats.text)).toEqual({
      ...test.chat.stats(),
      uptime_s: expect.any(Number),
      presence: { users: 2, rooms: { garden: 1, general: 2 } },
    });

    await bo.close();
    await ana.nextOf('user_left'); // Ana: 8 (garden had nobody else)
    expect(ana.received).toHaveLength(8);
    expect(bo.received).toHaveLength(5);
    expect(test.chat.stats()).toMatchObject({
      total_connections: 2,
      current_connections: 1,
      messages_sent: 13,
      messages_received: 3,
      active_users: 1,
      rooms: { general: { users: 1, connections: 1 } },
      dropped: {},
    });

    const metrics = await get(test, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const values = samples(metrics.text);
    const expected: Record<string, number> = {
      chat_connections_opened_total: 2,
      chat_connections: 1,
      'chat_messages_received_total{type="join"}': 1,
      'chat_messages_received_total{type="chat"}': 3,
      'chat_messages_received_total{type="heartbeat"}': 1,
      'chat_messages_received_total{type="invalid"}': 1,
      'chat_messages_received_total{type="notification"}': 1,
      chat_received_bytes_total: sent.reduce((sum, text) => sum + Buffer.byteLength(text), 0),
      chat_messages_sent_total: 13,
      chat_sent_bytes_total: ana.bytes() + bo.bytes(),
      'chat_errors_sent_total{code="invalid_json"}': 1,
      'chat_errors_sent_total{code="forbidden"}': 1,
      'chat_closes_total{code="1000"}': 1,
    };
    for (const [name, value] of Object.entries(expected)) expect([name, values.get(name)]).toEqual([name, value]);
    // Nothing else was counted: no other label of these families has a sample.
    const families = ['chat_messages_received_total', 'chat_errors_sent_total', 'chat_closes_total', 'chat_handshakes_refused_total', 'chat_rate_limit_hits_total', 'chat_dropped_total'];
    const counted = [...values.keys()].filter((name) => families.some((family) => name.startsWith(`${family}{`)));
    expect(counted.sort()).toEqual(Object.keys(expected).filter((name) => name.includes('{')).sort());
    for (const stat of ['mean', 'p99', 'max']) expect(values.get(`chat_event_loop_lag_seconds{stat="${stat}"}`)).toBeGreaterThanOrEqual(0);
    expect(values.get('chat_memory_bytes{kind="rss"}')).toBeGreaterThan(0);
    // In memory, nothing goes through Redis: up, never degraded.
    expect([values.get('chat_redis_up{part="broker"}'), values.get('chat_redis_up{part="presence"}'), values.get('chat_degraded')]).toEqual([1, 1, 0]);

    // The logs: one line per connection event, none per message.
    expect(capture.lines.map((line) => line['event'])).toEqual(['listening', 'connected', 'connected', 'closed']);
    expect(capture.lines[3]).toMatchObject({ level: 30, event: 'closed', username: 'Bo', userId: 'bo', code: 1000 });
  });

  it('a room with no members is not listed', async () => {
    const test = await startChat({ presenceGrace: 0 });
    const ana = await connectClient(test.url, { username: 'Ana', userId: 'ana', room: 'attic' });
    await ana.nextOf('user_list');
    expect(test.chat.stats().rooms).toEqual({ attic: { users: 1, connections: 1 } });
    ana.send({ type: 'leave', room: 'attic' });
    await ana.sync();
    expect(test.chat.stats().rooms).toEqual({});
    expect(test.chat.stats().active_users).toBe(1);
  });

  it('without metrics (metrics: false), /metrics is not served', async () => {
    const test = await startChat({ metrics: false });
    expect((await get(test, '/metrics')).status).toBe(404);
  });
});
