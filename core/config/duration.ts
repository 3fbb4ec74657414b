/**
 * Go `time.ParseDuration` semantics, because Zot's durations ("90s", "1h30m", "500ms", "-1h") go through it.
 * No day unit, no spaces, a unit on every number except a bare "0".
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign, accepted by Go
  'μs': 1e-3, // U+03BC greek mu, accepted by Go
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const WHOLE = /^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;

export class DurationError extends Error {
  constructor(input: string) {
    super(`invalid duration ${JSON.stringify(input)}`);
    this.name = 'DurationError';
  }
}

/** Parses a Go duration string to milliseconds (fractional below 1 ms). Throws {@link DurationError}. */
export function parseGoDuration(input: string): number {
  if (input === '0' || input === '+0' || input === '-0') return 0;
  if (!WHOLE.test(input)) throw new DurationError(input);
  const sign = input.startsWith('-') ? -1 : 1;
  let total = 0;
  for (const [, amount, unit] of input.matchAll(PART)) total += Number(amount) * UNIT_MS[unit as string]!;
  return sign * total;
}

/** Milliseconds → a compact Go-style duration ("1h30m", "90s" → "1m30s", "500ms"), for human output. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  const parts: string[] = [];
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    const count = Math.floor(rest / size);
    if (count > 0) parts.push(`${count}${unit}`);
    rest -= count * size;
  }
  if (rest > 0) parts.push(`${Number(rest.toFixed(6))}ms`);
  return sign + parts.join('');
}
