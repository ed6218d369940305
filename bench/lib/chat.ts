/**
 * The load generator's chat mode (issue 15's benchmark): N users in R rooms, each one connection
 * that joins its room and sends `rate` chat messages per second, spread evenly (user i sends at
 * (i/N + k)/rate seconds: the N users' messages interleave one by one, never in bursts). The
 * server sends each message to every member of its room, the sender included (its
 * acknowledgment). Every other member's copy is a delivery: deliveries per second and the
 * latency of each, from the sender's write to the read that brought it to the receiver (every
 * message carries its send time, read by lib/chat-wire.ts without parsing the envelope).
 *
 * A run: warm-up cycles (connect, join, send, read back, close) so that the server's baseline is
 * taken with its code paths warm; the baseline ('baseline' step: the harness measures the
 * server's memory); every user connected and joined; one message from every user, all delivered
 * (so that what a connection creates on its first message exists); the server's memory again
 * ('opened' step, per user: as the idle case does), and a settle at a low rate after it (the
 * measurement's forced collections deoptimize the server: ChatSpec.memory). A case that reports no
 * memory skips both measurements and the settle. Then one step per rate of the spec: a warm-up
 * at that rate and a measurement window. With a bound, a step whose p99 exceeds it ends the run
 * (the rate search), and the figures are those of the last step under it.
 *
 * The generator is open-loop: it never waits for the server before sending, so a server that falls
 * behind shows as latency, not as a slower generator. How late the generator itself wrote
 * messages against their schedule is reported (`lateP99Us`), and so is its CPU per delivery.
 */

import { OP, closePayload, makeKeyPool, maskedFrame } from '../../testkit/index.js';
import { ChatUser, connectUser, roomName, type ChatListener } from './chat-wire.js';
import { Failure, cpuPercent, emit, phase, pool, snapshot } from './generator.js';
import { Histogram } from './histogram.js';
import type { ChatResult, ChatSpec, ChatStep } from './ipc.js';

/** How long the messages sent may take to all arrive before the run fails (drains). */
const DRAIN_MS = 60_000;
const CLOSE_FRAME = maskedFrame(OP.CLOSE, closePayload(1000));

export async function runChat(spec: ChatSpec): Promise<ChatResult> {
  if (spec.protocol !== 'ws' && spec.protocol !== 'socketio') {
    throw new Error(`the chat mode speaks the chat's protocol (ws) or Socket.IO, not ${spec.protocol}`);
  }
  if (spec.rates.length === 0) throw new Error('a chat run needs at least one rate');
  const failure = new Failure();
  const N = spec.users;
  const R = spec.rooms;
  const keys = makeKeyPool(Math.min(N, 256));
  const roomSize = new Int32Array(R);
  for (let i = 0; i < N; i++) roomSize[i % R]!++;
  const histogram = new Histogram();
  let measuring = false;
  let stopping = false;
  /** Every chat message read (acknowledgments included), and what the messages sent should bring. */
  let received = 0;
  let expected = 0;
  let deliveries = 0;
  let acknowledgments = 0;

  const listener: ChatListener = {
    chat(receiver, sender, sentUs, readAt) {
      received++;
      if (sender === receiver.index) {
        acknowledgments++;
        return;
      }
      if (sender >= N || sender % R !== receiver.room) {
        failure.fail(new Error(`user ${receiver.index} (room ${receiver.room}) got a message of user ${sender}, not a member`));
        return;
      }
      deliveries++;
      if (measuring) histogram.record(readAt - sentUs / 1000);
    },
    fail(error) {
      if (!stopping) failure.fail(error);
    },
  };

  // Warm-up cycles on their own room; their messages are not counted.
  const warmupListener: ChatListener = { chat() {}, fail: listener.fail };
  await Promise.race([
    failure.promise,
    pool(spec.warmupCycles, 8, async (i) => {
      const user = await connectUser(spec, keys[i % keys.length]!, 0, 0, 'warmup', warmupListener, `w${i}`);
      const before = user.received;
      user.send(0);
      await until(failure, () => user.received > before, 10_000, 'a warm-up message to come back to its sender');
      await closeUser(user);
    }),
  ]);
  if (spec.memory !== null) await Promise.race([phase('baseline', 0), failure.promise]);

  const users: ChatUser[] = new Array<ChatUser>(N);
  const started = performance.now();
  try {
    await Promise.race([
      failure.promise,
      pool(N, spec.parallel, async (i) => {
        users[i] = await connectUser(spec, keys[i % keys.length]!, i, i % R, roomName(i % R), listener);
      }),
    ]);
    const connectMs = performance.now() - started;

    // Sending: message j goes from user j mod N, at j / (N * rate) seconds from the step's start.
    let sentTotal = 0;
    let stepBase = 0;
    let stepStart = 0;
    let perMs = 0;
    let stopAt = Infinity;
    const late = new Histogram();
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(stopAt, stepBase + Math.floor((now - stepStart) * perMs));
      const nowUs = Math.round(now * 1000);
      while (sentTotal < due) {
        const user = users[sentTotal % N]!;
        if (measuring) late.record(now - (stepStart + (sentTotal - stepBase) / perMs));
        user.send(nowUs);
        expected += roomSize[user.room]!;
        sentTotal++;
      }
    };
    const schedule = (rate: number, count = Infinity): void => {
      stepBase = sentTotal;
      stepStart = performance.now();
      perMs = (N * rate) / 1000;
      stopAt = sentTotal + count;
    };
    const timer = setInterval(tick, 1);
    const drain = async (): Promise<void> => {
      await until(failure, () => sentTotal >= stopAt && received >= expected, DRAIN_MS, 'every message sent to reach every member of its room');
      if (received > expected) throw new Error(`${received} chat messages read, ${expected} expected`);
    };

    try {
      // One message from every user at the first rate, all delivered, then the server's memory
      // and the settle after it (ipc.ts, ChatSpec.memory).
      schedule(spec.rates[0]!, N);
      await drain();
      if (spec.memory !== null) {
        await Promise.race([phase('opened', N), failure.promise]);
        schedule(spec.memory.settleRate);
        await failure.wait(spec.memory.settleMs);
      }

      const steps: ChatStep[] = [];
      for (let step = 0; step < spec.rates.length; step++) {
        const rate = spec.rates[step]!;
        schedule(rate);
        await failure.wait(spec.warmupMs);
        const sentBefore = sentTotal;
        const deliveriesBefore = deliveries;
        histogram.reset();
        late.reset();
        const start = snapshot();
        measuring = true;
        emit({ type: 'mark', phase: 'start', step });
        await failure.wait(spec.durationMs);
        measuring = false;
        const end = snapshot();
        emit({ type: 'mark', phase: 'end', step });
        const windowMs = end.at - start.at;
        const count = deliveries - deliveriesBefore;
        const p99Us = histogram.quantileUs(0.99);
        steps.push({
          rate,
          windowMs,
          sent: sentTotal - sentBefore,
          deliveries: count,
          deliveriesPerSec: (count / windowMs) * 1000,
          p50Us: histogram.quantileUs(0.5),
          p99Us,
          maxUs: histogram.maxUs(),
          lateP99Us: late.quantileUs(0.99),
          generatorCpu: cpuPercent(start, end),
          // No delivery in a whole window is past any bound.
          sustained: spec.p99BoundMs === null || (count > 0 && p99Us <= spec.p99BoundMs * 1000),
        });
        if (!steps[step]!.sustained) break;
      }
      clearInterval(timer);

      const last = steps.length - 1;
      const windowStep = spec.p99BoundMs === null ? last : steps[last]!.sustained ? last : last - 1;
      const shown = windowStep >= 0 ? steps[windowStep]! : null;
      const cpuUs = shown === null ? NaN : ((shown.generatorCpu / 100) * shown.windowMs * 1000) / shown.deliveries;
      return {
        mode: 'chat',
        users: N,
        rooms: R,
        steps,
        windowStep,
        rate: shown?.rate ?? NaN,
        deliveriesPerSec: shown?.deliveriesPerSec ?? NaN,
        p50Us: shown?.p50Us ?? NaN,
        p99Us: shown?.p99Us ?? NaN,
        generatorCpu: (shown ?? steps[0]!).generatorCpu,
        acknowledgments,
        deliveries,
        connectMs,
        generatorUsPerDelivery: cpuUs,
      };
    } finally {
      clearInterval(timer);
    }
  } finally {
    stopping = true;
    for (const user of users) {
      if (user === undefined) continue;
      user.closing = true;
      user.socket.destroy();
    }
  }
}

/** Waits (polling every 5 ms) until `done()` holds; fails the run after `timeoutMs`. */
async function until(failure: Failure, done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await failure.wait(5);
  }
}

/** The closing handshake from the client's side, then the end of TCP (the server closes it). */
function closeUser(user: ChatUser): Promise<void> {
  user.closing = true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      user.socket.destroy();
      resolve();
    }, 5000);
    user.socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    user.socket.write(CLOSE_FRAME);
  });
}
