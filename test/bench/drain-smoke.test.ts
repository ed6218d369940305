/**
 * `npm run bench:drain` (bench/drain.ts) at smoke scale: 60 clients, a 400 ms drain, a 1000 ms
 * maxDelay. It only has to run and account for every client: the numbers mean nothing here.
 */

import { expect, it } from 'vitest';
import { figures, measure } from '../../bench/drain.js';

it('bench/drain.ts moves every client from A to B in each mode and reports its figures', async () => {
  for (const mode of ['close', 'drain'] as const) {
    const result = await measure(mode, { clients: 60, deadline: 400, maxDelay: 1000, pin: false });
    expect([result.mode, result.moved, result.clients]).toEqual([mode, 60, 60]);
    expect(result.perSecond.reduce((sum, n) => sum + n, 0)).toBe(60);
    expect(result.p10).toBeLessThanOrEqual(result.p50);
    expect(result.p90).toBeLessThanOrEqual(result.last);
  }
}, 60_000);

it('figures(): peak per 100 ms, percentiles, spread and connects per second', () => {
  const result = figures('drain', 6, [50, 60, 70, 950, 1500, 2050], 2000);
  expect(result).toMatchObject({ moved: 6, peakPer100ms: 3, p10: 50, p50: 70, p90: 2050, last: 2050, spread: 2000, perSecond: [4, 1, 1] });
});
