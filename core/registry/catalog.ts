import type { Logger } from 'pino';
import { inject, injectable } from 'tsyringe';
import { formatPath } from '../config/config-error';
import { TOKENS } from '../di/tokens';
import type { MetaStore } from '../metastore/meta-store';
import type { StorageDriver } from '../storage/driver';
import { TooManyRequests } from './errors';
import { LAYOUT_ENTRIES, layout } from './layout';
import type { StartupWalks } from './startup-walks';
import type { Store, Stores } from './stores';

/** The catalog reconcile's name among the start-up walks (StartupWalks). */
const CATALOG_WALK = 'catalog';
/** Repositories written to the index in one commit during a reconcile, and index entries checked per read. */
const BATCH = 1000;
/** Index entries whose index.json is stat'ed at once during the sweep. */
const SWEEP_PARALLEL = 32;
/** Directories stat'ed and listed at once by a walk. */
const WALK_PARALLEL = 32;
/**
 * The MetaStore key saying that a reconcile of this root completed once: from then on the index is what every
 * berth on the MetaStore keeps it, and a restart can answer from it while its own reconcile runs.
 */
const KV_NAMESPACE = 'berth.catalog';
const RECONCILED_KEY = 'reconciled';

export interface CatalogPage {
  repos: string[];
  /** More readable repositories follow the page (the route then sends a Link header). */
  more: boolean;
}

/**
 * The repository catalog: the MetaStore's sorted index (MetaStore.catalog), so `_catalog?n=` is one range read
 * at any size instead of a walk of the root. RepoStore adds a repository when it creates it and removes it when
 * it deletes it; a reconcile at start-up, in the background, brings in what others wrote (Zot, an older berth,
 * a restored backup) and drops what is gone from disk. With `subPaths` the index is still one: every store's
 * root is walked, and a name is listed when it is served from the root it was found in, so `_catalog` pages
 * through all stores in one sorted order.
 */
@injectable()
export class Catalog {
  #reconciled = false;
  #stopping = false;
  #reconcile: Promise<void> | undefined;
  /** Whether the index was reconciled by an earlier start (read once, at the first page before ours ended). */
  #indexedBefore: Promise<boolean> | undefined;
  /** The walk that answers pages until the first reconcile on a root ends: the one running, the one queued. */
  #walking: Promise<unknown> = Promise.resolve();
  #nextWalk: Promise<string[]> | undefined;
  /** New repositories are counted and created one at a time here when maxRepos is set (see admit). */
  #creating: Promise<unknown> = Promise.resolve();

  constructor(
    @inject(TOKENS.Stores) private readonly stores: Stores,
    @inject(TOKENS.MetaStore) private readonly meta: MetaStore,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(TOKENS.StartupWalks) private readonly walks: StartupWalks,
  ) {}

  /** True once the first reconcile finished: from then on the index answers on its own. */
  get reconciled(): boolean {
    return this.#reconciled;
  }

  /**
   * Starts the reconcile without waiting for it (the server serves meanwhile); `whenReconciled` waits. With
   * `storage.fastRestart`, a reconcile that completed under the same version and storage config is not
   * repeated: the index is trusted as it is (startup-walks.ts).
   */
  startReconcile(): void {
    this.#reconcile ??= this.#startReconcile().catch((err: unknown) => {
      // The walk stays the source until a reconcile succeeds: slower, never wrong.
      if (!this.#stopping) this.logger.error({ err }, 'catalog reconcile failed; _catalog keeps walking the root');
    });
  }

  async #startReconcile(): Promise<void> {
    if (await this.walks.canSkip(CATALOG_WALK)) {
      this.#reconciled = true;
      this.logger.info({ walk: CATALOG_WALK }, 'catalog reconcile skipped (storage.fastRestart: same version and storage config as the last completed one)');
      return;
    }
    await this.walks.started(CATALOG_WALK);
    await this.#reconcileOnce();
    if (this.#reconciled) await this.walks.completed(CATALOG_WALK);
  }

  async whenReconciled(): Promise<void> {
    await this.#reconcile;
  }

  /** Stops a running reconcile at its next step (before the MetaStore closes). */
  async close(): Promise<void> {
    this.#stopping = true;
    await this.#reconcile;
  }

  /**
   * Creates a repository through `create` (which writes its files), then lists it. With `maxRepos` of the
   * repository's store (Zot: 0 = no limit), a repository past the limit is refused with 429 TOOMANYREQUESTS
   * before anything is written. Counting and creating run one at a time in this process, so two new names
   * cannot both take the last place; two replicas can (the count is not a lease), which overshoots by at most
   * one per replica.
   */
  async admit(repo: string, create: () => Promise<void>): Promise<void> {
    const store = this.stores.of(repo);
    const max = store.config.maxRepos;
    if (!max) {
      await create();
      await this.meta.catalog.add(repo);
      return;
    }
    const run = this.#creating.then(async () => {
      if ((await this.#count(store)) >= max && !(await store.driver.stat(layout.index(repo)))) {
        const key = formatPath(store.route ? ['storage', 'subPaths', store.route, 'maxRepos'] : ['storage', 'maxRepos']);
        throw TooManyRequests({ reason: `${key}: at most ${max} repositories`, name: repo });
      }
      await create();
      await this.meta.catalog.add(repo);
    });
    this.#creating = run.catch(() => undefined);
    return run;
  }

  /** Lists a repository that came to exist without admit (an index.json written by an update). */
  async added(repo: string): Promise<void> {
    await this.meta.catalog.add(repo);
  }

  async removed(repo: string): Promise<void> {
    await this.meta.catalog.remove(repo);
  }

  /**
   * Up to `n` repositories sorting after `last` that `keep` lets through (all of them without `n`), as
   * `GET /v2/_catalog` pages them.
   */
  async page(n: number | undefined, last: string | undefined, keep: (repos: string[]) => Promise<string[]>): Promise<CatalogPage> {
    if (!this.#reconciled && !(await this.#indexedEarlier())) {
      // On a root no reconcile has indexed yet (Zot's, an older berth's, a tree restored without its database) the
      // index may lack repositories: walk the root, so the answer is right meanwhile, only slower.
      const all = await keep([...(await this.#sharedWalk())]);
      const start = last === undefined ? all : all.filter((repo) => repo > last);
      return n === undefined ? { repos: start, more: false } : { repos: start.slice(0, n), more: n > 0 && start.length > n };
    }
    if (n === 0) return { repos: [], more: false };
    const want = n ?? Number.POSITIVE_INFINITY;
    // One more than asked tells whether a next page exists; access filtering may need further reads.
    const size = Math.min(want + 1, BATCH);
    const out: string[] = [];
    let after = last;
    while (out.length <= want) {
      const batch = await this.meta.catalog.page(size, after);
      if (batch.length === 0) break;
      after = batch[batch.length - 1];
      out.push(...(await keep(batch)));
      if (batch.length < size) break;
    }
    return { repos: out.slice(0, want), more: out.length > want };
  }

  /** Every repository, sorted (for extensions and retention passes). */
  async all(): Promise<string[]> {
    return (await this.page(undefined, undefined, async (repos) => repos)).repos;
  }

  /**
   * Every repository of every store, sorted, by walking the roots: a directory holding index.json and
   * oci-layout (as Zot), kept when the root it is in serves its name.
   */
  async walk(): Promise<string[]> {
    const repos: string[] = [];
    for await (const repo of this.walkAll(() => false)) repos.push(repo);
    return repos.sort();
  }

  /**
   * True when a reconcile of this root completed before this process started: the index then holds every
   * repository berth created or deleted since, and only what changed on disk behind berth's back while no berth
   * ran (a Zot process, files restored or removed by hand) is missing until this start's reconcile ends.
   */
  #indexedEarlier(): Promise<boolean> {
    this.#indexedBefore ??= this.meta.kv(KV_NAMESPACE).get(RECONCILED_KEY).then(
      (entry) => entry !== undefined,
      // Unreadable: walk (slower, never wrong), and ask again next time.
      () => ((this.#indexedBefore = undefined), false),
    );
    return this.#indexedBefore;
  }

  /**
   * One walk at a time: a request joins the next walk to start, never one already under way (that one may have
   * passed a repository created just before the request), so any number of concurrent requests cost at most
   * two walks of the root, and memory two listings, instead of one each.
   */
  #sharedWalk(): Promise<string[]> {
    if (!this.#nextWalk) {
      const next = this.#walking.then(() => {
        this.#nextWalk = undefined;
        return this.walk();
      });
      this.#walking = next.catch(() => undefined);
      this.#nextWalk = next;
    }
    return this.#nextWalk;
  }

  /** Every repository served, by walking each root once (a name routed to another store is skipped). */
  async *walkAll(stop: () => boolean): AsyncGenerator<string> {
    for (const { driver } of this.stores.roots()) {
      for await (const repo of walkRepositories(driver, stop)) if (this.stores.servedFrom(driver, repo)) yield repo;
    }
  }

  /** Repositories `store` serves (the default store: all but those the `subPaths` routes serve). */
  async #count(store: Store): Promise<number> {
    if (!this.#reconciled) return (await this.walk()).filter((repo) => this.stores.of(repo) === store).length;
    if (store.route !== '') return this.#countPrefix(`${store.route.slice(1)}/`);
    let count = await this.meta.catalog.count();
    for (const s of this.stores.all) if (s.route !== '') count -= await this.#countPrefix(`${s.route.slice(1)}/`);
    return count;
  }

  /** Listed names starting with `prefix` (a range of the sorted index, read a batch at a time). */
  async #countPrefix(prefix: string): Promise<number> {
    let count = 0;
    for (let after = prefix; ;) {
      const page = await this.meta.catalog.page(BATCH, after);
      const inRange = page.filter((repo) => repo.startsWith(prefix));
      count += inRange.length;
      if (inRange.length < BATCH) return count;
      after = page[page.length - 1];
    }
  }

  /**
   * Adds what the walk finds (a batch per commit) and then drops index entries whose index.json is gone. Memory
   * stays at one batch whatever the size of the root. A repository created meanwhile was added by admit and
   * is kept by the sweep (its index.json exists); one deleted meanwhile is re-checked by the sweep.
   */
  async #reconcileOnce(): Promise<void> {
    const started = Date.now();
    let found = 0;
    let added = 0;
    let removed = 0;
    let batch: string[] = [];
    for await (const repo of this.walkAll(() => this.#stopping)) {
      batch.push(repo);
      found++;
      if (batch.length >= BATCH) {
        added += await this.meta.catalog.addMany(batch);
        batch = [];
      }
    }
    if (this.#stopping) return;
    added += await this.meta.catalog.addMany(batch);
    for (let after: string | undefined, page: string[]; !this.#stopping && (page = await this.meta.catalog.page(BATCH, after)).length > 0; after = page[page.length - 1]) {
      for (let i = 0; i < page.length; i += SWEEP_PARALLEL) {
        const gone = await Promise.all(page.slice(i, i + SWEEP_PARALLEL).map(async (repo) => ((await this.stores.driver(repo).stat(layout.index(repo))) ? undefined : repo)));
        for (const repo of gone) if (repo !== undefined && (await this.meta.catalog.remove(repo))) removed++;
      }
    }
    if (this.#stopping) return;
    await this.meta.kv(KV_NAMESPACE).put(RECONCILED_KEY, Buffer.from(new Date(started).toISOString()));
    this.#reconciled = true;
    this.logger.info({ repositories: found, added, removed, durationMs: Date.now() - started }, 'catalog reconciled');
  }
}

/**
 * Repositories below the root, depth first. The children of a directory are stat'ed and listed
 * WALK_PARALLEL at a time (the walk is latency-bound: one stat and one list per directory); memory stays at
 * that many listings per level.
 */
export async function* walkRepositories(storage: StorageDriver, stop: () => boolean, dir = '', names?: string[]): AsyncGenerator<string> {
  names ??= await storage.list(dir);
  if (dir && names.includes('index.json') && names.includes('oci-layout')) yield dir;
  const children = names
    .filter((name) => !LAYOUT_ENTRIES.has(name) && !name.startsWith('.') && !name.startsWith('_'))
    .map((name) => (dir ? `${dir}/${name}` : name));
  for (let i = 0; i < children.length && !stop(); i += WALK_PARALLEL) {
    const chunk = children.slice(i, i + WALK_PARALLEL);
    const listings = await Promise.all(chunk.map(async (child) => ((await storage.stat(child))?.isDir ? storage.list(child) : undefined)));
    for (let j = 0; j < chunk.length; j++) {
      const listing = listings[j];
      if (listing) yield* walkRepositories(storage, stop, chunk[j], listing);
    }
  }
}
