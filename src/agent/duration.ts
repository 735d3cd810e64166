/**
 * @module agent/duration
 * Go duration strings (`time.ParseDuration`): what KubeProxyConfiguration files hold ("1s",
 * "1m30s", "24h0m0s", "500ms") and what kpr's duration flags accept, so one syntax works in both.
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Parses a Go duration into milliseconds, or returns undefined when `s` is not one. Negative
 * durations are refused: no kpr setting means anything with them.
 */
export function tryParseGoDuration(s: string): number | undefined {
  const text = s.trim();
  if (text === '0') return 0;
  if (text === '' || text.startsWith('-')) return undefined;
  let i = text.startsWith('+') ? 1 : 0;
  if (i === text.length) return undefined;
  let total = 0;
  while (i < text.length) {
    PART.lastIndex = i;
    const m = PART.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    i = PART.lastIndex;
  }
  return total;
}

/** Formats milliseconds the way Go prints a duration (for docs, logs and error messages). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${+ms.toFixed(6)}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = +((ms % 60_000) / 1000).toFixed(9);
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}
