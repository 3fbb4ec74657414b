/**
 * Which config changes a live reload can apply (zot-reference §9). Zot copies a fixed set of fields into the
 * running config and needs a restart for the rest; berth reloads the same set, so a reload that touches anything
 * else must tell the operator which keys only take effect after a restart.
 */
import { formatPath } from './config-error';
import type { BerthConfig } from './schema';

const STORE_RELOADABLE = ['gc', 'dedupe', 'redirectBlobURL', 'gcDelay', 'gcInterval', 'gcTimeWindow', 'retention'];

/** Path patterns ('*' = any one key) whose whole subtree is reloaded in place. */
const RELOADABLE: ReadonlyArray<readonly string[]> = [
  ...STORE_RELOADABLE.map((key) => ['storage', key]),
  ...STORE_RELOADABLE.map((key) => ['storage', 'subPaths', '*', key]),
  ...['htpasswd', 'ldap', 'apikey', 'openid', 'secureSession', 'mtls'].map((key) => ['http', 'auth', key]),
  ['http', 'accessControl'],
  ['extensions', 'sync'],
  ['extensions', 'search', 'cve'],
  ['extensions', 'scrub'],
  ['distSpecVersion'], // informational only
  // Zot restarts to re-shard; berth reads neither members nor hashKey (no request is proxied), so a member added
  // to or removed from the list has nothing to restart (core/config/cluster.ts).
  ['cluster'],
];

/** True when `path` lies in a subtree a reload applies in place (`extra`: more such subtrees). */
export function isReloadable(path: readonly PropertyKey[], extra: ReadonlyArray<readonly string[]> = []): boolean {
  const under = (pattern: readonly string[]) => pattern.length <= path.length && pattern.every((seg, i) => seg === '*' || seg === path[i]);
  return RELOADABLE.some(under) || extra.some(under);
}

/**
 * Key paths that differ between two valid configs and need a restart to take effect; empty = fully reloadable.
 * `extra` adds subtrees applied in place beyond Zot's list (extensions that declare themselves reloadable).
 */
export function changesNeedingRestart(previous: BerthConfig, next: BerthConfig, extra: ReadonlyArray<readonly string[]> = []): string[] {
  const out: string[] = [];
  diff(previous, next, [], out, extra);
  return out;
}

function diff(a: unknown, b: unknown, path: PropertyKey[], out: string[], extra: ReadonlyArray<readonly string[]>): void {
  if (isReloadable(path, extra)) return;
  if (isObject(a) && isObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) diff(a[key], b[key], [...path, key], out, extra);
    return;
  }
  if (!sameConfig(a, b)) out.push(formatPath(path));
}

/** True when two parsed config values are equal (deep, order-sensitive for lists). */
export function sameConfig(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => sameConfig(item, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((key) => sameConfig(a[key], b[key]));
  }
  return Object.is(a, b);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
