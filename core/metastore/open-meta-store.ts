import type { Logger } from 'pino';
import { formatPath } from '../config/config-error';
import { sameConfig } from '../config/reload-scope';
import { configuredStores } from '../config/driver-availability';
import { remoteCacheDriver, type StorageConfig, type StoreConfig } from '../config/storage-schema';
import type { MetaStore, MetaStoreFactory } from './meta-store';

/** The embedded store: what Zot's local `boltdb` cache and an absent `cacheDriver` become. */
export const EMBEDDED_META_STORE = 'sqlite';

export interface MetaStoreChoice {
  kind: string;
  /** The config key that chose it, for errors. */
  key: string;
  params: Record<string, unknown>;
}

/**
 * The MetaStore a store config asks for. Zot uses `cacheDriver` only with `remoteCache` on (it warns and
 * uses boltdb otherwise), so anything else, `boltdb` included, is the embedded store under the root.
 */
export function metaStoreChoice(store: StoreConfig, at: PropertyKey[] = ['storage']): MetaStoreChoice {
  const cache = remoteCacheDriver(store);
  if (cache) {
    return { kind: cache.name, key: formatPath([...at, 'cacheDriver']), params: { ...cache } };
  }
  return { kind: EMBEDDED_META_STORE, key: formatPath([...at, 'rootDirectory']), params: {} };
}

/** Every store config's MetaStore choice, the default store first. */
function metaStoreChoices(storage: StorageConfig): MetaStoreChoice[] {
  return configuredStores(storage).map(({ at, store }) => metaStoreChoice(store, at));
}

/** Why a config's MetaStore kinds cannot run with the `available` ones (empty = they all can); shared with verify. */
export function unavailableMetaStores(storage: StorageConfig, available: ReadonlySet<string>): string[] {
  return metaStoreChoices(storage)
    .filter((c) => !available.has(c.kind))
    .map((c) => `${c.key}: the ${JSON.stringify(c.kind)} metadata store is not available in this build; berth refuses to start rather than keep shared state on this node only`);
}

/**
 * Opens the MetaStore of the default store. A remote kind nobody registered stops start-up naming
 * `storage.cacheDriver`: serving with a local file instead would silently keep uploads, locks and the dedupe
 * index on one replica when the operator configured them to be shared. The same holds for `subPaths` stores,
 * which share the default store's MetaStore for now.
 */
export async function openMetaStore(storage: StorageConfig, factories: ReadonlyMap<string, MetaStoreFactory>, logger: Logger): Promise<MetaStore> {
  const choices = metaStoreChoices(storage);
  const [missing] = unavailableMetaStores(storage, new Set(factories.keys()));
  if (missing) throw new Error(missing);
  const [main] = choices;
  if (main.kind === EMBEDDED_META_STORE && storage.rootDirectory === '') {
    throw new Error('storage.rootDirectory: required for the embedded metadata database (or configure a remote storage.cacheDriver)');
  }
  // A route naming its own cache (Zot's config-s3.json gives /c its own DynamoDB table) is told it is not used.
  for (const c of choices.slice(1)) {
    if (c.kind !== main.kind || !sameConfig(c.params, main.params)) logger.warn({ key: c.key, kind: c.kind, using: main.kind }, 'subPaths stores share the default store\'s metadata store for now');
  }
  const store = await factories.get(main.kind)!({ rootDirectory: storage.rootDirectory, params: main.params, logger: logger.child({ component: 'metastore' }) });
  logger.debug({ kind: store.kind }, 'metadata store open');
  return store;
}
