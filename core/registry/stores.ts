import type { StoreConfig } from '../config/storage-schema';
import type { StorageDriver } from '../storage/driver';

/** One configured store: a route's settings and the driver its repositories live on. */
export interface Store {
  /** '' for the default store, else the `subPaths` key as configured (`/a`). */
  readonly route: string;
  /** Its settings: dedupe, gc, gcDelay, gcInterval, gcTimeWindow, retention, commit, maxRepos, redirectBlobURL. */
  readonly config: StoreConfig;
  /**
   * Where its repositories live, each under its full name (`<root>/a/b/` for `a/b`, as Zot's image store joins
   * the root and the name). Routes with the same root share one driver (Zot shares the image store; the
   * config allows it only with equal gc and dedupe settings).
   */
  readonly driver: StorageDriver;
}

/**
 * Which store serves a repository (Zot's StoreController.GetImageStore): a `subPaths` route `/x` serves the
 * names whose first segment is `x` and that have more segments after it; one-segment names and names whose
 * first segment matches no route use the default store. Every part of the registry that touches a
 * repository's files asks here first, so routing is decided in one place.
 */
export class Stores {
  readonly #routes: ReadonlyMap<string, Store>;
  /** Every store, the default first, then the `subPaths` routes in sorted order. */
  readonly all: readonly Store[];

  constructor(
    readonly defaultStore: Store,
    subPaths: readonly Store[] = [],
    /**
     * The local driver under the default `rootDirectory` that pull-through fills spool on (`_berth/spool/`):
     * followers read a growing spool, which an object store cannot serve. The default store's own driver
     * when that is the filesystem.
     */
    readonly spool: StorageDriver = defaultStore.driver,
  ) {
    const sorted = [...subPaths].sort((a, b) => (a.route < b.route ? -1 : a.route > b.route ? 1 : 0));
    this.#routes = new Map(sorted.map((s) => [s.route, s]));
    this.all = [defaultStore, ...sorted];
  }

  /** The store serving `repo`. */
  of(repo: string): Store {
    const slash = repo.indexOf('/');
    if (slash < 0 || this.#routes.size === 0) return this.defaultStore;
    return this.#routes.get(`/${repo.slice(0, slash)}`) ?? this.defaultStore;
  }

  /** The driver `repo`'s files are on. */
  driver(repo: string): StorageDriver {
    return this.of(repo).driver;
  }

  /** The settings that apply to `repo` (its route's, else the default store's). */
  settingsFor(repo: string): StoreConfig {
    return this.of(repo).config;
  }

  /**
   * Every distinct driver with the stores on it, the default store's first: a walk of a root visits each once
   * and keeps the names `of` routes to one of those stores (a shared root holds several routes' repositories).
   */
  roots(): Array<{ driver: StorageDriver; stores: Store[] }> {
    const roots = new Map<StorageDriver, Store[]>();
    for (const store of this.all) roots.set(store.driver, [...(roots.get(store.driver) ?? []), store]);
    return [...roots].map(([driver, stores]) => ({ driver, stores }));
  }

  /** True when `repo`, found on `driver`, is served from there (a name routed elsewhere is unreachable). */
  servedFrom(driver: StorageDriver, repo: string): boolean {
    return this.driver(repo) === driver;
  }
}
