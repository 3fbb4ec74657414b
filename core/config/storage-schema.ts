/**
 * `storage`: the default store plus `subPaths` stores. Defaults follow Zot's loader, several of which depend on
 * whether a key was written at all (viper `IsSet`), so fields are parsed optional and resolved in one transform:
 * - the default store dedupes and collects garbage unless told not to; a `subPaths` entry starts from Go zero
 *   values (dedupe and gc off), as Zot decodes it into an empty struct;
 * - `gcDelay`/`gcInterval` are 1h with gc on and 0 with gc off unless written; `retention.delay` follows `gcDelay`;
 * - `remoteCache` turns on with a cloud driver and dedupe unless written.
 */
import path from 'node:path';
import { z } from 'zod';
import {
  type CacheDriverConfig,
  CACHE_DRIVERS,
  cacheDriverSchema,
  type StorageDriverConfig,
  storageDriverSchema,
} from './driver-schema';
import { type RetentionConfig, retentionInputSchema } from './retention-schema';
import { parseTimeWindow } from './time-window';
import { zBool, zDuration, zNonNegInt, zStr } from './zot-scalars';

const HOUR_MS = 3_600_000;

const storeShape = {
  rootDirectory: zStr.optional(),
  dedupe: zBool.optional(),
  remoteCache: zBool.optional(),
  gc: zBool.optional(),
  commit: zBool.optional(),
  gcDelay: zDuration.optional(),
  gcInterval: zDuration.optional(),
  // "HH:MM-HH:MM" (or HH.MM); GC runs only start inside it; empty = any time.
  gcTimeWindow: zStr.optional(),
  retention: retentionInputSchema.optional(),
  redirectBlobURL: zBool.optional(),
  maxRepos: zNonNegInt.optional(),
  storageDriver: storageDriverSchema.optional(),
  cacheDriver: cacheDriverSchema.optional(),
};

type StoreInput = z.output<z.ZodObject<typeof storeShape>>;

export interface StoreConfig {
  /** Local root; with a cloud driver it still holds local databases. Empty only with a cloud driver. */
  rootDirectory: string;
  dedupe: boolean;
  gc: boolean;
  /** Milliseconds. */
  gcDelay: number;
  /** Milliseconds; 0 = no periodic GC. */
  gcInterval: number;
  gcTimeWindow?: string;
  retention: RetentionConfig;
  commit: boolean;
  remoteCache: boolean;
  redirectBlobURL: boolean;
  /** 0 = unlimited. */
  maxRepos: number;
  storageDriver?: StorageDriverConfig;
  cacheDriver?: CacheDriverConfig;
}

export interface StorageConfig extends StoreConfig {
  subPaths?: Record<string, StoreConfig>;
  fastRestart: boolean;
}

/**
 * The cache driver a store's MetaStore comes from, when it is a remote one: Zot uses `cacheDriver` only with
 * `remoteCache` on (it warns and uses boltdb otherwise), and `boltdb` (or berth's own `sqlite`) is a local file.
 */
export function remoteCacheDriver(store: StoreConfig): CacheDriverConfig | undefined {
  const cache = store.cacheDriver;
  return cache && store.remoteCache && !LOCAL_CACHE_DRIVERS.includes(cache.name) ? cache : undefined;
}

const LOCAL_CACHE_DRIVERS = ['boltdb', 'sqlite'];

function resolveStore(input: StoreInput, zeroValued: boolean): StoreConfig {
  const dedupe = input.dedupe ?? !zeroValued;
  const gc = input.gc ?? !zeroValued;
  const gcDelay = input.gcDelay ?? (gc ? HOUR_MS : 0);
  const retention = input.retention ?? { dryRun: false, policies: [] };
  return {
    rootDirectory: input.rootDirectory ?? '',
    dedupe,
    gc,
    gcDelay,
    gcInterval: input.gcInterval ?? (gc ? HOUR_MS : 0),
    ...(input.gcTimeWindow ? { gcTimeWindow: input.gcTimeWindow } : {}),
    retention: { dryRun: retention.dryRun, delay: retention.delay ?? (gc ? gcDelay : 0), policies: retention.policies },
    commit: input.commit ?? false,
    remoteCache: input.remoteCache ?? (dedupe && input.storageDriver !== undefined),
    redirectBlobURL: input.redirectBlobURL ?? false,
    maxRepos: input.maxRepos ?? 0,
    ...(input.storageDriver ? { storageDriver: input.storageDriver as StorageDriverConfig } : {}),
    ...(input.cacheDriver ? { cacheDriver: input.cacheDriver } : {}),
  };
}

const subPathSchema = z.strictObject(storeShape).transform((input) => resolveStore(input, true));

export const storageSchema = z
  .strictObject({
    ...storeShape,
    subPaths: z.record(z.string(), subPathSchema).optional(),
    fastRestart: zBool.optional(),
  })
  .transform((input): StorageConfig => {
    const store = resolveStore(input, false);
    const driver = store.storageDriver;
    // Zot's deprecated compatibility rule, applied to the default store only (as Zot does).
    if (driver?.name === 's3' && driver.regionendpoint !== undefined && driver.forcepathstyle === undefined) {
      store.storageDriver = { ...driver, forcepathstyle: true };
    }
    return { ...store, ...(input.subPaths ? { subPaths: input.subPaths } : {}), fastRestart: input.fastRestart ?? false };
  })
  .superRefine((storage, ctx) => {
    checkStore(storage, [], false, ctx);
    for (const [route, sub] of Object.entries(storage.subPaths ?? {})) checkStore(sub, ['subPaths', route], true, ctx);
    checkRootsDisjoint(storage, ctx);
  });

type Ctx = z.RefinementCtx;

function fail(ctx: Ctx, path: PropertyKey[], message: string): void {
  ctx.addIssue({ code: 'custom', path, message });
}

/** Zot's fatal storage combinations (validateGC, validateCacheConfig, rootDirectory). */
function checkStore(store: StoreConfig, at: PropertyKey[], isSubPath: boolean, ctx: Ctx): void {
  if (store.rootDirectory === '' && !store.storageDriver) fail(ctx, [...at, 'rootDirectory'], 'required');
  if (store.gcDelay < 0) fail(ctx, [...at, 'gcDelay'], 'must not be negative');
  if (store.gcInterval < 0) fail(ctx, [...at, 'gcInterval'], 'must not be negative');
  if (isSubPath && store.gc && store.gcDelay <= 0) fail(ctx, [...at, 'gcDelay'], 'must be positive when gc is on');
  const window = store.gcTimeWindow === undefined ? undefined : parseTimeWindow(store.gcTimeWindow);
  if (window instanceof Error) {
    fail(ctx, [...at, 'gcTimeWindow'], `invalid time window ${JSON.stringify(store.gcTimeWindow)}: ${window.message} (expected "HH:MM-HH:MM" with different start and end)`);
  }
  const cache = store.cacheDriver;
  if (store.dedupe && store.storageDriver && store.remoteCache && !cache) {
    fail(ctx, [...at, 'cacheDriver'], 'required: dedupe with a cloud storageDriver and remoteCache needs a remote cache (dynamodb or redis), or set remoteCache: false');
  }
  if (!cache || !store.remoteCache) return; // Zot ignores a cacheDriver without remoteCache (with a warning)
  const allowed = isSubPath ? ['dynamodb'] : store.storageDriver ? ['dynamodb', 'redis'] : ['redis'];
  // A name Zot does not know may be a kind a third-party extension registers (metaStores.add): cross-checks.ts.
  if ((CACHE_DRIVERS as readonly string[]).includes(cache.name) && !allowed.includes(cache.name)) {
    const why = !store.storageDriver && cache.name === 'dynamodb' ? 'local storage cannot use a remote dynamodb cache' : `expected ${allowed.join(' or ')} here`;
    fail(ctx, [...at, 'cacheDriver', 'name'], `unsupported cache driver ${JSON.stringify(cache.name)}: ${why}`);
  }
  if (isSubPath && !store.storageDriver) fail(ctx, [...at, 'cacheDriver'], 'a subPaths store with local storage cannot use a remote cache');
  if (cache.name === 'redis' && !cache.url && !cache.addr?.length) fail(ctx, [...at, 'cacheDriver', 'url'], 'redis needs url or addr');
}

/**
 * Roots of stores of the same kind. Zot (validateStorageConfig) refuses a `subPaths` root equal to the default
 * root, and two routes on one root unless their gc, dedupe, gcDelay, gcInterval and redirectBlobURL are equal
 * (they then share one image store). berth also refuses nested roots: the outer store's walk would list the
 * inner store's repositories under other names.
 */
function checkRootsDisjoint(storage: StorageConfig, ctx: Ctx): void {
  const stores = [
    { route: '', store: storage as StoreConfig },
    ...Object.entries(storage.subPaths ?? {}).map(([route, store]) => ({ route, store })),
  ].map(({ route, store }) => ({ route, store, dir: store.rootDirectory, kind: store.storageDriver?.name ?? 'local' }))
    .sort((a, b) => a.route.localeCompare(b.route));
  const name = (route: string) => (route === '' ? 'the default store' : `subPaths ${JSON.stringify(route)}`);
  for (const [i, a] of stores.entries()) {
    for (const b of stores.slice(i + 1)) {
      if (a.kind !== b.kind || a.dir === '' || b.dir === '') continue;
      const [pa, pb] = [path.resolve(a.dir), path.resolve(b.dir)];
      const nested = (inner: string, outer: string) => inner.startsWith(outer.endsWith(path.sep) ? outer : outer + path.sep);
      let reason: string | undefined;
      if (pa.toLowerCase() === pb.toLowerCase()) {
        if (a.route === '') reason = `same root directory as ${name(a.route)}`;
        else if (!sameSharedParams(a.store, b.store)) reason = `same root directory as ${name(a.route)} with other gc, dedupe, gcDelay, gcInterval or redirectBlobURL (routes may share a root only with equal ones)`;
      } else if (nested(pb, pa)) reason = `root directory is inside the root of ${name(a.route)}`;
      else if (nested(pa, pb)) reason = `root directory contains the root of ${name(a.route)}`;
      if (reason) fail(ctx, b.route === '' ? ['rootDirectory'] : ['subPaths', b.route, 'rootDirectory'], reason);
    }
  }
}

/**
 * True when a `subPaths` route can match a repository name: Zot compares `/` plus a name's first segment, so a
 * route of several segments or with characters no name has (`/a/b`, `/Team`, `a`) never matches.
 */
export function isMatchableRoute(route: string): boolean {
  return /^\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/.test(route);
}

/** Zot's StorageConfig.ParamsEqual: what routes sharing one image store must agree on. */
function sameSharedParams(a: StoreConfig, b: StoreConfig): boolean {
  return a.gc === b.gc && a.dedupe === b.dedupe && a.gcDelay === b.gcDelay && a.gcInterval === b.gcInterval && a.redirectBlobURL === b.redirectBlobURL;
}
