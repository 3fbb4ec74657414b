/**
 * A `storageDriver` (the default store's or a `subPaths` store's) must name a driver kind that is registered
 * (built in, or added by a third-party extension through `storageDrivers.add`). Anything else stops start-up:
 * serving the local disk instead of the shared storage an operator configured would split a cluster's data.
 */
import { formatPath } from './config-error';
import type { StorageConfig, StoreConfig } from './storage-schema';

export interface DriverChoice {
  /** Path of the `name` key: `['storage', 'storageDriver', 'name']`, or under `['storage', 'subPaths', route]`. */
  at: PropertyKey[];
  /** The same path written out: `storage.storageDriver.name`, `storage.subPaths["/a"].storageDriver.name`. */
  key: string;
  name: string;
}

/** Every store of the config with its key path: the default store (`storage`) first, then each `subPaths` one. */
export function configuredStores(storage: StorageConfig): Array<{ at: PropertyKey[]; store: StoreConfig }> {
  return [
    { at: ['storage'], store: storage },
    ...Object.entries(storage.subPaths ?? {}).map(([route, store]) => ({ at: ['storage', 'subPaths', route], store })),
  ];
}

/** Every configured storageDriver name with its key path, the default store first. */
export function configuredStorageDrivers(config: { storage: StorageConfig }): DriverChoice[] {
  return configuredStores(config.storage).flatMap(({ at: store, store: { storageDriver: driver } }) => {
    if (!driver) return [];
    const at = [...store, 'storageDriver', 'name'];
    return [{ at, key: formatPath(at), name: driver.name }];
  });
}

/** Issue lines for the drivers not in `available` (the registered kinds); empty = every store can be served. */
export function unavailableStorageDrivers(config: { storage: StorageConfig }, available: ReadonlySet<string>): string[] {
  return configuredStorageDrivers(config)
    .filter((d) => !available.has(d.name))
    .map((d) => `${d.key}: ${JSON.stringify(d.name)} is not available in this build; berth refuses to serve from the local disk instead`);
}
