/**
 * Abuse limits per connection (issue 15; they belong to the library): token buckets for messages
 * and bytes a second. Over them a message is not delivered, `onRateLimit` is told, and a peer that
 * keeps on is closed with 1008. Time is performance.now(), faked here (sockets stay real).
 */

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from '../../src/index.js';
import type { RateLimitEvent } from '../../src/node/limits.js';
import { MessageLimiter, resolveLimits } from '../../src/node/limits.js';
import type { Ws } from '../../src/node/ws.js';
import { OP, cleanup, closePayload, rawConnect, serverFrame, startServer, text, until, wsConnect } from './helpers.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['performance'] });
});
afterEach(async () => {
  vi.useRealTimers();
  await cleanup();
});

/** An echo server with `limits`, recording onRateLimit's events. */
async function limitedEcho(limits: Parameters<typeof resolveLimits>[0], extra: { perMessageDeflate?: boolean; onRateLimit?: (ws: Ws, event: RateLimitEvent) => void } = {}) {
  const events: RateLimitEvent[] = [];
  const server = await startServer({
    limits,
    perMessageDeflate: extra.perMessageDeflate ?? false,
    onRateLimit:
      extra.onRateLimit ??
      ((ws, event) => {
        events.push(event);
        void ws.send(`limited ${event.limit} ${event.dropped}`).catch(() => undefined);
      }),
    async handler(ws) {
      for await (const message of ws) await ws.send(message.data);
    },
  });
  return { ...server, events };
}

describe('messageRate', () => {
  it('delivers a burst, drops and reports what is over, refills with time, and closes a peer that keeps on with 1008', async () => {
    const server = await limitedEcho({ messageRate: { perSecond: 5, burst: 3 }, maxDropped: 3 });
    const client = await rawConnect(server.port);
    const send = (data: string): void => client.sendFrame({ opcode: OP.TEXT, payload: text(data) });
    const next = async (): Promise<string> => Buffer.from((await client.nextFrame()).payload).toString();

    for (const data of ['a', 'b', 'c']) send(data);
    expect([await next(), await next(), await next()]).toEqual(['a', 'b', 'c']);
    send('d'); // the burst is spent
    expect(await next()).toBe('limited messages 1');
    vi.advanceTimersByTime(200); // 5 a second: one more token
    send('e');
    expect(await next()).toBe('e');
    send('f');
    send('g');
    send('h');
    expect([await next(), await next(), await next()]).toEqual(['limited messages 1', 'limited messages 2', 'limited messages 3']);
    // Three dropped in a row: the connection is failed (RFC 6455 7.1.7) with 7.4.1's 1008, the
    // close frame exactly, and TCP ended; nothing the peer sends after it is read.
    expect((await client.nextFrame()).raw).toEqual(serverFrame(OP.CLOSE, closePayload(1008, 'rate limit exceeded')));
    await client.ended;
    const ws = await server.connections.next();
    client.socket.end();
    expect(await ws.closed).toEqual({ code: 1008, reason: 'rate limit exceeded', wasClean: false, errorCode: 'WS_ERR_RATE_LIMITED' });
    expect(server.events).toEqual([
      { limit: 'messages', bytes: 1, dropped: 1 },
      { limit: 'messages', bytes: 1, dropped: 1 },
      { limit: 'messages', bytes: 1, dropped: 2 },
      { limit: 'messages', bytes: 1, dropped: 3 },
    ]);
  });

  it('a message delivered between drops starts the count again: a peer at twice the rate is limited, never closed', async () => {
    const server = await limitedEcho({ messageRate: { perSecond: 10, burst: 1 }, maxDropped: 2 });
    const client = await rawConnect(server.port);
    const replies: string[] = [];
    for (let i = 0; i < 6; i++) {
      client.sendFrame({ opcode: OP.TEXT, payload: text(`m${i}`) });
      replies.push(Buffer.from((await client.nextFrame()).payload).toString());
      vi.advanceTimersByTime(50); // 20 a second against 10
    }
    expect(replies).toEqual(['m0', 'limited messages 1', 'm2', 'limited messages 1', 'm4', 'limited messages 1']);
    expect((await server.connections.next()).readyState).toBe('open');
  });
});

describe('byteRate', () => {
  it('counts the bytes of messages; a message larger than the burst passes on a full bucket and leaves it in debt', async () => {
    const server = await limitedEcho({ byteRate: 100 });
    const client = await rawConnect(server.port);
    const send = (size: number): void => client.sendFrame({ opcode: OP.BINARY, payload: Buffer.alloc(size, 0x61) });
    const next = async (): Promise<number | string> => {
      const frame = await client.nextFrame();
      return frame.opcode === OP.TEXT ? Buffer.from(frame.payload).toString() : frame.payload.length;
    };
    send(60);
    expect(await next()).toBe(60);
    send(60); // 40 left
    expect(await next()).toBe('limited bytes 1');
    vi.advanceTimersByTime(1000); // full again (100)
    send(250); // larger than the burst: passes, 150 in debt
    expect(await next()).toBe(250);
    vi.advanceTimersByTime(1000); // -50: still in debt
    send(1);
    expect(await next()).toBe('limited bytes 1');
    vi.advanceTimersByTime(600); // +60 -> 10
    send(10);
    expect(await next()).toBe(10);
  });
});

describe('compressed messages over the limit', () => {
  it('are inflated (the context stays in step) but not delivered; the next messages arrive intact', async () => {
    const server = await limitedEcho({ messageRate: { perSecond: 1, burst: 2 }, maxDropped: 5 }, { perMessageDeflate: true });
    const client = await wsConnect(server.url, undefined, { perMessageDeflate: { threshold: 0 } });
    const messages = Array.from({ length: 5 }, (_, i) => `message ${i}: ${'the same words again and again, '.repeat(20)}`);
    for (const message of messages) client.ws.send(message);
    const replies: string[] = [];
    for (let i = 0; i < 5; i++) replies.push((await client.messages.next()).data.toString());
    // The notices are sent on arrival, the echoes once inflated: compare each in its own order.
    expect(replies.filter((reply) => reply.startsWith('message'))).toEqual([messages[0], messages[1]]);
    expect(replies.filter((reply) => reply.startsWith('limited'))).toEqual(['limited messages 1', 'limited messages 2', 'limited messages 3']);
    vi.advanceTimersByTime(2000);
    // With context takeover these refer to the dropped ones: they inflate only if those were inflated too.
    client.ws.send(messages[4]!);
    client.ws.send(messages[3]!);
    expect((await client.messages.next()).data.toString()).toBe(messages[4]);
    expect((await client.messages.next()).data.toString()).toBe(messages[3]);
  });
});

describe('onRateLimit', () => {
  it('an onRateLimit that throws is reported to onError; the connection goes on', async () => {
    const errors: unknown[] = [];
    const server = new WebSocketServer({
      limits: { messageRate: { perSecond: 1, burst: 1 } },
      onRateLimit: () => {
        throw new Error('metrics are down');
      },
      onError: (error) => errors.push(error),
      async handler(ws) {
        for await (const message of ws) await ws.send(message.data);
      },
    });
    const { port } = await server.listen(0, '127.0.0.1');
    try {
      const client = await rawConnect(port);
      client.sendFrame({ opcode: OP.TEXT, payload: text('one') });
      client.sendFrame({ opcode: OP.TEXT, payload: text('two') });
      expect(Buffer.from((await client.nextFrame()).payload).toString()).toBe('one');
      await until(() => errors.length === 1, 'the drop of "two" to be reported');
      vi.advanceTimersByTime(1000);
      client.sendFrame({ opcode: OP.TEXT, payload: text('three') });
      expect(Buffer.from((await client.nextFrame()).payload).toString()).toBe('three');
      expect(errors).toEqual([new Error('metrics are down')]);
    } finally {
      await server.close({ timeout: 100 });
    }
  });
});

describe('MessageLimiter and resolveLimits', () => {
  it('asks both buckets before charging either', () => {
    const limits = resolveLimits({ messageRate: { perSecond: 10, burst: 2 }, byteRate: { perSecond: 100, burst: 100 } })!.perConnection!;
    const limiter = new MessageLimiter(limits, 0);
    expect(limiter.check(90, 0)).toBeNull();
    expect(limiter.check(90, 0)).toEqual({ limit: 'bytes', bytes: 90, dropped: 1 });
    // The refused message took no message token: one is still there.
    expect(limiter.check(10, 0)).toBeNull();
    expect(limiter.check(0, 0)).toEqual({ limit: 'messages', bytes: 0, dropped: 1 });
  });

  it('is off (null) unless something is set; bad values throw WS_ERR_INVALID_ARGUMENT', () => {
    expect(resolveLimits(undefined)).toBeNull();
    expect(resolveLimits({})).toBeNull();
    for (const bad of [{ messageRate: 0 }, { messageRate: -1 }, { byteRate: Number.NaN }, { messageRate: { perSecond: 5, burst: 0.5 } }, { maxDropped: 0 }, { connectionsPerAddress: 1.5 }, { clientAddress: 'x' }]) {
      expect(() => resolveLimits(bad as never), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'WS_ERR_INVALID_ARGUMENT' }));
    }
    expect(() => new WebSocketServer({ limits: 5 as never })).toThrow(expect.objectContaining({ code: 'WS_ERR_INVALID_ARGUMENT' }));
  });
});
