/**
 * A `storageDriver` (the default store's or a `subPaths` store's) must name a driver kind that is registered
 * (built in, or added by a third-party extension through `storageDrivers.add`). Anything else stops start-up:
 * serving the local disk instead of the shared storage an operator configured would split a cluster's data.
 */
import { formatPath } from './config-error';
import type { StorageConfig } from './storage-schema';

export interface DriverChoice {
  /** Path of the `name` key: `['storage', 'storageDriver', 'name']`, or under `['storage', 'subPaths', route]`. */
  at: PropertyKey[];
  /** The same path written out: `storage.storageDriver.name`, `storage.subPaths["/a"].storageDriver.name`. */
  key: string;
  name: string;
}

/** Every configured storageDriver name with its key path, the default store first. */
export function configuredStorageDrivers(config: { storage: StorageConfig }): DriverChoice[] {
  const { storage } = config;
  const stores: Array<[PropertyKey[], StorageConfig['storageDriver']]> = [
    [['storage'], storage.storageDriver],
    ...Object.entries(storage.subPaths ?? {}).map(([route, s]): [PropertyKey[], StorageConfig['storageDriver']] => [['storage', 'subPaths', route], s.storageDriver]),
  ];
  return stores.flatMap(([store, driver]) => {
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
