import { describe, expect, it } from 'vitest';
import { formatRatio, formatRounds, median } from '../../bench/lib/stats.js';

describe("a ratio's rounds", () => {
  it('show a round without a ratio as —, and the median leaves it out', () => {
    // A chat-1k-max run where Socket.IO sustained a rate in round 2 only: rounds 1 and 3 have no
    // ratio (NaN from a quotient with nothing, or Infinity), and only round 2 decides the target.
    const rounds = [NaN, 0.24018, Infinity];
    expect(formatRounds(rounds)).toBe('—, 0.24, —');
    expect(formatRatio(median(rounds))).toBe('0.24×');
    expect(formatRounds([1, 2.5, 0.3])).toBe('1.00, 2.50, 0.30');
    expect(formatRatio(median([NaN, Infinity]))).toBe('—');
  });
});
