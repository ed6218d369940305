/**
 * A latency histogram: fixed memory whatever the number of samples, no allocation per sample.
 * Values are kept in units of 0.1 µs: exact below 204.8 µs, then within 0.1% (1024 sub-buckets per
 * power of two), up to about 3.5 minutes.
 */

const LINEAR = 2048;
const SUB = 1024;
const POWERS = 21;
const UNITS_PER_MS = 10_000;

export class Histogram {
  private readonly counts = new Uint32Array(LINEAR + POWERS * SUB);
  count = 0;
  private max = 0;

  /** Records one latency, in milliseconds. */
  record(ms: number): void {
    let v = Math.round(ms * UNITS_PER_MS);
    if (v < 0) v = 0;
    if (v > 0x7fffffff) v = 0x7fffffff;
    if (v > this.max) this.max = v;
    this.counts[index(v)]!++;
    this.count++;
  }

  /** Forgets every sample. */
  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
  }

  /** The q-quantile (0..1) in microseconds, or NaN without samples. */
  quantileUs(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i]!;
      if (seen >= rank) return Math.min(value(i), this.max) / 10;
    }
    return this.max / 10;
  }

  maxUs(): number {
    return this.max / 10;
  }
}

function index(v: number): number {
  if (v < LINEAR) return v;
  const e = 32 - Math.clz32(v) - 11; // v >> e is in [1024, 2048)
  return LINEAR + (e - 1) * SUB + ((v >> e) - SUB);
}

/** The middle of bucket i, in 0.1 µs units. */
function value(i: number): number {
  if (i < LINEAR) return i;
  const e = ((i - LINEAR) >> 10) + 1;
  const m = ((i - LINEAR) & (SUB - 1)) + SUB;
  return m * 2 ** e + 2 ** (e - 1);
}
