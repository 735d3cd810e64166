/**
 * @module bench/stats
 * Order statistics and formatting shared by the benchmarks. Percentiles use the nearest-rank
 * method on the sorted samples, so a p99 of 50 samples is honestly "the worst but one or so",
 * not an interpolation that pretends to more resolution than the run had.
 */

/** Nearest-rank percentile (p in 0..100) of `xs`; NaN for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Rounds to `digits` decimals (for JSON output that stays readable). */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function summarize(xs: readonly number[], digits = 3): Summary {
  return {
    n: xs.length,
    p50: round(percentile(xs, 50), digits),
    p99: round(percentile(xs, 99), digits),
    max: round(xs.length ? Math.max(...xs) : NaN, digits),
  };
}

/** Renders rows as a fixed-width text table (first row = header). */
export function table(rows: readonly (readonly (string | number)[])[]): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths: number[] = [];
  for (const r of cells) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const line = (r: string[]): string => r.map((c, i) => c.padStart(widths[i]!)).join('  ');
  const out = cells.map(line);
  out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return out.join('\n');
}

/** Parses "1000,10000" into positive integers; throws naming the flag on anything else. */
export function intList(flag: string, s: string): number[] {
  const xs = s.split(',').map((x) => Number(x.trim()));
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x <= 0))
    throw new Error(`--${flag} wants a comma-separated list of positive integers, got "${s}"`);
  return xs;
}

export function positiveInt(flag: string, s: string): number {
  const x = Number(s);
  if (!Number.isInteger(x) || x <= 0)
    throw new Error(`--${flag} wants a positive integer, got "${s}"`);
  return x;
}
