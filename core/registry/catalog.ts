import type { Logger } from 'pino';
import { inject, injectable } from 'tsyringe';
import { formatPath } from '../config/config-error';
import { TOKENS } from '../di/tokens';
import type { MetaStore } from '../metastore/meta-store';
import type { StorageDriver } from '../storage/driver';
import { TooManyRequests } from './errors';
import { layout } from './layout';
import { repositoriesInOrder } from './repository-walk';
import type { StartupWalks } from './startup-walks';
import type { Store, Stores } from './stores';

/** The catalog reconcile's name among the start-up walks (StartupWalks). */
const CATALOG_WALK = 'catalog';
/** Repositories written to the index in one commit during a reconcile, and index entries checked per read. */
const BATCH = 1000;
/** Index entries whose index.json is stat'ed at once during the sweep. */
const SWEEP_PARALLEL = 32;
/** Repositories a process remembers having listed (Catalog.listed). */
const CONFIRMED_MAX = 10_000;
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
  /** Pages walking the roots now (each settles when its page is answered); the reconcile gives way to them. */
  readonly #pagesWalking = new Set<Promise<void>>();
  /** New repositories are counted and created one at a time here when maxRepos is set (see admit). */
  #creating: Promise<unknown> = Promise.resolve();
  /**
   * Repositories this process has seen into the index (see `listed`). Bounded: when full it starts over, and
   * a name it forgot costs one more idempotent add.
   */
  readonly #confirmed = new Set<string>();

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
    this.#reconcile ??= this.#logFailure(this.#startReconcile());
  }

  // The walk stays the source until a reconcile succeeds: slower, never wrong.
  #logFailure(reconcile: Promise<void>): Promise<void> {
    return reconcile.catch((err: unknown) => {
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

  /**
   * After the MetaStore lost its data (metastore/epoch.ts): pages walk the roots again, as before a first
   * reconcile, until a new reconcile has listed every repository in the index again.
   */
  async reconcileAgain(): Promise<void> {
    this.#reconciled = false;
    this.#confirmed.clear(); // what this process listed is gone with the rest
    this.#indexedBefore = undefined;
    const previous = this.#reconcile ?? Promise.resolve();
    this.#reconcile = this.#logFailure(previous.then(() => this.#reconcileOnce()));
    await this.#reconcile;
    if (!this.#reconciled) throw new Error('the catalog reconcile did not complete');
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
      await this.#add(repo);
      return;
    }
    const run = this.#creating.then(async () => {
      if ((await this.#count(store)) >= max && !(await store.driver.stat(layout.index(repo)))) {
        const key = formatPath(store.route ? ['storage', 'subPaths', store.route, 'maxRepos'] : ['storage', 'maxRepos']);
        throw TooManyRequests({ reason: `${key}: at most ${max} repositories`, name: repo });
      }
      await create();
      await this.#add(repo);
    });
    this.#creating = run.catch(() => undefined);
    return run;
  }

  /**
   * Lists a repository that exists (its index.json is there) if this process has not listed it yet. A
   * creation whose listing failed (the MetaStore went away between the files and the index) is answered with
   * an error, and the client's retry finds the files in place: without this it would never be listed.
   */
  async listed(repo: string): Promise<void> {
    if (!this.#confirmed.has(repo)) await this.#add(repo);
  }

  /** Lists a repository that came to exist without admit (an index.json written by an update). */
  async added(repo: string): Promise<void> {
    await this.#add(repo);
  }

  /** True when it was listed. */
  async removed(repo: string): Promise<boolean> {
    this.#confirmed.delete(repo);
    return this.meta.catalog.remove(repo);
  }

  async #add(repo: string): Promise<void> {
    await this.meta.catalog.add(repo);
    if (this.#confirmed.size >= CONFIRMED_MAX) this.#confirmed.clear();
    this.#confirmed.add(repo);
  }

  /**
   * Up to `n` repositories sorting after `last` that `keep` lets through (all of them without `n`), as
   * `GET /v2/_catalog` pages them.
   */
  async page(n: number | undefined, last: string | undefined, keep: (repos: string[]) => Promise<string[]>): Promise<CatalogPage> {
    if (n === 0) return { repos: [], more: false };
    const want = n ?? Number.POSITIVE_INFINITY;
    // One more than asked tells whether a next page exists; access filtering may need further reads.
    const size = Math.min(want + 1, BATCH);
    let source: AsyncIterable<string[]> | Iterable<string[]>;
    if (this.#reconciled || (await this.#indexedEarlier())) {
      source = this.#indexBatches(size, last);
    } else if (n === undefined) {
      // The whole catalog: one shared walk for all such requests at a time (see #sharedWalk).
      const all = await this.#sharedWalk();
      source = [last === undefined ? [...all] : all.filter((repo) => repo > last)];
    } else {
      // On a root no reconcile has indexed yet (Zot's, an older berth's, a tree restored without its database) the
      // index may lack repositories: the roots answer, walked in catalog order from `last` as far as the page needs.
      return this.#walkingPage(() => this.#collect(batches(this.walkAll(() => false, { after: last }), size), want, keep));
    }
    return this.#collect(source, want, keep);
  }

  async #collect(source: AsyncIterable<string[]> | Iterable<string[]>, want: number, keep: (repos: string[]) => Promise<string[]>): Promise<CatalogPage> {
    const out: string[] = [];
    for await (const batch of source) {
      out.push(...(await keep(batch)));
      if (out.length > want) break;
    }
    return { repos: out.slice(0, want), more: out.length > want };
  }

  /**
   * Runs a page's walk of the roots while the reconcile's walk gives way: both list the same directories, and a
   * page queued behind the reconcile's listings took up to twice as long. The reconcile waits, before each of
   * its steps, only for the pages running then (see #pagesRunning): pages arriving back to back slow it, and
   * they are answered exactly meanwhile, but cannot stop it.
   */
  async #walkingPage<T>(run: () => Promise<T>): Promise<T> {
    const page = run();
    const settled = page.then(() => undefined, () => undefined);
    this.#pagesWalking.add(settled);
    try {
      return await page;
    } finally {
      this.#pagesWalking.delete(settled);
    }
  }

  #pagesRunning(): Promise<void> | undefined {
    return this.#pagesWalking.size === 0 ? undefined : Promise.all(this.#pagesWalking).then(() => undefined);
  }

  /** The index from `after` on, `size` entries a read. */
  async *#indexBatches(size: number, after: string | undefined): AsyncGenerator<string[]> {
    for (;;) {
      const batch = await this.meta.catalog.page(size, after);
      if (batch.length > 0) yield batch;
      if (batch.length < size) return;
      after = batch[batch.length - 1];
    }
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
    return repos;
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

  /**
   * Every repository served (after `after`, when given), in catalog order: each root walked in that order
   * (repository-walk.ts), a name routed to another store skipped, the roots merged. `yieldTo` as the walk's.
   */
  async *walkAll(stop: () => boolean, opts: { after?: string; yieldTo?: () => Promise<void> | undefined } = {}): AsyncGenerator<string> {
    const stores = this.stores;
    async function* served(driver: StorageDriver): AsyncGenerator<string> {
      for await (const repo of repositoriesInOrder(driver, opts.after, { stop, yieldTo: opts.yieldTo })) if (stores.servedFrom(driver, repo)) yield repo;
    }
    yield* mergeSorted(this.stores.roots().map(({ driver }) => served(driver)));
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
    for await (const repo of this.walkAll(() => this.#stopping, { yieldTo: () => this.#pagesRunning() })) {
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

/** `names` in arrays of `size` (the last one shorter). */
async function* batches(names: AsyncIterable<string>, size: number): AsyncGenerator<string[]> {
  let batch: string[] = [];
  for await (const name of names) {
    batch.push(name);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Sorted streams of distinct names merged into one sorted stream (one per store root: a handful). */
async function* mergeSorted(streams: AsyncGenerator<string>[]): AsyncGenerator<string> {
  if (streams.length === 1) return yield* streams[0]!;
  const heads = await Promise.all(streams.map((s) => s.next()));
  try {
    for (;;) {
      let min = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i]!;
        if (!head.done && (min < 0 || head.value < (heads[min]!.value as string))) min = i;
      }
      if (min < 0) return;
      yield heads[min]!.value as string;
      heads[min] = await streams[min]!.next();
    }
  } finally {
    // A page that is full ends every root's walk, not only the one it last read.
    await Promise.all(streams.map((s) => s.return(undefined)));
  }
}
