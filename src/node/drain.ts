/**
 * Drain for deploys (issue 16): `server.drain({ deadline, code = 1012 })` closes a server's
 * connections in waves spread over `deadline`, with jitter, so that its clients do not all come
 * back at the same moment to the instances that remain (a `close()` sends every close frame at
 * once: every client reconnects within its first backoff step, a herd).
 *
 * The plan, for `n` connections and `waves` waves over `deadline` ms:
 *
 * - the connections are shuffled, then cut into `waves` groups of nearly equal size (which
 *   connection goes first is random, not the oldest or the newest);
 * - wave k owns the slot [k, k + 1) x deadline / waves, and goes out at a uniform random time in
 *   the first half of its slot, so the waves are spread and jittered, and the last one still has
 *   half a slot for its closing handshakes;
 * - at `deadline`, whatever is still open is destroyed.
 *
 * The code sent is 1012 (Service Restart) by default: a reconnecting client (ours honours it, see
 * reconnect/policy.ts) comes back after a randomized delay, which spreads the herd further.
 * Timers are the global setTimeout/clearTimeout, so the unit tests run it on a fake clock.
 */

import { CloseCode } from '../protocol/close.js';
import type { CloseResult, ReadyState } from '../protocol/connection.js';
import { WebSocketError } from '../protocol/errors.js';
import { closeArgumentsError } from './send-arguments.js';

/** How `server.drain()` closes the connections. */
export interface DrainOptions {
  /**
   * Milliseconds from the call by which every connection is closed: the waves are spread over
   * it, and what is still open at the deadline is destroyed. 0 to 2^31-1.
   * @defaultValue 30000
   */
  deadline?: number;
  /**
   * Close code sent to every connection.
   * @defaultValue 1012 (service restart: clients reconnect after a randomized delay)
   */
  code?: number;
  /**
   * Close reason sent to every connection (at most 123 bytes of UTF-8).
   * @defaultValue 'service restart'
   */
  reason?: string;
  /**
   * How many waves the connections are closed in. 1 to 1000.
   * @defaultValue 10
   */
  waves?: number;
}

export interface ResolvedDrain {
  readonly deadline: number;
  readonly code: number;
  readonly reason: string;
  readonly waves: number;
}

export const DRAIN_DEFAULTS = { deadline: 30_000, code: CloseCode.SERVICE_RESTART, reason: 'service restart', waves: 10 } as const;

const MAX_TIMER = 2 ** 31 - 1;

/** The options with their defaults; throws WS_ERR_INVALID_ARGUMENT for one out of bounds. */
export function resolveDrain(options: DrainOptions): ResolvedDrain {
  const deadline = options.deadline ?? DRAIN_DEFAULTS.deadline;
  if (!Number.isInteger(deadline) || deadline < 0 || deadline > MAX_TIMER) {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `drain(): deadline must be an integer from 0 to 2^31-1, got ${String(deadline)}`);
  }
  const waves = options.waves ?? DRAIN_DEFAULTS.waves;
  if (!Number.isInteger(waves) || waves < 1 || waves > 1000) {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `drain(): waves must be an integer from 1 to 1000, got ${String(waves)}`);
  }
  const code = options.code ?? DRAIN_DEFAULTS.code;
  const reason = options.reason ?? DRAIN_DEFAULTS.reason;
  const invalid = closeArgumentsError(code, reason);
  if (invalid !== null) throw invalid;
  return { deadline, code, reason, waves };
}

/** What drainConnections() needs of a connection (a Ws). */
export interface Drainable {
  readonly readyState: ReadyState;
  readonly closed: Promise<CloseResult>;
  close(code: number, reason: string): Promise<CloseResult>;
  terminate(reason?: string): void;
}

/** When each wave goes out (ms from the start) and how many connections it closes, for `count` connections. */
export function planWaves(count: number, plan: ResolvedDrain, random: () => number): { at: number; size: number }[] {
  if (count === 0) return [];
  const waves = Math.min(plan.waves, count);
  const slot = plan.deadline / plan.waves;
  const out: { at: number; size: number }[] = [];
  for (let k = 0; k < waves; k++) {
    // Nearly equal sizes: the first (count % waves) waves take one more.
    const size = Math.floor(count / waves) + (k < count % waves ? 1 : 0);
    // Fewer connections than waves: they still spread over the whole deadline.
    const index = waves === plan.waves ? k : Math.floor((k * plan.waves) / waves);
    out.push({ at: Math.floor(index * slot + (random() * slot) / 2), size });
  }
  return out;
}

/**
 * Closes `connections` in waves (see the module comment). Resolves once every one has closed
 * (`closed`: the closing handshake completed by the deadline) or was destroyed at the deadline
 * (`terminated`).
 */
export async function drainConnections(
  connections: readonly Drainable[],
  plan: ResolvedDrain,
  random: () => number = Math.random,
): Promise<{ closed: number; terminated: number }> {
  if (connections.length === 0) return { closed: 0, terminated: 0 };
  const order = [...connections];
  // Fisher-Yates: which connections go first is random.
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  let closed = 0;
  let terminated = 0;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const finished: Promise<void>[] = [];
  let deadlinePassed = false;
  const wavesLeft: (() => void)[] = [];
  const deadline = new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      deadlinePassed = true;
      // Waves not sent yet (only with a deadline shorter than a timer's delay): they go now.
      for (const send of wavesLeft.splice(0)) send();
      resolve();
    }, plan.deadline);
    timers.add(timer);
  });

  const closeOne = async (ws: Drainable): Promise<void> => {
    const result = deadlinePassed ? null : await Promise.race([ws.close(plan.code, plan.reason).catch(() => null), deadline.then(() => null)]);
    if (result !== null && result.wasClean) {
      closed++;
      return;
    }
    // The deadline passed (or the close could not be sent): destroyed, and gone for good.
    terminated++;
    ws.terminate('server drained');
    await ws.closed;
  };

  let next = 0;
  for (const wave of planWaves(order.length, plan, random)) {
    const members = order.slice(next, next + wave.size);
    next += wave.size;
    let done!: () => void;
    finished.push(new Promise<void>((resolve) => (done = resolve)));
    const send = (): void => {
      void Promise.all(members.map((ws) => (ws.readyState === 'closed' ? ws.closed.then(() => void closed++) : closeOne(ws)))).then(() => done());
    };
    wavesLeft.push(send);
    const timer = setTimeout(() => {
      timers.delete(timer);
      const index = wavesLeft.indexOf(send);
      if (index < 0) return;
      wavesLeft.splice(index, 1);
      send();
    }, wave.at);
    timers.add(timer);
  }
  await Promise.all(finished);
  for (const timer of timers) clearTimeout(timer);
  return { closed, terminated };
}
