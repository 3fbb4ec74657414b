import type { Logger } from 'pino';
import type { Counter, Registry as PromRegistry } from 'prom-client';
import { inject, injectable } from 'tsyringe';
import type { PreparedChange } from '../config/live-reload';
import { TOKENS } from '../di/tokens';
import type { MetaStore } from '../metastore/meta-store';
import type { StorageConfig } from '../config/storage-schema';
import type { FileInfo } from '../storage/driver';
import { listBlobDigests } from './blob-store';
import type { Catalog } from './catalog';
import { counter, Dedupe, locationRepo, streamCopy, type BlobLocation } from './dedupe';
import { tryParseDigest, type ParsedDigest } from './digest';
import { layout } from './layout';
import type { RepoLocks } from './repo-lock';
import type { Stores } from './stores';

/** Repositories read from the catalog index at a time. */
const PAGE = 1000;
/** Repositories whose copy of a digest the unindexed search stats at a time. */
const SEARCH_CONCURRENCY = 16;
/** How often a running pass logs its counts. */
const PROGRESS_MS = 10_000;
const NAMESPACE = 'berth.dedupe';
/** The setting the last complete pass brought the tree to; absent on a root no pass has finished on. */
const STATE_KEY = 'pass';

interface PassCounts {
  repositories: number;
  blobs: number;
  linked: number;
  bytesSaved: number;
  restored: number;
  bytesRestored: number;
}

/**
 * The background pass over every blob of the tree, run after start-up (the server serves meanwhile) when
 * the tree may not match the setting: on a root no pass has finished on (written by Zot, or by a berth
 * before the dedupe index existed) and whenever `storage.dedupe` differs from the last finished pass.
 * It records every location in the index (rebuilding it), then, as Zot's RunDedupeBlobs does:
 * - dedupe on: links each copy to the original (copies that already share its inode are left as they are);
 * - dedupe off (Zot's restore pass): gives every location that shares its inode with another, and every
 *   zero-byte placeholder, its own copy (copied to a temp name, fsynced, renamed over), so later writes
 *   to one never touch another.
 * The outcome is recorded only when the pass finishes, so an interrupted pass runs again at the next start.
 * Zot's `cache.db` is never read or touched.
 */
@injectable()
export class DedupePass {
  #stopping = false;
  #running: Promise<void> = Promise.resolve();
  /** Unindexed searches under way, by digest and driver: concurrent reads of one placeholder share one. */
  readonly #searches = new Map<string, Promise<BlobLocation | undefined>>();
  readonly #restored: Counter;
  readonly #bytesRestored: Counter;

  constructor(
    @inject(TOKENS.Stores) private readonly stores: Stores,
    @inject(TOKENS.MetaStore) private readonly meta: MetaStore,
    @inject(TOKENS.Dedupe) private readonly dedupe: Dedupe,
    @inject(TOKENS.Catalog) private readonly catalog: Catalog,
    @inject(TOKENS.RepoLocks) private readonly locks: RepoLocks,
    @inject(TOKENS.Logger) logger: Logger,
    @inject(TOKENS.Metrics) metrics: PromRegistry,
  ) {
    this.logger = logger.child({ component: 'dedupe' });
    this.#restored = counter(metrics, 'berth_dedupe_blobs_restored_total', 'Shared blob copies given their own bytes by the restore pass (dedupe off)');
    this.#bytesRestored = counter(metrics, 'berth_dedupe_bytes_restored_total', 'Bytes written by the restore pass (dedupe off) to give shared copies their own');
  }

  private readonly logger: Logger;

  /**
   * Runs the pass in the background if the tree may not match the setting. Until a pass has finished on every
   * store, placeholders whose original the index lacks are resolved by a search of the tree (#search).
   */
  start(): void {
    this.dedupe.searchUnindexed((digest, except) => this.#search(digest, except));
    this.#schedule();
  }

  /**
   * After the MetaStore lost its data (metastore/epoch.ts): the pass's record went with it, so the pass runs
   * again and rebuilds the index from the tree (each berth that noticed the loss walks it itself). Resolves
   * when done; rejects when the pass did not complete.
   */
  async rebuild(): Promise<void> {
    this.dedupe.searchUnindexed((digest, except) => this.#search(digest, except));
    // Whatever the record says: a pass that began before the loss (a start-up pass still running) records
    // its end after it, though the entries it made before went with the loss.
    let completed = false;
    await this.#enqueue(async () => {
      completed = await this.#passAndRecord(this.#settings(), 'the metadata store lost its records: the index is rebuilt from the tree');
    });
    // A pass that stopped midway leaves the index not whole: the caller must not go on as if it were (GC would
    // delete bytes that placeholders the pass did not reach need).
    if (!completed) throw new Error('the dedupe pass did not complete');
  }

  /**
   * What the pass would find for one digest: the first repository (catalog order) whose copy on the same
   * driver has bytes, recorded in the index so the next read finds it there. One stat per repository, so
   * it runs only while the index is incomplete, and one search per digest at a time.
   */
  #search(digest: ParsedDigest, except: string): Promise<BlobLocation | undefined> {
    const storage = this.stores.driver(locationRepo(except));
    const key = `${digest.digest} ${this.stores.all.findIndex((s) => s.driver === storage)}`;
    let search = this.#searches.get(key);
    if (!search) {
      search = (async () => {
        const { repos } = await this.catalog.page(undefined, undefined, async (all) => all);
        const candidates = repos.map((repo) => layout.blob(repo, digest)).filter((path) => path !== except && this.stores.driver(locationRepo(path)) === storage);
        let found: BlobLocation | undefined;
        let next = 0;
        const worker = async () => {
          while (!found && !this.#stopping && next < candidates.length) {
            const path = candidates[next++]!;
            const info = await storage.stat(path);
            if (info && !info.isDir && info.size > 0) found ??= { path, size: info.size };
          }
        };
        await Promise.all(Array.from({ length: Math.min(SEARCH_CONCURRENCY, candidates.length) }, worker));
        if (found) await this.meta.dedupe.add(digest.digest, found.path);
        return found;
      })().finally(() => this.#searches.delete(key));
      this.#searches.set(key, search);
    }
    return search;
  }

  /** Resolves when the pass started last (if any) has ended. */
  async whenDone(): Promise<void> {
    await this.#running;
  }

  /**
   * A reload turning dedupe on or off, in the default store or a `subPaths` one: applied at once to new
   * blobs, and the tree follows in a new pass.
   */
  prepareReload(next: StorageConfig): PreparedChange {
    return {
      commit: () => {
        const before = JSON.stringify(this.#settings());
        for (const { route } of this.stores.all) {
          const on = route === '' ? next.dedupe : next.subPaths?.[route]?.dedupe;
          if (on !== undefined) this.dedupe.setEnabled(route, on);
        }
        if (JSON.stringify(this.#settings()) !== before) this.#schedule();
      },
      abort: () => undefined,
    };
  }

  /** `dedupe` of every store, by route ('' the default store). */
  #settings(): Record<string, boolean> {
    return Object.fromEntries(this.stores.all.map((store) => [store.route, this.dedupe.enabledIn(store)]));
  }

  /** Stops a running pass at its next blob (before the MetaStore closes). */
  async close(): Promise<void> {
    this.#stopping = true;
    await this.#running;
  }

  #schedule(): void {
    void this.#enqueue(() => this.#runIfNeeded());
  }

  /** Runs `work` after the passes queued before it; a failure is logged (and `#running` stays usable). */
  #enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.#running.then(work);
    this.#running = run.catch((err: unknown) => {
      if (!this.#stopping) this.logger.error({ err }, 'dedupe pass failed; it runs again at the next start or rebuild');
    });
    return this.#running;
  }

  async #runIfNeeded(): Promise<void> {
    const settings = this.#settings();
    const state = await this.meta.kv(NAMESPACE).get(STATE_KEY);
    const last = state ? (JSON.parse(Buffer.from(state.value).toString('utf8')) as { routes?: Record<string, boolean> }).routes : undefined;
    const changed = Object.keys(settings).filter((route) => last?.[route] !== settings[route]);
    // A finished pass on every store: the index knows every copy, nothing is left to search for.
    const indexed = () => this.dedupe.searchUnindexed(undefined);
    if (Object.keys(settings).every((route) => last?.[route] !== undefined)) indexed();
    if (changed.length === 0 || this.#stopping) return;
    const reason = last === undefined
      ? 'no finished pass on this root: the index is rebuilt from the tree'
      : changed.map((route) => `${route === '' ? 'storage' : `storage.subPaths["${route}"]`}.dedupe turned ${settings[route] ? 'on' : 'off'}`).join(', ');
    await this.#passAndRecord(settings, reason);
  }

  /** One pass, recorded when it completed (then the index knows every copy: nothing is left to search for). */
  async #passAndRecord(settings: Record<string, boolean>, reason: string): Promise<boolean> {
    const counts = await this.#pass(settings, reason);
    if (!counts) return false;
    await this.meta.kv(NAMESPACE).put(STATE_KEY, Buffer.from(JSON.stringify({ routes: settings, finishedAt: new Date().toISOString() })));
    this.dedupe.searchUnindexed(undefined);
    this.logger.info({ dedupe: settings, ...counts }, 'dedupe pass finished');
    return true;
  }

  /** One walk of every blob; undefined when stopped or the setting changed meanwhile (a new pass follows). */
  async #pass(settings: Record<string, boolean>, reason: string): Promise<PassCounts | undefined> {
    const counts: PassCounts = { repositories: 0, blobs: 0, linked: 0, bytesSaved: 0, restored: 0, bytesRestored: 0 };
    const expected = JSON.stringify(settings);
    this.logger.info({ dedupe: settings, reason }, 'dedupe pass started');
    let lastProgress = Date.now();
    for await (const repo of this.#repositories()) {
      counts.repositories++;
      const storage = this.stores.driver(repo);
      const mode = this.dedupe.enabledFor(repo);
      // Under the repository's lock, which GC and DELETE take to remove blobs: a copy they remove is never linked
      // or copied back into place (with its index entry) after the pass looked at it.
      const stopped = await this.locks.withLock(repo, async () => {
        for (const name of await listBlobDigests(storage, repo)) {
          if (this.#stopping || JSON.stringify(this.#settings()) !== expected) return true;
          const digest = tryParseDigest(name);
          if (!digest) continue;
          const path = layout.blob(repo, digest);
          const info = await storage.stat(path);
          if (!info || info.isDir) continue;
          counts.blobs++;
          try {
            await this.#one(mode, digest, path, info, counts);
          } catch (err) {
            // Deleted meanwhile outside berth: nothing left to link or restore there.
            if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
          }
          if (Date.now() - lastProgress >= PROGRESS_MS) {
            lastProgress = Date.now();
            this.logger.info({ dedupe: settings, ...counts }, 'dedupe pass progress');
          }
        }
        return false;
      });
      if (stopped) return undefined;
    }
    return this.#stopping ? undefined : counts;
  }

  /**
   * Every repository: from the catalog index once its start-up reconcile has finished (which the pass waits
   * for, so the two never walk the root at once), else by a walk of its own.
   */
  async *#repositories(): AsyncGenerator<string> {
    await this.catalog.whenReconciled();
    if (!this.catalog.reconciled) {
      yield* this.catalog.walkAll(() => this.#stopping);
      return;
    }
    for (let after: string | undefined, page: string[]; !this.#stopping && (page = await this.meta.catalog.page(PAGE, after)).length > 0; after = page[page.length - 1]) {
      yield* page;
    }
  }

  /** One location: recorded, then linked to the original (dedupe on) or given its own bytes (off). */
  async #one(mode: boolean, digest: ParsedDigest, path: string, info: FileInfo, counts: PassCounts): Promise<void> {
    await this.meta.dedupe.add(digest.digest, path);
    if (mode) {
      const saved = await this.dedupe.share(digest, path, info.size);
      if (saved > 0) {
        counts.linked++;
        counts.bytesSaved += saved;
      }
    } else {
      const written = await this.#restore(digest, path, info);
      if (written !== undefined) {
        counts.restored++;
        counts.bytesRestored += written;
        this.#restored.inc();
        this.#bytesRestored.inc(written);
      }
    }
  }

  /** Gives the location its own bytes if it shares them or is a placeholder; the bytes written, else undefined. */
  async #restore(digest: ParsedDigest, path: string, info: FileInfo): Promise<number | undefined> {
    const storage = this.stores.driver(locationRepo(path));
    let source = path;
    if (info.size === 0 && !Dedupe.isEmptyBlob(digest)) {
      const holder = await this.dedupe.locate(path, digest);
      if (!holder) {
        this.logger.warn({ path, digest: digest.digest }, 'dedupe placeholder without an original: left as it is');
        return undefined;
      }
      source = holder.path;
    } else if ((info.links ?? 1) <= 1) {
      return undefined;
    }
    // Copying a file onto itself goes through a temp name renamed over it: a new inode, never a rewrite in place.
    if (storage.copy) await storage.copy(source, path);
    else await streamCopy(storage, source, path);
    return (await storage.stat(path))?.size ?? 0;
  }
}
