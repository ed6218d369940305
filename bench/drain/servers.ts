/**
 * The two instances of `npm run bench:drain` (bench/drain.ts), in one process pinned to the
 * server's CPU: A, which the clients connect to first and which then stops (`close()` or
 * `drain()`), and B, which takes them over and records when each arrives. Answers over IPC:
 *   { type: 'listening', a, b }                        once both listen
 *   { type: 'stop', mode, deadline, expected }  ->     { type: 'moved', arrivals, stoppedAfter, result }
 * `arrivals` are milliseconds from the moment A was told to stop to each handshake on B.
 */

import { WebSocketServer } from '../../src/index.js';

type Mode = 'close' | 'close-1012' | 'drain';
type Request = { type: 'stop'; id: number; mode: Mode; deadline: number; expected: number; timeout: number };

const a = new WebSocketServer({ handler: () => undefined });
let started = -1;
const arrivals: number[] = [];
let wake: (() => void) | null = null;
const b = new WebSocketServer({
  handler: () => {
    if (started >= 0) arrivals.push(performance.now() - started);
    wake?.();
  },
});

const addressA = await a.listen(0, '127.0.0.1');
const addressB = await b.listen(0, '127.0.0.1');
process.send!({ type: 'listening', a: addressA.port, b: addressB.port });

process.on('message', (message: Request) => {
  if (message.type !== 'stop') return;
  void stop(message);
});
process.on('disconnect', () => process.exit(0));

async function stop({ id, mode, deadline, expected, timeout }: Request): Promise<void> {
  const open = a.clients.size;
  started = performance.now();
  const stopping =
    mode === 'drain' ? a.drain({ deadline, code: 1012 }) : a.close({ code: mode === 'close' ? 1001 : 1012, timeout: 5000 });
  const result = await stopping;
  const stoppedAfter = performance.now() - started;
  const limit = started + timeout;
  while (arrivals.length < expected && performance.now() < limit) {
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, 200).unref();
    });
  }
  wake = null;
  process.send!({ type: 'moved', id, arrivals, stoppedAfter, open, result });
}
