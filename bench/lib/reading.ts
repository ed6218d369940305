/**
 * What the load generators (load.ts on TCP, load-h2.ts on HTTP/2 streams, lib/fanout.ts) do alike
 * with the frames they read: keep an idle connection alive, count the messages a chunk completes,
 * time echoes against the frames in flight, and report the echo mode's figures.
 */

import { OP, maskedFrame } from '../../testkit/index.js';
import { FrameParser } from './frames.js';
import type { Failure, Window } from './generator.js';
import type { Histogram } from './histogram.js';
import type { EchoResult, EchoSpec } from './ipc.js';

/**
 * A parser for a connection that is idle but alive: each ping is answered (rfc6455's keepalive)
 * through `write`; a close frame calls `closed`; messages are not kept.
 */
export function idleParser(write: (frame: Buffer) => void, closed: () => void): FrameParser {
  return new FrameParser(
    {
      control(code, data) {
        if (code === OP.PING) write(maskedFrame(OP.PONG, data));
        else if (code === OP.CLOSE) closed();
      },
      sample() {},
    },
    -1,
    -1,
  );
}

/** Pushes `chunk` into `parser`: the number of messages it completed, 0 after a frame error (reported to `failure`). */
export function pushCounting(parser: FrameParser, chunk: Buffer, failure: Failure): number {
  const before = parser.messages;
  try {
    parser.push(chunk);
  } catch (error) {
    failure.fail(error);
    return 0;
  }
  return parser.messages - before;
}

/**
 * The send times of a connection's K frames in flight, oldest first. Echoes come back in order,
 * and the ring is always full: the slot an echo frees is the one its replacement's time goes in.
 */
export class InFlight {
  private readonly times: Float64Array;
  private head = 0;

  constructor(k: number) {
    this.times = new Float64Array(k);
  }

  /** The first K frames, all sent now. */
  start(): void {
    this.times.fill(performance.now());
  }

  /** `n` echoes arrived now, and as many frames are sent again: their round trips go into `histogram`, if given. */
  echoed(n: number, histogram: Histogram | null): void {
    const now = performance.now();
    const k = this.times.length;
    for (let j = 0; j < n; j++) {
      if (histogram !== null) histogram.record(now - this.times[this.head]!);
      this.times[this.head] = now;
      this.head = this.head + 1 === k ? 0 : this.head + 1;
    }
  }
}

/** The echo mode's result: its figures from the measured window and the round trips recorded. */
export function echoResult(
  spec: EchoSpec,
  { count, windowMs, generatorCpu }: Window,
  histogram: Histogram,
  checked: Pick<EchoResult, 'verified' | 'compressedEchoes' | 'extensions'>,
): EchoResult {
  return {
    mode: 'echo',
    windowMs,
    messages: count,
    messagesPerSec: (count / windowMs) * 1000,
    mbPerSec: (count * spec.size) / windowMs / 1000,
    p50Us: histogram.quantileUs(0.5),
    p99Us: histogram.quantileUs(0.99),
    maxUs: histogram.maxUs(),
    generatorCpu,
    verified: checked.verified,
    compressedEchoes: checked.compressedEchoes,
    extensions: checked.extensions,
  };
}
