/**
 * The load generator's fan-out mode (issue 11's benchmark): N subscribers, idle sockets that only
 * read, and one publisher that keeps K messages in flight, sending one more each time a message
 * has reached every subscriber. The server sends every message to every connection but its sender.
 * Measures deliveries per second (messages read by the subscribers, all together) and each
 * message's latency from the publisher's write to the read that completed it at the LAST
 * subscriber.
 *
 * 10,000 subscribers in one process: every socket reads into the generator's one shared buffer
 * (generator.ts: no allocation per read), a subscriber is a FrameParser (which copies nothing it
 * does not sample) and a counter, and a delivery costs a parse and two array updates. The
 * publisher's frame is built and masked once.
 *
 * Bookkeeping: a server delivers each message to each subscriber once and in order (checked: a
 * subscriber that reads more messages than were sent fails the run), so a subscriber's k-th
 * message is message k. Slot k mod K counts the subscribers that have yet to read message k;
 * message k + K is sent only once k has reached all of them, which frees the slot.
 */

import { OP, inflateMessage, makeKeyPool, maskedFrame } from '../../testkit/index.js';
import { FrameParser, parseDeflateResponse, type DeflateAgreement, type ParserSink } from './frames.js';
import { Failure, jsonLike, measureWindow, open, phase, pool } from './generator.js';
import { Histogram } from './histogram.js';
import type { FanoutResult, FanoutSpec } from './ipc.js';
import { idleParser, pushCounting } from './reading.js';

/**
 * What Chromium offers (and so most browsers): context takeover both ways, any client window. A
 * server that keeps its own context takeover must then compress per connection, unless it shares
 * one fresh-context frame (the hub's `noContextTakeover` topics) or negotiates it away.
 */
export const BROWSER_DEFLATE_OFFER = 'permessage-deflate; client_max_window_bits';

function foxText(size: number): Buffer {
  const text = 'The quick brown fox jumps over the lazy dog 0123456789 ';
  return Buffer.from(text.repeat(Math.ceil(size / text.length)).slice(0, size), 'latin1');
}

export async function runFanout(spec: FanoutSpec): Promise<FanoutResult> {
  if (spec.deflate && spec.protocol === 'raw') throw new Error('the raw fan-out cannot negotiate permessage-deflate');
  const failure = new Failure();
  const payload = spec.deflate ? jsonLike(spec.size) : foxText(spec.size);
  const N = spec.subscribers;
  const K = spec.inflight;
  const keys = makeKeyPool(Math.min(N + 1, 256));
  const histogram = new Histogram();
  const remaining = new Int32Array(K);
  const sentAt = new Float64Array(K);
  const extensions: Record<string, number> = {};
  const parsers: FrameParser[] = [];
  let sent = 0;
  let completed = 0;
  let deliveries = 0;
  let verified = 0;
  let measuring = false;
  let stopping = false;
  let publish: () => void = () => {
    throw new Error('a message was delivered before the publisher connected');
  };

  const messageDone = (slot: number): void => {
    completed++;
    if (measuring) histogram.record(performance.now() - sentAt[slot]!);
    if (!stopping) publish();
  };

  const verify = (message: Buffer, rsv1: boolean, agreement: DeflateAgreement | null): void => {
    let data = message;
    if (agreement !== null) {
      // 4 KiB of text is above every server's threshold: it must arrive compressed. The first
      // message of a connection refers to no earlier one, whatever the context takeover.
      if (!rsv1) throw new Error('a subscriber got its first message uncompressed (RSV1 clear)');
      data = inflateMessage(message);
    } else if (rsv1) throw new Error('RSV1 set without permessage-deflate');
    if (!data.equals(payload)) throw new Error(`a subscriber's first message differs from the one published (${data.length} bytes)`);
    verified++;
  };

  const sockets: { destroy(): void }[] = [];
  const started = performance.now();
  try {
    await Promise.race([
      failure.promise,
      pool(N, spec.parallel, async (i) => {
        const opened = await open(spec, keys[i % keys.length]!, spec.deflate ? BROWSER_DEFLATE_OFFER : undefined);
        const { socket } = opened;
        sockets.push(socket);
        let agreement: DeflateAgreement | null = null;
        if (spec.deflate) {
          agreement = parseDeflateResponse(opened.extensions);
          if (agreement === null) throw new Error('the server declined permessage-deflate');
        }
        const answer = opened.extensions ?? '(none)';
        extensions[answer] = (extensions[answer] ?? 0) + 1;
        const sink: ParserSink = {
          control(code, data) {
            if (code === OP.PING) socket.write(maskedFrame(OP.PONG, data));
            else if (code === OP.CLOSE && !stopping) failure.fail(new Error(`the server closed a subscriber: ${data.toString('hex')}`));
          },
          sample: (message, rsv1) => verify(message, rsv1, agreement),
        };
        const parser = new FrameParser(sink, OP.TEXT, spec.deflate ? -1 : payload.length);
        parser.sampleNext = true;
        parsers.push(parser);
        let next = 0;
        opened.attach((chunk) => {
          const n = pushCounting(parser, chunk, failure);
          if (n === 0) return;
          deliveries += n;
          if (next + n > sent) {
            failure.fail(new Error(`a subscriber read ${next + n} messages, ${sent} were sent`));
            return;
          }
          for (let j = 0; j < n; j++) {
            const slot = next++ % K;
            const left = remaining[slot]! - 1;
            remaining[slot] = left;
            if (left === 0) messageDone(slot);
          }
        });
        socket.on('error', (error) => {
          if (!stopping) failure.fail(error);
        });
        socket.on('close', () => {
          if (!stopping) failure.fail(new Error('the server dropped a subscriber'));
        });
      }),
    ]);
    const connectMs = performance.now() - started;
    // The server confirms it holds every subscriber before anything is published.
    await Promise.race([phase('subscribed', N), failure.promise]);

    const publisher = await Promise.race([open(spec, keys[N % keys.length]!), failure.promise]);
    sockets.push(publisher.socket);
    const own = idleParser(
      (frame) => publisher.socket.write(frame),
      () => {
        if (!stopping) failure.fail(new Error('the server closed the publisher'));
      },
    );
    publisher.attach((chunk) => {
      try {
        own.push(chunk);
        if (own.messages > 0) throw new Error('the publisher got its own message back');
      } catch (error) {
        failure.fail(error);
      }
    });
    publisher.socket.on('close', () => {
      if (!stopping) failure.fail(new Error('the server dropped the publisher'));
    });
    const frame = maskedFrame(OP.TEXT, payload);
    publish = () => {
      const slot = sent++ % K;
      remaining[slot] = N;
      sentAt[slot] = performance.now();
      publisher.socket.write(frame);
    };
    for (let i = 0; i < K; i++) publish();

    let completedAtStart = 0;
    let completedInWindow = 0;
    const { count, windowMs, generatorCpu } = await measureWindow(
      spec,
      failure,
      () => deliveries,
      (on) => {
        measuring = on;
        if (on) completedAtStart = completed;
        else completedInWindow = completed - completedAtStart;
      },
      { done: () => completed > completedAtStart, maxExtraMs: 30_000 },
    );
    if (completedInWindow === 0) throw new Error('no message reached every subscriber within the window');
    if (verified < N) throw new Error(`only ${verified} of ${N} subscribers had their first message verified`);
    let compressedDeliveries = 0;
    let received = 0;
    for (const parser of parsers) {
      compressedDeliveries += parser.compressedFrames;
      received += parser.messages;
    }
    if (spec.deflate && compressedDeliveries !== received) {
      throw new Error(`${received - compressedDeliveries} of ${received} deliveries came uncompressed`);
    }
    return {
      mode: 'fanout',
      windowMs,
      subscribers: N,
      messages: completedInWindow,
      messagesPerSec: (completedInWindow / windowMs) * 1000,
      deliveries: count,
      deliveriesPerSec: (count / windowMs) * 1000,
      mbPerSec: (count * spec.size) / windowMs / 1000,
      p50Us: histogram.quantileUs(0.5),
      p99Us: histogram.quantileUs(0.99),
      maxUs: histogram.maxUs(),
      generatorCpu,
      verified,
      compressedDeliveries,
      extensions,
      connectMs,
    };
  } finally {
    stopping = true;
    for (const socket of sockets) socket.destroy();
  }
}
