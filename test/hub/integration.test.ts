/**
 * The hub on real connections (issue 11): a real WebSocketServer and Hub, 500 raw clients
 * (test/node/helpers.ts: a bare TCP socket that does the handshake and reads frames byte for
 * byte) subscribed to one topic. Every broadcast must reach every reading client exactly once and
 * in order, while one client that stops reading is handled by the topic's policy and nobody else
 * loses anything; the healthy clients' publish-to-receipt latency is measured and printed.
 *
 * Making the slow client slow: it pauses its socket, so the kernel stops reading for it. On
 * loopback the kernel then still buffers about 4 MB for it (the server's send buffer and the
 * client's receive buffer) before the server sees any backpressure; filling that with broadcasts
 * alone would push 2 GB through loopback for 500 clients. So the server fills it with direct sends
 * on that one connection (a client with other traffic, whose TCP window is full), and only then
 * do the broadcasts meet a connection that is behind, with a small hub queue (32 KiB).
 */

import { afterEach, describe, expect, it } from 'vitest';
import { Hub, type HubDropEvent, type HubEvictEvent, type OverflowPolicy, type PublishResult } from '../../src/hub/index.js';
import type { Ws } from '../../src/node/ws.js';
import {
  cleanup,
  closePayload,
  deadline,
  deferred,
  MessageInflater,
  nextTurn,
  OP,
  rawConnect,
  serverFrame,
  startServer,
  until,
  type Frame,
  type RawClient,
} from '../node/helpers.js';
import { compressMessage } from '../../testkit/index.js';

afterEach(cleanup);

const CLIENTS = 500;
/** Messages every client (the slow one included) reads before the slow one stops. */
const BEFORE_PAUSE = 20;
const MESSAGES = 200;
const SIZE = 512;
/** The publisher keeps this many messages ahead of the slowest healthy client. */
const IN_FLIGHT = 4;
const LOW_WATERMARK = 16 * 1024;
const MAX_QUEUED = 32 * 1024;
const FILL = Buffer.alloc(16 * 1024, 0x66);
const FILL_FRAME = serverFrame(OP.BINARY, FILL);

function payloadOf(i: number): string {
  const head = `feed #${i} `;
  return head + '.'.repeat(SIZE - head.length);
}

function indexOf(payload: Uint8Array): number {
  return Number(/^feed #(\d+) /.exec(Buffer.from(payload).toString('latin1'))![1]);
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

function describeLatency(samples: number[]): { p50: number; p99: number; max: number; text: string } {
  const sorted = Float64Array.from(samples).sort();
  const p50 = quantile(sorted, 0.5);
  const p99 = quantile(sorted, 0.99);
  const max = sorted[sorted.length - 1]!;
  return { p50, p99, max, text: `p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${max.toFixed(2)} ms (${samples.length} samples)` };
}

/** Hands every frame the client reads to `onFrame`, with the time it was parsed, until the connection closes. */
async function consume(client: RawClient, onFrame: (frame: Frame, at: number) => void): Promise<void> {
  for (;;) {
    let frame: Frame;
    try {
      frame = await client.nextFrame();
    } catch {
      return;
    }
    onFrame(frame, performance.now());
  }
}

/** Answers a server's close frame with the same code, as RFC 6455 5.5.1 asks. */
function echoClose(client: RawClient, frame: Frame): void {
  client.sendFrame({ opcode: OP.CLOSE, payload: frame.payload.subarray(0, 2) });
}

async function fanOutWithOneSlowClient(policy: OverflowPolicy) {
  const hub = new Hub<Ws>({ lowWatermark: LOW_WATERMARK, maxQueuedBytes: MAX_QUEUED });
  hub.configure('feed', { policy });
  const slowServerSide = deferred<Ws>();
  const { port } = await startServer({
    // The slow client answers a close only once it reads again.
    closeTimeout: 20_000,
    handler(ws, request) {
      hub.add(ws);
      hub.subscribe(ws, 'feed');
      if (request.url === '/slow') slowServerSide.resolve(ws);
    },
  });
  const slow = await rawConnect(port, { path: '/slow' });
  const healthy = await Promise.all(Array.from({ length: CLIENTS - 1 }, () => rawConnect(port)));
  const slowWs = await slowServerSide.promise;
  await until(() => hub.count('feed') === CLIENTS, 'every client subscribed');

  const drops: HubDropEvent<Ws>[] = [];
  const evictions: HubEvictEvent<Ws>[] = [];
  hub.on('drop', (event) => drops.push(event));
  hub.on('evict', (event) => evictions.push(event));

  const expected = Array.from({ length: MESSAGES }, (_, i) => serverFrame(OP.TEXT, payloadOf(i)));
  const publishedAt = new Float64Array(MESSAGES);
  const reached = new Uint32Array(MESSAGES);
  const reachedAll = new Map<number, () => void>();
  const latencyBefore: number[] = [];
  const latencyAfter: number[] = [];
  const problems: string[] = [];
  const dataFramesBeforeClose: number[] = [];
  healthy.forEach((client, c) => {
    let next = 0;
    void consume(client, (frame, at) => {
      if (frame.opcode === OP.CLOSE) {
        dataFramesBeforeClose[c] = next;
        echoClose(client, frame);
        return;
      }
      const i = next++;
      if (i >= MESSAGES || !frame.raw.equals(expected[i]!)) {
        problems.push(`client ${c}: frame ${i} is not message ${i}: ${frame.raw.subarray(0, 24).toString('latin1')}`);
        return;
      }
      (i < BEFORE_PAUSE ? latencyBefore : latencyAfter).push(at - publishedAt[i]!);
      reached[i] = reached[i]! + 1;
      if (reached[i] === CLIENTS - 1) reachedAll.get(i)?.();
    });
  });
  const everyHealthyClientHas = (i: number): Promise<void> =>
    reached[i] === CLIENTS - 1
      ? Promise.resolve()
      : deadline(new Promise<void>((resolve) => reachedAll.set(i, resolve)), 10_000, `message ${i} at every healthy client`);

  const slowFrames: Frame[] = [];
  const slowClosed = deferred<Frame>();
  void consume(slow, (frame) => {
    slowFrames.push(frame);
    if (frame.opcode === OP.CLOSE) {
      echoClose(slow, frame);
      slowClosed.resolve(frame);
    }
  });

  const results: PublishResult[] = [];
  let fills = 0;
  for (let i = 0; i < MESSAGES; i++) {
    if (i === BEFORE_PAUSE) {
      await until(() => slowFrames.length === BEFORE_PAUSE, 'the slow client read the first messages');
      slow.socket.pause();
      // Fill its TCP window until the server's buffer for it stays above the hub's watermark.
      for (let stable = 0; stable < 3; await nextTurn()) {
        if (slowWs.bufferedAmount >= LOW_WATERMARK) stable++;
        else {
          stable = 0;
          void slowWs.send(FILL);
          if (++fills > 4096) throw new Error('64 MiB sent and the slow connection is still not behind');
        }
      }
    }
    if (i >= IN_FLIGHT) await everyHealthyClientHas(i - IN_FLIGHT);
    publishedAt[i] = performance.now();
    results.push(hub.publish('feed', payloadOf(i)));
  }
  await everyHealthyClientHas(MESSAGES - 1);

  const before = describeLatency(latencyBefore);
  const after = describeLatency(latencyAfter);
  console.log(
    `hub integration, policy '${policy}', ${CLIENTS} clients, ${MESSAGES} x ${SIZE} B, publish-to-receipt at the ${CLIENTS - 1} healthy clients:\n` +
      `  all reading (messages 0-${BEFORE_PAUSE - 1}): ${before.text}\n` +
      `  one client stopped (messages ${BEFORE_PAUSE}-${MESSAGES - 1}): ${after.text}`,
  );

  // Every healthy client got every message, once, in order, byte for byte; nothing was dropped for any of them.
  expect(problems).toEqual([]);
  expect([...reached]).toEqual(new Array(MESSAGES).fill(CLIENTS - 1));
  expect(drops.filter((drop) => drop.connection !== slowWs)).toEqual([]);
  // The slow client held nobody back: the healthy ones had every message while it was still paused
  // (each publish waited for that, up to a deadline). The latency is printed, not bounded: it
  // measures the machine.
  expect(slow.socket.isPaused()).toBe(true);
  expect(fills).toBeGreaterThan(0);
  // publish() results add up for every message.
  for (const result of results) expect(result.queued + result.dropped + result.closed).toBe(result.recipients);

  // What the slow client will read: the first messages, the fill, then every message it was a
  // recipient of and that was not dropped for it, in order; then a close frame.
  const slowDrops = drops.filter((drop) => drop.connection === slowWs);
  const droppedForSlow = new Set(slowDrops.map((drop) => indexOf(drop.payload)));
  expect(droppedForSlow.size).toBe(slowDrops.length); // one report per message
  const closedAt = results.findIndex((result) => result.closed > 0);
  const lastForSlow = closedAt >= 0 ? closedAt : MESSAGES - 1;
  const expectedForSlow: number[] = [];
  for (let i = BEFORE_PAUSE; i <= lastForSlow; i++) if (!droppedForSlow.has(i)) expectedForSlow.push(i);

  if (policy !== 'close') {
    // It reads again, the hub's queue for it drains, and the server closes it normally.
    slow.socket.resume();
    await until(() => hub.queued(slowWs).messages === 0, 'the hub queue of the slow client drained', 1_000_000);
    void slowWs.close(1000, 'done');
  } else {
    slow.socket.resume();
  }
  const closeFrame = await deadline(slowClosed.promise, 10_000, 'the close frame at the slow client');
  const data = slowFrames.slice(0, -1);
  expect(data.slice(0, BEFORE_PAUSE).map((frame) => frame.raw)).toEqual(expected.slice(0, BEFORE_PAUSE));
  expect(data.slice(BEFORE_PAUSE, BEFORE_PAUSE + fills).every((frame) => frame.raw.equals(FILL_FRAME))).toBe(true);
  expect(data.slice(BEFORE_PAUSE + fills).map((frame) => indexOf(frame.payload))).toEqual(expectedForSlow);
  expect(data.length).toBe(BEFORE_PAUSE + fills + expectedForSlow.length);

  // The healthy ones: closed by the server now, each after exactly MESSAGES data frames.
  for (const ws of [...hub.members('feed')]) if (ws !== slowWs) void ws.close(1000, 'done');
  await until(() => dataFramesBeforeClose.filter((n) => n !== undefined).length === CLIENTS - 1, 'every healthy client closed', 100_000);
  expect(dataFramesBeforeClose).toEqual(new Array(CLIENTS - 1).fill(MESSAGES));

  return { hub, slowWs, results, slowDrops, evictions, closeFrame, closedAt, droppedForSlow };
}

describe('the hub with 500 real connections and one that stops reading', () => {
  it("policy 'close': the slow client gets 1008 \"too slow\", publish() counts it as closed once, the others get everything", async () => {
    const { hub, slowWs, results, slowDrops, evictions, closeFrame, closedAt } = await fanOutWithOneSlowClient('close');
    expect(closedAt).toBeGreaterThan(BEFORE_PAUSE);
    expect(results.filter((result) => result.closed > 0)).toEqual([{ recipients: CLIENTS, queued: CLIENTS - 1, dropped: 0, closed: 1 }]);
    // Before its eviction it was a recipient of every message; after, nobody counts it.
    expect(results.slice(0, closedAt + 1).every((result) => result.recipients === CLIENTS)).toBe(true);
    expect(results.slice(closedAt + 1).every((result) => result.recipients === CLIENTS - 1 && result.queued === CLIENTS - 1)).toBe(true);
    // The messages held for it and the one that overflowed are reported as evicted, each once.
    expect(slowDrops.length).toBeGreaterThan(0);
    expect(slowDrops.every((drop) => drop.reason === 'evicted' && drop.topic === 'feed')).toBe(true);
    expect(slowDrops.map((drop) => indexOf(drop.payload))).toContain(closedAt);
    expect(evictions).toHaveLength(1);
    expect(evictions[0]).toMatchObject({ topic: 'feed', connection: slowWs });
    expect(hub.stats('feed')).toMatchObject({ published: MESSAGES, evicted: 1, dropped: slowDrops.length });
    // RFC 6455 7.4.1: 1008, policy violation; the close frame comes after everything it was sent before.
    expect(closeFrame.raw).toEqual(serverFrame(OP.CLOSE, closePayload(1008, 'too slow')));
    await expect(slowWs.closed).resolves.toMatchObject({ code: 1008, wasClean: true });
  });

  it("policy 'drop-new': new messages are dropped for the slow client only, counted in publish() and reported", async () => {
    const { hub, results, slowDrops, droppedForSlow } = await fanOutWithOneSlowClient('drop-new');
    expect(slowDrops.length).toBeGreaterThan(0);
    expect(slowDrops.every((drop) => drop.reason === 'drop-new' && drop.topic === 'feed')).toBe(true);
    expect(results.every((result) => result.recipients === CLIENTS && result.closed === 0)).toBe(true);
    expect(results.reduce((sum, result) => sum + result.dropped, 0)).toBe(slowDrops.length);
    expect(results.every((result) => result.dropped <= 1)).toBe(true);
    // The queue was full at the end: the newest message is one of those dropped.
    expect(droppedForSlow.has(MESSAGES - 1)).toBe(true);
    expect(hub.stats('feed')).toMatchObject({ published: MESSAGES, evicted: 0, dropped: slowDrops.length });
  });

  it("policy 'drop-oldest': the slow client's oldest queued messages make room, reported as dropped; the newest reaches it", async () => {
    const { hub, results, slowDrops, droppedForSlow } = await fanOutWithOneSlowClient('drop-oldest');
    expect(slowDrops.length).toBeGreaterThan(0);
    expect(slowDrops.every((drop) => drop.reason === 'drop-oldest' && drop.topic === 'feed')).toBe(true);
    // The new message always gets in: publish() counts it queued; the older ones go through the 'drop' event.
    expect(results.every((result) => result.recipients === CLIENTS && result.queued === CLIENTS)).toBe(true);
    expect(droppedForSlow.has(BEFORE_PAUSE)).toBe(true);
    expect(droppedForSlow.has(MESSAGES - 1)).toBe(false);
    expect(hub.stats('feed')).toMatchObject({ published: MESSAGES, evicted: 0, dropped: slowDrops.length });
  });
});

// --- compression on real connections -------------------------------------------------------------

/** Text that compresses well but does not repeat itself at a short period (seeded). */
function prose(words: number, seed: number): string {
  const vocabulary = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike', 'november'];
  let x = seed;
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.push(`${vocabulary[(x >>> 16) % vocabulary.length]!}${(x >>> 8) % 97}`);
  }
  return out.join(' ');
}

/** The hub's shared frame: a fresh context, sync flush, tail removed (RFC 7692 7.2.1), zlib level 6, memLevel 8. */
function freshDeflate(text: string): Buffer {
  return compressMessage(text, { windowBits: 15, level: 6, memLevel: 8 });
}

describe('the hub with permessage-deflate on real connections', () => {
  it('a subscriber whose connection dies with broadcasts still in the server\'s buffer: each one it did not read is reported once, in order, and none it read', async () => {
    // The queue in the hub is never used: every broadcast goes straight to the connection, whose
    // buffer holds what the kernel does not take; those frames are the ones lost with it.
    const hub = new Hub<Ws>({ lowWatermark: 64 * 1024 * 1024, maxQueuedBytes: 64 * 1024 * 1024 });
    const server = deferred<Ws>();
    const { port } = await startServer({
      handler(ws) {
        hub.add(ws);
        hub.subscribe(ws, 'feed');
        server.resolve(ws);
      },
    });
    const client = await rawConnect(port);
    const ws = await server.promise;
    const drops: HubDropEvent<Ws>[] = [];
    hub.on('drop', (event) => drops.push(event));
    const read: number[] = [];
    const reading = consume(client, (frame) => {
      if (frame.opcode === OP.TEXT) read.push(indexOf(frame.payload));
    });
    let published = 0;
    for (; published < 20; published++) hub.publish('feed', payloadOf(published));
    await until(() => read.length === 20, 'the first 20 read');
    client.socket.pause();
    // Broadcasts, a turn's worth at a time (one batch each), until the kernel holds no more and
    // the server's own buffer keeps some.
    while (ws.bufferedAmount < 1024 * 1024) {
      for (let i = 0; i < 16; i++) hub.publish('feed', payloadOf(published++));
      await nextTurn();
    }
    client.socket.destroy();
    await ws.closed;
    await until(() => drops.length > 0, 'the losses reported');
    await reading;
    const lost = drops.map((drop) => indexOf(drop.payload));
    expect(drops.every((drop) => drop.reason === 'closed' && drop.connection === ws && drop.topic === 'feed')).toBe(true);
    // The last ones, in publish order, each once; none of them was read.
    expect(lost).toEqual(Array.from({ length: lost.length }, (_, i) => published - lost.length + i));
    expect(lost.length * SIZE).toBeGreaterThanOrEqual(1024 * 1024 - 16 * SIZE);
    expect(read).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(hub.has(ws)).toBe(false);
    await hub.close();
  });

  it('a subscriber with context takeover gets broadcasts compressed with its own context; no-takeover subscribers share one fresh frame; a noContextTakeover topic shares it with everyone', async () => {
    const hub = new Hub<Ws>();
    hub.configure('shared', { noContextTakeover: true });
    const server = await startServer({
      perMessageDeflate: true,
      handler(ws) {
        hub.add(ws);
        hub.subscribe(ws, 'news');
        hub.subscribe(ws, 'shared');
      },
    });
    // A browser's offer (Chromium's), one asking the server to reset, and one without compression.
    const takeover = await rawConnect(server.port, { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' } });
    const reset = await rawConnect(server.port, { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover' } });
    const plain = await rawConnect(server.port);
    expect(takeover.response!.headers['sec-websocket-extensions']).not.toMatch(/server_no_context_takeover/);
    expect(reset.response!.headers['sec-websocket-extensions']).toMatch(/server_no_context_takeover/);
    expect(plain.response!.headers['sec-websocket-extensions']).toBeUndefined();
    await until(() => hub.count('news') === 3, 'three subscribers');
    const takeoverWs = [...hub.members('news')][0]!;

    const [first, second, third, fourth] = [prose(400, 1), prose(400, 2), prose(400, 3), prose(400, 4)];
    expect(hub.publish('news', first)).toEqual({ recipients: 3, queued: 3, dropped: 0, closed: 0 });
    hub.publish('news', first);
    hub.publish('shared', third);
    hub.send(takeoverWs, fourth);
    hub.publish('news', second);

    // Context takeover: compressed by the connection itself; the repeat refers back to the first
    // copy (RFC 7692 7.2.3.2), so it is a fraction of its size; the shared frame resets the
    // compressor and the messages after it still decode with the client's one kept window.
    const inflater = new MessageInflater();
    const frames = [await takeover.nextFrame(), await takeover.nextFrame(), await takeover.nextFrame(), await takeover.nextFrame(), await takeover.nextFrame()];
    expect(frames.map((frame) => [frame.opcode, frame.rsv, frame.fin])).toEqual(new Array(5).fill([OP.TEXT, 0b100, true]));
    const texts: string[] = [];
    for (const frame of frames) texts.push((await inflater.inflate(frame.payload)).toString('utf8'));
    expect(texts).toEqual([first, first, third, fourth, second]);
    expect(frames[1]!.payload.length).toBeLessThan(frames[0]!.payload.length / 10);
    expect(frames[2]!.payload).toEqual(freshDeflate(third));

    // No context takeover: the same fresh-context bytes for every copy, compressed once by the hub.
    const resetFrames = [await reset.nextFrame(), await reset.nextFrame(), await reset.nextFrame(), await reset.nextFrame()];
    expect(resetFrames.map((frame) => frame.payload)).toEqual([freshDeflate(first), freshDeflate(first), freshDeflate(third), freshDeflate(second)]);
    expect(resetFrames.every((frame) => frame.rsv === 0b100 && frame.opcode === OP.TEXT)).toBe(true);

    // Without permessage-deflate: the plain frame, byte for byte.
    const plainFrames = [await plain.nextFrame(), await plain.nextFrame(), await plain.nextFrame(), await plain.nextFrame()];
    expect(plainFrames.map((frame) => frame.raw)).toEqual([first, first, third, second].map((text) => serverFrame(OP.TEXT, text)));
    await hub.close();
  });
});
