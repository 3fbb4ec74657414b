import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { Counter, type Registry as PromRegistry } from 'prom-client';
import { inject, injectable } from 'tsyringe';
import { TOKENS } from '../di/tokens';
import type { MetaStore } from '../metastore/meta-store';
import type { FileInfo, StorageDriver } from '../storage/driver';
import { digestOf, type ParsedDigest } from './digest';
import { RegistryError } from './errors';
import type { Store, Stores } from './stores';

/** Where a blob's bytes are: the path to read and their size. */
export interface BlobLocation {
  path: string;
  size: number;
}

// The empty blob's digest is its own content: a zero-byte file with it is the blob, never a placeholder.
const EMPTY = new Set([digestOf(Buffer.alloc(0), 'sha256'), digestOf(Buffer.alloc(0), 'sha512')]);

const isFile = (info: FileInfo | undefined): info is FileInfo => info !== undefined && !info.isDir;

/**
 * Zot's `storage.dedupe`: identical blobs stored once. Every location of a blob (`<repo>/blobs/<alg>/<hex>`) is
 * recorded in the MetaStore's dedupe index whatever the setting, so the index is right when dedupe is turned
 * on or off later; the first location recorded that still holds the bytes is the original. With dedupe on, a
 * new copy is replaced by a hard link to the original (the driver's `link`, temp link renamed over the path,
 * so the path always holds the bytes), or, on a driver without links, by a zero-byte placeholder resolved
 * through the index, as Zot does on S3. `locate` follows placeholders; `delete` moves the bytes to a
 * placeholder before the last real copy goes.
 *
 * No lock is needed between repositories pushing one digest at once: each records itself first and then
 * reads the locations in one order, so all agree on the original and only the later ones link to it.
 */
@injectable()
export class Dedupe {
  /** `dedupe` per store route as a reload set it; a route absent here has its configured setting. */
  readonly #reloaded = new Map<string, boolean>();
  readonly #linked: Counter;
  readonly #saved: Counter;
  /** While the index is rebuilt from a tree it never saw (DedupePass), a search of the tree for copies not recorded yet. */
  #unindexed: UnindexedSearch | undefined;

  constructor(
    @inject(TOKENS.Stores) private readonly stores: Stores,
    @inject(TOKENS.MetaStore) private readonly meta: MetaStore,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(TOKENS.Metrics) metrics: PromRegistry,
  ) {
    // Zot has no dedupe metrics (pkg/extensions/monitoring), so these are berth's own names.
    this.#linked = counter(metrics, 'berth_dedupe_blobs_linked_total', 'Blob copies replaced by a link to (or a placeholder for) the original');
    this.#saved = counter(metrics, 'berth_dedupe_bytes_saved_total', 'Bytes no longer stored twice because a copy was replaced by a link or placeholder');
  }

  /** False while the MetaStore's records cannot be trusted (metastore-recovery.ts); set by the app. */
  #intact: () => Promise<boolean> = async () => true;

  /**
   * Deleting the last bytes of a digest relies on the index listing every placeholder that leans on them: while
   * `intact` says the index was lost (and is being rebuilt), such a delete answers 503 and changes nothing.
   */
  guardDeletes(intact: () => Promise<boolean>): void {
    this.#intact = intact;
  }

  /** `dedupe` of the store serving `repo`, as it is now (a config reload may change it: see DedupePass). */
  enabledFor(repo: string): boolean {
    return this.enabledIn(this.stores.of(repo));
  }

  enabledIn(store: Store): boolean {
    return this.#reloaded.get(store.route) ?? store.config.dedupe;
  }

  /** Applies a reloaded `dedupe` to one store (`''` the default store, else its `subPaths` route). */
  setEnabled(route: string, on: boolean): void {
    this.#reloaded.set(route, on);
  }

  /**
   * The driver holding a location, and the locations of a digest that share it: dedupe never links across
   * stores (each store is its own root and driver; routes on one root share the driver).
   */
  #driver(path: string): StorageDriver {
    return this.stores.driver(locationRepo(path));
  }

  async #locations(digest: ParsedDigest, driver: StorageDriver): Promise<string[]> {
    return (await this.meta.dedupe.locations(digest.digest)).filter((location) => this.#driver(location) === driver);
  }

  /**
   * Sets (or with undefined, ends) the search for a blob's bytes among copies the index has not recorded yet: a
   * placeholder in a bucket Zot wrote is then served before the start-up pass has reached its original.
   */
  searchUnindexed(search: UnindexedSearch | undefined): void {
    this.#unindexed = search;
  }

  /** True when a zero-byte file at this digest is the blob itself, not a placeholder. */
  static isEmptyBlob(digest: ParsedDigest): boolean {
    return EMPTY.has(digest.digest);
  }

  /**
   * The path holding the bytes of the blob stored at `path`: `path` itself, or for a zero-byte placeholder
   * the first location in the index that holds them; undefined when there is no blob (or only a placeholder
   * whose original is gone).
   */
  async locate(path: string, digest: ParsedDigest): Promise<BlobLocation | undefined> {
    const storage = this.#driver(path);
    const own = await storage.stat(path);
    if (!isFile(own)) return undefined;
    if (own.size > 0 || Dedupe.isEmptyBlob(digest)) return { path, size: own.size };
    return this.#holder(digest, path);
  }

  /**
   * Called once a new copy of a blob is in place at `path` (upload finished, ingest, fill adopted, manifest
   * written): records it and, with dedupe on, shares the original's bytes instead. A failure here never
   * fails the push (the copy is complete and served); it is logged, and the start-up pass fixes the index.
   */
  async placed(digest: ParsedDigest, path: string, size: number): Promise<void> {
    try {
      await this.meta.dedupe.add(digest.digest, path);
      if (this.enabledFor(locationRepo(path))) await this.share(digest, path, size);
    } catch (err) {
      this.logger.warn({ err, digest: digest.digest, path }, 'failed to dedupe blob; this copy keeps its own bytes');
    }
  }

  /**
   * With dedupe on and a driver that links, makes `path` a hard link to a live original of the digest if the
   * index knows one, and records it: true when done, so the caller discards its own verified copy instead of
   * publishing it (Zot's DedupeBlob: a rename and two directory syncs fewer than publishing and then linking).
   * False (nothing changed) when there is no original yet, or on any failure: the caller publishes its copy.
   */
  async linkToOriginal(digest: ParsedDigest, path: string): Promise<boolean> {
    const storage = this.#driver(path);
    if (!storage.link || !this.enabledFor(locationRepo(path))) return false;
    try {
      for (const location of await this.#locations(digest, storage)) {
        if (location === path) continue;
        const info = await storage.stat(location);
        if (!isFile(info)) {
          await this.#forgetIfGone(digest, location);
          continue;
        }
        if (info.size === 0) {
          if (Dedupe.isEmptyBlob(digest)) return false; // nothing to save
          continue; // a placeholder
        }
        try {
          await storage.link(location, path);
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
          await this.#forgetIfGone(digest, location);
          continue;
        }
        await this.meta.dedupe.add(digest.digest, path);
        this.#linked.inc();
        this.#saved.inc(info.size);
        return true;
      }
    } catch (err) {
      this.logger.warn({ err, digest: digest.digest, path }, 'failed to link blob to its original; storing this copy');
    }
    return false;
  }

  /**
   * With dedupe on, makes the recorded location `path` share the original's bytes unless it is the original
   * or shares them already; returns the bytes saved (0 when nothing changed). Locations whose file is gone
   * are dropped from the index on the way (deleted outside berth).
   */
  async share(digest: ParsedDigest, path: string, size: number): Promise<number> {
    const storage = this.#driver(path);
    if (size === 0) return 0;
    let own: FileInfo | undefined;
    for (const location of await this.#locations(digest, storage)) {
      if (location === path) return 0; // first live copy: this one is the original
      const info = await storage.stat(location);
      if (!isFile(info)) {
        await this.#forgetIfGone(digest, location);
        continue;
      }
      if (info.size !== size) continue; // a placeholder, or not this blob's bytes: never an original
      own ??= await storage.stat(path);
      if (!isFile(own) || own.size !== size) return 0; // deleted meanwhile, or already a placeholder
      if (own.fileId !== undefined && own.fileId === info.fileId) return 0;
      try {
        if (storage.link) await storage.link(location, path);
        else await storage.putContent(path, Buffer.alloc(0));
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
        await this.#forgetIfGone(digest, location); // the original went between stat and link: try the next
        continue;
      }
      this.#linked.inc();
      this.#saved.inc(size);
      return size;
    }
    return 0;
  }

  /**
   * Makes `to` hold the blob whose bytes are at `from` without streaming them through berth: a link with
   * dedupe on (or a placeholder where the driver has no links), else the driver's server-side copy. False
   * when only a streamed copy can do it (the caller streams and then calls `placed`).
   */
  async mount(digest: ParsedDigest, from: BlobLocation, to: string): Promise<boolean> {
    const storage = this.#driver(to);
    const enabled = this.enabledFor(locationRepo(to));
    if (enabled && storage.link) {
      await storage.link(from.path, to);
    } else if (enabled && from.size > 0) {
      await this.meta.dedupe.add(digest.digest, from.path); // the placeholder must find its original
      await storage.putContent(to, Buffer.alloc(0));
    } else if (storage.copy) {
      await storage.copy(from.path, to);
    } else {
      return false;
    }
    await this.meta.dedupe.add(digest.digest, to);
    return true;
  }

  /**
   * Deletes the copy at `path` and its index entry (file first: a crash between leaves an entry the next
   * reader skips and drops). When it holds the last real bytes that placeholders lean on, they move to a
   * placeholder first.
   */
  async delete(digest: ParsedDigest, path: string): Promise<void> {
    const storage = this.#driver(path);
    if (!storage.link) await this.#keepBytesFor(digest, path);
    await storage.delete(path);
    await this.meta.dedupe.remove(digest.digest, path);
  }

  async #keepBytesFor(digest: ParsedDigest, path: string): Promise<void> {
    const storage = this.#driver(path);
    if (Dedupe.isEmptyBlob(digest)) return;
    const own = await storage.stat(path);
    if (!isFile(own) || own.size === 0) return;
    if (!(await this.#intact())) throw indexRebuilding();
    if (await this.#holder(digest, path)) return;
    for (const location of await this.#locations(digest, storage)) {
      if (location === path) continue;
      const info = await storage.stat(location);
      if (!isFile(info) || info.size !== 0) continue;
      if (storage.copy) await storage.copy(path, location);
      else await streamCopy(storage, path, location);
      return;
    }
  }

  /** The first location other than `except` that holds the bytes (recorded, or found by the unindexed search). */
  async #holder(digest: ParsedDigest, except: string): Promise<BlobLocation | undefined> {
    const storage = this.#driver(except);
    for (const location of await this.#locations(digest, storage)) {
      if (location === except) continue;
      const info = await storage.stat(location);
      if (isFile(info) && info.size > 0) return { path: location, size: info.size };
    }
    return this.#unindexed?.(digest, except);
  }

  // Checked again right before: a location deleted and pushed again meanwhile must stay in the index.
  async #forgetIfGone(digest: ParsedDigest, location: string): Promise<void> {
    const storage = this.#driver(location);
    if (!isFile(await storage.stat(location))) await this.meta.dedupe.remove(digest.digest, location);
  }
}

function indexRebuilding(): RegistryError {
  return new RegistryError('UNAVAILABLE', 503, 'the metadata store lost its records and berth is rebuilding them from storage; deletes wait until then, try again',
    undefined, { 'Retry-After': '10' });
}

/** Finds (and records) a copy of `digest` with bytes on the driver holding `except`, other than `except`. */
export type UnindexedSearch = (digest: ParsedDigest, except: string) => Promise<BlobLocation | undefined>;

/**
 * Copies through berth, streamed and committed once: for drivers with neither link nor copy, and between
 * drivers (`into`, default the same one).
 */
export async function streamCopy(storage: StorageDriver, from: string, to: string, into: StorageDriver = storage): Promise<void> {
  const writer = await into.writer(to);
  try {
    await pipeline(await storage.reader(from), writer);
  } catch (err) {
    await writer.cancel();
    throw err;
  }
  await writer.commit();
}

/** The repository of a blob location `<repo>/blobs/<alg>/<hex>`. */
export function locationRepo(location: string): string {
  return location.slice(0, location.lastIndexOf('/blobs/'));
}

/** One counter per registry, so several stores (or a rebuilt scope) in one app share it. */
export function counter(registry: PromRegistry, name: string, help: string): Counter {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter;
  return new Counter({ name, help, registers: [registry] });
}
