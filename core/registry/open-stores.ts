import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Registry as PromRegistry } from 'prom-client';
import { formatPath } from '../config/config-error';
import { unavailableStorageDrivers } from '../config/driver-availability';
import { isMatchableRoute, type StorageConfig, type StoreConfig } from '../config/storage-schema';
import type { DriverFactory, StorageDriver } from '../storage/driver';
import { wrapDriver } from '../storage/wrap-driver';
import { type Store, Stores } from './stores';

const LOCAL = 'filesystem';

/**
 * Builds the default store and one store per `subPaths` route, each on its own wrapped driver. Local routes
 * with the same root share one driver, as Zot shares the image store (the config allows that only with equal
 * gc and dedupe settings); each route keeps its own settings. A driver nobody registered stops start-up: the
 * local disk instead of shared storage would split the data.
 */
export async function openStores(storage: StorageConfig, factories: ReadonlyMap<string, DriverFactory>, logger: Logger, metrics: PromRegistry): Promise<Stores> {
  const unavailable = unavailableStorageDrivers({ storage }, new Set(factories.keys()));
  if (unavailable.length > 0) throw new Error(unavailable.join('; '));
  const opened: StorageDriver[] = [];
  const defaultRoot = (storage.storageDriver as Record<string, unknown> | undefined)?.rootdirectory;
  const imageStoreRoot = typeof defaultRoot === 'string' && defaultRoot !== '' ? defaultRoot : '/';
  const localRoots = new Map<string, StorageDriver>();
  const open = async (store: StoreConfig, route: string): Promise<StorageDriver> => {
    const kind = store.storageDriver?.name ?? LOCAL;
    const root = path.resolve(store.rootDirectory || '.');
    const shared = kind === LOCAL ? localRoots.get(root) : undefined;
    if (shared) return shared;
    const factory = factories.get(kind);
    if (!factory) throw new Error(`${formatPath(route ? ['storage', 'subPaths', route, 'storageDriver'] : ['storage', 'storageDriver'])}: no storage driver "${kind}" is registered`);
    const params = kind === LOCAL ? {} : ((store.storageDriver ?? {}) as Record<string, unknown>);
    const driver = wrapDriver(await factory({ rootDirectory: store.rootDirectory, commit: store.commit === true, params, imageStoreRoot }), {
      logger: logger.child({ component: 'storage', ...(route ? { route } : {}) }),
      metrics,
    });
    opened.push(driver);
    if (kind === LOCAL) localRoots.set(root, driver);
    return driver;
  };
  try {
    const defaultStore: Store = { route: '', config: storage, driver: await open(storage, '') };
    const subPaths: Store[] = [];
    for (const [route, config] of Object.entries(storage.subPaths ?? {})) {
      // Zot ignores it the same way: nothing is opened for a route no name can reach.
      if (!isMatchableRoute(route)) logger.warn({ key: formatPath(['storage', 'subPaths', route]) }, 'this route never matches a repository name (a route is "/" and one name segment); not served');
      else subPaths.push({ route, config, driver: await open(config, route) });
    }
    return new Stores(defaultStore, subPaths, await openSpool(storage, defaultStore.driver, factories, open));
  } catch (err) {
    await closeDrivers(opened);
    throw err;
  }
}

/** The default store's driver when it is the local disk, else a filesystem driver on its rootDirectory. */
async function openSpool(storage: StorageConfig, defaultDriver: StorageDriver, factories: ReadonlyMap<string, DriverFactory>, open: (store: StoreConfig, route: string) => Promise<StorageDriver>): Promise<StorageDriver> {
  if ((storage.storageDriver?.name ?? LOCAL) === LOCAL) return defaultDriver;
  if (!factories.has(LOCAL)) throw new Error('storage.storageDriver: pull-through spools need the filesystem driver, which is not registered');
  // Without a local root (a remote MetaStore), spools go to the temp directory: they live only for one fill.
  const { storageDriver: _cloud, ...local } = storage;
  return open({ ...local, rootDirectory: storage.rootDirectory || path.join(tmpdir(), 'berth-spool') }, '');
}

/** Closes every distinct driver of `stores` once (routes may share one). */
export async function closeStores(stores: Stores): Promise<void> {
  await closeDrivers([...new Set([...stores.roots().map((r) => r.driver), stores.spool])]);
}

async function closeDrivers(drivers: StorageDriver[]): Promise<void> {
  for (const driver of drivers) await driver.close?.();
}
