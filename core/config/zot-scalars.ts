/**
 * Scalar schemas that decode like Zot. Zot unmarshals its config through viper with mapstructure's
 * `WeaklyTypedInput`, so `"389"` is a valid int, `"true"` a valid bool, `8080` (YAML's unquoted port) a valid
 * string and a lone value a one-element list. Configs in the wild rely on that; anything else is an error
 * whose message names the expected type.
 */
import { z } from 'zod';
import { parseGoDuration } from './duration';

// strconv.ParseBool's accepted spellings, which mapstructure uses for string → bool.
const BOOL_WORDS = new Map<string, boolean>([
  ['1', true], ['t', true], ['T', true], ['true', true], ['TRUE', true], ['True', true],
  ['0', false], ['f', false], ['F', false], ['false', false], ['FALSE', false], ['False', false],
]);

export const zBool = z.preprocess(
  (v) => (typeof v === 'string' && BOOL_WORDS.has(v) ? BOOL_WORDS.get(v) : v),
  z.boolean(),
);

export const zInt = z.preprocess(
  (v) => (typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v) ? Number(v.trim()) : v),
  z.number().int(),
);

export const zNumber = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v),
  z.number(),
);

export const zNonNegInt = zInt.refine((n) => n >= 0, { message: 'must not be negative' });

export const zStr = z.preprocess(
  (v) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : v),
  z.string(),
);

/** A string that must not be empty (Zot's "missing mandatory key" when ""). */
export const zReqStr = zStr.refine((s) => s.trim() !== '', { message: 'must not be empty' });

/** A list; a lone scalar becomes a one-element list as in mapstructure's weak decoding. */
export function zList<T extends z.ZodType>(element: T) {
  return z.preprocess(
    (v) => (v !== undefined && v !== null && typeof v !== 'object' ? [v] : v),
    z.array(element),
  );
}

export const zStrList = zList(zStr);

/**
 * A Go duration string → milliseconds. A bare number is nanoseconds, because that is what
 * mapstructure makes of a number decoded into a `time.Duration`.
 */
export const zDuration = z.unknown().transform((v, ctx): number => {
  if (typeof v === 'string') {
    try {
      return parseGoDuration(v.trim());
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  }
  if (typeof v === 'number' && Number.isInteger(v)) return v / 1e6;
  ctx.addIssue({ code: 'custom', message: `expected duration string such as "90s" or "1h30m", received ${typeName(v)}` });
  return z.NEVER;
});

/** A name for the JSON/YAML type of a value, for "expected X, received Y" messages. */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number' && !Number.isFinite(v)) return 'number';
  return typeof v === 'object' ? 'object' : typeof v;
}
