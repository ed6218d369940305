import { describe, expect, it } from 'vitest';
import type { CpuSample, FromServer } from '../../bench/lib/ipc.js';
import { windowFigures, type WindowMarks } from '../../bench/measure.js';

type CpuAnswer = Extract<FromServer, { type: 'cpu' }>;

const answer = (cpu: CpuSample): Promise<CpuAnswer> => Promise.resolve({ type: 'cpu', id: 1, cpu } as CpuAnswer);

/** A 5 s window as the harness saw it, with the server's answers at `startAt` and `endAt` of its own clock. */
function window(startAt: number, endAt: number, usedUs: number): WindowMarks {
  return {
    server: { start: answer({ user: 1_000_000, system: 0, at: startAt, writes: 10 }), end: answer({ user: 1_000_000 + usedUs, system: 0, at: endAt, writes: 1010 }) },
    machine: {},
    at: { start: 100, end: 5100 },
  };
}

describe("a window's server CPU", () => {
  it("is the server's CPU over its own clock when it answered the marks on time", async () => {
    const metrics = await windowFigures(40, window(2000, 7000, 4_000_000));
    expect([metrics.serverCpu, metrics.writesPerSec, metrics.generatorCpu]).toEqual([80, 200, 40]);
  });

  it('is left out when the server answered both marks together, seconds behind (Socket.IO past its limit: 2,062%)', async () => {
    // 20 ms of CPU between answers 1 ms apart: a server whose event loop was 5 s behind.
    const metrics = await windowFigures(40, window(7000, 7001, 20_000));
    expect([metrics.serverCpu, metrics.writesPerSec, metrics.generatorCpu]).toEqual([undefined, undefined, 40]);
    // At half the harness's window it still counts.
    expect((await windowFigures(40, window(2000, 4500, 2_500_000))).serverCpu).toBe(100);
  });
});
