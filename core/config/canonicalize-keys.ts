/**
 * Zot reads its config through viper, which matches keys case-insensitively (`rootdirectory` works as well as
 * `rootDirectory`). zod matches exactly, so before validation this walks the raw input alongside the schema and
 * renames every key that matches a schema key case-insensitively to the schema's spelling. Free maps (records:
 * repository globs, subPaths routes, third-party extension names) keep their keys; driver parameter maps are
 * lower-cased, as viper hands them to Zot's drivers. Two keys that fold to the same name are an error, since
 * viper would silently keep one of them.
 */
import type { z } from 'zod';
import { issueAt } from './config-error';

interface Def {
  type: string;
  shape?: Record<string, Schema>;
  catchall?: Schema;
  innerType?: Schema;
  element?: Schema;
  valueType?: Schema;
  in?: Schema;
  out?: Schema;
  options?: readonly Schema[];
  getter?: () => Schema;
}
interface Schema {
  _zod: { def: Def };
}

const lowerCasedMaps = new WeakSet<object>();

/** Marks a schema whose input keys are all lower-cased before validation (storageDriver, cacheDriver, sessionDriver). */
export function lowerCaseKeys<T extends z.ZodType>(schema: T): T {
  lowerCasedMaps.add(schema);
  return schema;
}

export interface CanonicalResult {
  value: unknown;
  /** Colliding keys, as issue lines. */
  issues: string[];
}

export function canonicalizeKeys(raw: unknown, schema: z.ZodType): CanonicalResult {
  const issues: string[] = [];
  const value = walk(raw, schema as unknown as Schema, [], issues);
  return { value, issues };
}

const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'nonoptional', 'catch', 'readonly']);

function walk(value: unknown, schema: Schema, path: PropertyKey[], issues: string[]): unknown {
  let current: Schema | undefined = schema;
  // Unwrap modifiers down to the structural schema, noticing a lower-case marker on any layer.
  for (;;) {
    if (lowerCasedMaps.has(current)) return lowerCaseDeep(value, path, issues);
    const def: Def = current._zod.def;
    if (WRAPPERS.has(def.type)) current = def.innerType!;
    else if (def.type === 'lazy') current = def.getter!();
    // A transform's input is the raw value; preprocess pipes put the transform first and the schema after it.
    else if (def.type === 'pipe') current = def.in!._zod.def.type === 'transform' ? def.out! : def.in!;
    else break;
  }
  const def = current._zod.def;
  switch (def.type) {
    case 'object':
      return isPlainObject(value) ? foldObject(value, def, path, issues) : value;
    case 'record':
      return isPlainObject(value) ? walkRecord(value, def.valueType!, path, issues) : value;
    case 'array':
      return Array.isArray(value) ? value.map((item, i) => walk(item, def.element!, [...path, i], issues)) : value;
    case 'union': {
      const option = def.options!.find((o) => kindMatches(value, o)) ?? def.options![0];
      return option === undefined ? value : walk(value, option, path, issues);
    }
    default:
      return value;
  }
}

function foldObject(value: Record<string, unknown>, def: Def, path: PropertyKey[], issues: string[]): unknown {
  const shape = def.shape ?? {};
  const byLower = new Map(Object.keys(shape).map((key) => [key.toLowerCase(), key]));
  const catchall = def.catchall;
  const open = catchall !== undefined && !['never', 'unknown', 'any'].includes(catchall._zod.def.type);
  const out: Record<string, unknown> = {};
  const seen = new Map<string, string>();
  for (const [key, child] of Object.entries(value)) {
    const lower = key.toLowerCase();
    const canonical = byLower.get(lower) ?? key;
    const earlier = seen.get(lower);
    if (earlier !== undefined) {
      issues.push(issueAt([...path, canonical], collision(earlier, key)));
      continue;
    }
    seen.set(lower, key);
    const childSchema = shape[canonical] ?? (open ? catchall : undefined);
    out[canonical] = childSchema === undefined ? child : walk(child, childSchema, [...path, canonical], issues);
  }
  return out;
}

function walkRecord(value: Record<string, unknown>, valueType: Schema, path: PropertyKey[], issues: string[]): unknown {
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) out[key] = walk(child, valueType, [...path, key], issues);
  return out;
}

function lowerCaseDeep(value: unknown, path: PropertyKey[], issues: string[]): unknown {
  if (Array.isArray(value)) return value.map((item, i) => lowerCaseDeep(item, [...path, i], issues));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  const seen = new Map<string, string>();
  for (const [key, child] of Object.entries(value)) {
    const lower = key.toLowerCase();
    const earlier = seen.get(lower);
    if (earlier !== undefined) {
      issues.push(issueAt([...path, lower], collision(earlier, key)));
      continue;
    }
    seen.set(lower, key);
    out[lower] = lowerCaseDeep(child, [...path, lower], issues);
  }
  return out;
}

function collision(first: string, second: string): string {
  return `keys ${JSON.stringify(first)} and ${JSON.stringify(second)} are the same key (keys are case-insensitive); keep one`;
}

function kindMatches(value: unknown, schema: Schema): boolean {
  let def = schema._zod.def;
  while (WRAPPERS.has(def.type) || def.type === 'pipe') {
    def = def.type === 'pipe' ? (def.in!._zod.def.type === 'transform' ? def.out! : def.in!)._zod.def : def.innerType!._zod.def;
  }
  if (Array.isArray(value)) return def.type === 'array';
  if (isPlainObject(value)) return def.type === 'object' || def.type === 'record';
  return def.type !== 'array' && def.type !== 'object' && def.type !== 'record';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
