/** Small numeric helpers for the report. */

/** The median of the finite values, or NaN when there are none. */
export function median(values: readonly number[]): number {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  const n = finite.length;
  if (n === 0) return NaN;
  const middle = Math.floor(n / 2);
  return n % 2 === 1 ? finite[middle]! : (finite[middle - 1]! + finite[middle]!) / 2;
}

/** A number for a table: thousands separators, about three significant digits for small ones. */
export function formatNumber(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  const magnitude = Math.abs(value);
  const digits = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatRatio(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  return `${value.toFixed(2)}×`;
}

/**
 * A ratio's rounds, for the cell after its median: a round without one ("—") is one the median
 * left out, as a chat round where the peer sustained no rate of the ladder (nothing to compare).
 */
export function formatRounds(values: readonly number[]): string {
  return values.map((value) => (Number.isFinite(value) ? value.toFixed(2) : '—')).join(', ');
}
