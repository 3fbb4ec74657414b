import { inject, injectable } from 'tsyringe';
import { BoundedCache } from './bounded-cache';
import { TOKENS } from '../di/tokens';
import type { BlobStore } from './blob-store';
import type { Catalog } from './catalog';
import { tryParseDigest } from './digest';
import { NameUnknown } from './errors';
import { OCI_LAYOUT_CONTENT, layout } from './layout';
import { emptyIndex, type OciIndex } from './oci-index';
import type { HeldLock, RepoLocks } from './repo-lock';
import type { Stores } from './stores';

interface CachedIndex {
  index: OciIndex;
  modified: number;
  size: number;
}

/**
 * Repositories and their index.json. Reads are cached and revalidated with one stat (index.json changes
 * only through this class in-process, but another replica or Zot itself may write it).
 */
@injectable()
export class RepoStore {
  // Bounded by the bytes of the index.json files it holds: a pass over 100k repositories (GC, retention) must
  // not keep every one in memory.
  readonly #cache = new BoundedCache<string, CachedIndex>(32 * 1024 * 1024, (c) => c.size + 256);

  constructor(
    @inject(TOKENS.Stores) private readonly stores: Stores,
    @inject(TOKENS.RepoLocks) private readonly locks: RepoLocks,
    @inject(TOKENS.Catalog) readonly catalog: Catalog,
    @inject(TOKENS.BlobStore) private readonly blobs: BlobStore,
  ) {}

  async exists(repo: string): Promise<boolean> {
    return (await this.stores.driver(repo).stat(layout.index(repo))) !== undefined;
  }

  /**
   * Creates oci-layout and an empty index.json if the repository is new (as Zot's InitRepo does) and lists it
   * in the catalog; past its store's `maxRepos` it answers TOOMANYREQUESTS with nothing written.
   */
  async ensure(repo: string): Promise<void> {
    if (await this.exists(repo)) return this.catalog.listed(repo);
    await this.catalog.admit(repo, () => this.locks.withLock(repo, async (held) => {
      await this.writeLayoutUnlocked(repo);
      if (!(await this.stores.driver(repo).stat(layout.index(repo)))) await this.writeIndexUnlocked(repo, emptyIndex(), held);
    }));
  }

  /** The repository's index; NAME_UNKNOWN when the repository does not exist. */
  async readIndex(repo: string): Promise<OciIndex> {
    const index = await this.tryReadIndex(repo);
    if (!index) throw NameUnknown({ name: repo });
    return index;
  }

  async tryReadIndex(repo: string): Promise<OciIndex | undefined> {
    const path = layout.index(repo);
    const storage = this.stores.driver(repo);
    const info = await storage.stat(path);
    if (!info || info.isDir) {
      this.#cache.delete(repo);
      return undefined;
    }
    const cached = this.#cache.get(repo);
    if (cached && cached.modified === info.modified.getTime() && cached.size === info.size) return cached.index;
    const index = parseIndex(await storage.getContent(path));
    this.#cache.set(repo, { index, modified: info.modified.getTime(), size: info.size });
    return index;
  }

  /**
   * Runs a read-modify-write of index.json under the repository lock; returns what `change` returned. The read
   * skips the cache: another process may have written within the same millisecond and size (the stat check
   * cannot tell), and under the lock only the file itself is current.
   */
  async update<T>(repo: string, change: (index: OciIndex) => Promise<{ index: OciIndex; result: T }> | { index: OciIndex; result: T }): Promise<T> {
    return this.locks.withLock(repo, async (held) => {
      this.#cache.delete(repo);
      const existing = await this.tryReadIndex(repo);
      const current = existing ?? emptyIndex();
      await this.writeLayoutUnlocked(repo);
      const { index, result } = await change(current);
      if (index !== current) await this.writeIndexUnlocked(repo, index, held);
      // Callers ensure() first; a repository deleted between the two comes back here and is listed again.
      if (!existing && index !== current) await this.catalog.added(repo);
      return result;
    });
  }

  async withLock<T>(repo: string, fn: (held: HeldLock) => Promise<T>): Promise<T> {
    return this.locks.withLock(repo, fn);
  }

  /** Every repository, sorted (from the catalog index once it is reconciled, see catalog.ts). */
  list(): Promise<string[]> {
    return this.catalog.all();
  }

  async delete(repo: string): Promise<void> {
    await this.locks.withLock(repo, () => this.#deleteUnlocked(repo));
  }

  /** Runs `fn` under the repository lock with index.json as it is now (read fresh), writing nothing itself. */
  async locked<T>(repo: string, fn: (index: OciIndex | undefined) => Promise<T>): Promise<T> {
    return this.locks.withLock(repo, async () => {
      this.#cache.delete(repo);
      return fn(await this.tryReadIndex(repo));
    });
  }

  /**
   * Takes the repository out of the catalog if its index.json is gone, judged under the repository lock (a
   * creation writes index.json under it before listing the name). A deletion whose catalog update failed
   * leaves such an entry; the start-up reconcile drops it too, but a running cluster may not restart for long.
   * True when an entry went.
   */
  async unlistIfGone(repo: string): Promise<boolean> {
    return this.locks.withLock(repo, async () => !(await this.exists(repo)) && this.catalog.removed(repo));
  }

  /**
   * Deletes the repository if `idle` says so, judged under the repository lock (GC: nothing left in it). True
   * when it was deleted. Nested repositories below it stay.
   */
  async deleteIf(repo: string, idle: (index: OciIndex | undefined) => Promise<boolean>): Promise<boolean> {
    return this.locks.withLock(repo, async () => {
      this.#cache.delete(repo);
      if (!(await idle(await this.tryReadIndex(repo)))) return false;
      await this.#deleteUnlocked(repo, { keepActiveUploads: true });
      return true;
    });
  }

  /**
   * `keepActiveUploads` (GC): an upload begun since GC looked writes into `.uploads/` under its own lock, not
   * this one, so the directory goes only when nothing is in it; an upload finishing into the removed repository
   * lands its blob, and the next manifest push completes the layout again (ensure).
   */
  async #deleteUnlocked(repo: string, opts: { keepActiveUploads?: boolean } = {}): Promise<void> {
    this.#cache.delete(repo);
    const storage = this.stores.driver(repo);
    await storage.delete(layout.index(repo));
    await storage.delete(layout.ociLayout(repo));
    // Blob by blob through BlobStore.delete, so the dedupe index follows and a placeholder elsewhere that
    // leans on one of these copies gets the bytes first; the directory then takes anything else.
    for (const name of await this.blobs.list(repo)) {
      const digest = tryParseDigest(name);
      if (digest) await this.blobs.delete(repo, digest);
    }
    await storage.delete(layout.blobsDir(repo));
    if (!opts.keepActiveUploads || (await storage.list(layout.uploadsDir(repo))).length === 0) await storage.delete(layout.uploadsDir(repo));
    await storage.delete(layout.syncDir(repo));
    await this.catalog.removed(repo);
  }

  /** Zot lists a directory as a repository only with both files: complete one that lacks oci-layout. */
  private async writeLayoutUnlocked(repo: string): Promise<void> {
    const storage = this.stores.driver(repo);
    if (!(await storage.stat(layout.ociLayout(repo)))) await storage.putContent(layout.ociLayout(repo), OCI_LAYOUT_CONTENT);
  }

  /**
   * Writes the new index.json unpublished, then confirms the lease is still ours, then publishes (rename): the
   * only window in which a holder that lost its lease can still overwrite is the commit itself (fsync and
   * rename), which the filesystem cannot make conditional on a fencing token.
   */
  private async writeIndexUnlocked(repo: string, index: OciIndex, held: HeldLock): Promise<void> {
    const writer = await this.stores.driver(repo).writer(layout.index(repo));
    try {
      await new Promise<void>((resolve, reject) => {
        writer.once('error', reject);
        writer.end(Buffer.from(JSON.stringify(index)), resolve);
      });
      await held.confirm();
    } catch (err) {
      await writer.cancel();
      throw err;
    }
    await writer.commit();
    this.#cache.delete(repo);
  }
}

function parseIndex(data: Buffer): OciIndex {
  const parsed = JSON.parse(data.toString('utf8')) as Partial<OciIndex>;
  return { ...parsed, schemaVersion: 2, manifests: Array.isArray(parsed.manifests) ? parsed.manifests : [] };
}
