import type { Logger } from 'pino';
import { inject, injectable } from 'tsyringe';
import { TOKENS } from '../di/tokens';
import type { MetaStore } from '../metastore/meta-store';
import { BlobArrivals } from './blob-arrivals';
import { BlobStore } from './blob-store';
import { UploadStore } from './blob-upload';
import { isDigest, parseDigest } from './digest';
import { layout } from './layout';
import type { OciIndex } from './oci-index';
import { RepoStore } from './repo-store';
import type { Stores } from './stores';
import type { Retention } from './retention';

/**
 * A crash leftover (a driver's `.tmp-` file, a fill spool) is removed only once nobody has written to it for
 * this long as well as for `gcDelay`: a live writer touches its file with every write, and the longest a live
 * one can stall is an upstream's body timeout (5 min) or a client's idle timeout (60 s). So a short `gcDelay`
 * never cuts off a monolithic push or a pull-through fill in progress, here or in another berth on the root.
 */
export const LEFTOVER_MIN_AGE_MS = 15 * 60_000;

/** What one repository's collection removed. */
export interface RepoCollected {
  manifests: number;
  blobs: number;
  /** Bytes of the blobs removed (a hard-linked copy counts its size, though its last link frees the space). */
  bytes: number;
  uploads: number;
  leftovers: number;
  /** The repository itself went (nothing was left in it). */
  removed: boolean;
}

export interface GcPassSettings {
  /** Milliseconds: the age below which an unreferenced blob, an upload or an empty repository is kept. */
  gcDelay: number;
  /** `storage.retention.dryRun`: decisions are logged, nothing is removed. */
  dryRun: boolean;
}

/**
 * One repository's garbage collection, in Zot's order (pkg/storage/gc): retention (tags, then untagged
 * manifests past `retention.delay`, repeated until stable) → index entries whose manifest is gone dropped →
 * blobs no remaining manifest references deleted once older than `gcDelay` → uploads idle longer than
 * `gcDelay` discarded → crash leftovers removed → the repository removed once nothing is left in it.
 *
 * Safety against racing writes: the decision to delete a blob and the deletion happen under the repository
 * lock (a MetaStore lease, so across processes), the lock a manifest push holds while it checks its
 * references and writes index.json (manifest-store.ts) and the lock under which a moved upload, a fill and a
 * mount publish a blob with its arrival recorded (blob-store.ts). A push therefore either finds its blobs and
 * keeps them, or fails with MANIFEST_BLOB_UNKNOWN.
 */
@injectable()
export class GarbageCollector {
  constructor(
    @inject(TOKENS.Stores) private readonly stores: Stores,
    @inject(TOKENS.RepoStore) private readonly repos: RepoStore,
    @inject(TOKENS.BlobStore) private readonly blobs: BlobStore,
    @inject(TOKENS.UploadStore) private readonly uploads: UploadStore,
    @inject(TOKENS.BlobArrivals) private readonly arrivals: BlobArrivals,
    @inject(TOKENS.MetaStore) private readonly meta: MetaStore,
  ) {}

  /**
   * Upload sessions idle longer than `gcDelay` that no `.uploads/` entry lists (a POST never followed by a
   * PATCH, or data removed by hand): the per-repository sweep cannot see them, the MetaStore can.
   */
  async collectStaleSessions(serves: (repo: string) => boolean, gcDelay: number, logger: Logger, now = Date.now()): Promise<number> {
    let discarded = 0;
    for (const session of await this.meta.uploads.stale(now - gcDelay, 1000)) {
      if (!serves(session.repo)) continue;
      try {
        if (await this.uploads.discardIfIdle(session.repo, session.id, now - gcDelay)) discarded++;
      } catch (err) {
        logger.warn({ repo: session.repo, upload: session.id, err }, 'gc: failed to discard a stale upload');
      }
    }
    return discarded;
  }

  async collect(repo: string, settings: GcPassSettings, retention: Retention | undefined, logger: Logger, now = Date.now()): Promise<RepoCollected> {
    const done: RepoCollected = { manifests: 0, blobs: 0, bytes: 0, uploads: 0, leftovers: 0, removed: false };
    const before = await this.repos.tryReadIndex(repo);
    if (!before) {
      // Deleted since it was listed, or listed by mistake: a deletion whose catalog update failed.
      done.removed = await this.repos.unlistIfGone(repo);
      return done;
    }
    if (retention) await retention.runRepo(repo, now);
    if (settings.dryRun) return done; // as Zot: a dry run touches neither the index nor any blob
    await this.#dropMissing(repo, logger);
    const after = await this.repos.tryReadIndex(repo);
    const remaining = new Set(after?.manifests.map((m) => m.digest));
    done.manifests = new Set(before.manifests.map((m) => m.digest).filter((d) => !remaining.has(d))).size;
    const oldBefore = now - settings.gcDelay;
    Object.assign(done, await this.#sweepBlobs(repo, oldBefore, logger));
    for (const id of await this.uploads.ids(repo)) {
      try {
        if (await this.uploads.discardIfIdle(repo, id, oldBefore)) done.uploads++;
      } catch (err) {
        logger.warn({ repo, upload: id, err }, 'gc: failed to discard a stale upload');
      }
    }
    done.leftovers = await this.#sweepLeftovers(repo, Math.min(oldBefore, now - LEFTOVER_MIN_AGE_MS));
    // Judged first without the lock, so a repository with content costs no lease.
    done.removed = (await this.#isEmpty(repo, await this.repos.tryReadIndex(repo), oldBefore))
      && (await this.repos.deleteIf(repo, (index) => this.#isEmpty(repo, index, oldBefore)));
    await this.arrivals.prune(repo, done.removed ? Infinity : oldBefore);
    return done;
  }

  /** Zot's stale-entry prune: an index entry whose manifest blob is gone can never be served; it goes. */
  async #dropMissing(repo: string, logger: Logger): Promise<void> {
    const index = await this.repos.tryReadIndex(repo);
    if (!index || !(await this.#anyMissing(repo, index))) return;
    await this.repos.update(repo, async (current) => {
      const kept: OciIndex["manifests"] = [];
      for (const m of current.manifests) {
        if (!isDigest(m.digest) || (await this.blobs.size(repo, parseDigest(m.digest))) !== undefined) kept.push(m);
        else logger.info({ repo, digest: m.digest }, 'gc: dropping an index entry whose manifest is missing');
      }
      return { index: kept.length === current.manifests.length ? current : { ...current, manifests: kept }, result: undefined };
    });
  }

  async #anyMissing(repo: string, index: OciIndex): Promise<boolean> {
    for (const digest of new Set(index.manifests.map((m) => m.digest))) {
      if (isDigest(digest) && (await this.blobs.size(repo, parseDigest(digest))) === undefined) return true;
    }
    return false;
  }

  /**
   * Deletes the blobs no manifest listed in index.json references (through nested indexes too), once older
   * than `oldBefore` by both their mtime and their recorded arrival. Candidates are found without the lock;
   * each is judged again, with the references re-read, under it.
   */
  async #sweepBlobs(repo: string, oldBefore: number, logger: Logger): Promise<Pick<RepoCollected, 'blobs' | 'bytes'>> {
    const out = { blobs: 0, bytes: 0 };
    const manifests = new Map<string, Named>(); // by digest: manifest bytes never change
    const unreferenced = async (index: OciIndex | undefined): Promise<string[] | undefined> => {
      const refs = await this.#references(repo, index, manifests);
      if (!refs) return undefined;
      return (await this.blobs.list(repo)).filter((d) => !refs.has(d) && isDigest(d));
    };
    const first = await unreferenced(await this.repos.tryReadIndex(repo));
    if (!first) {
      logger.warn({ repo }, 'gc: a manifest of this repository cannot be read; its blobs are left alone');
      return out;
    }
    const candidates: string[] = [];
    for (const digest of first) if (await this.#old(repo, digest, oldBefore)) candidates.push(digest);
    if (candidates.length === 0) return out;
    await this.repos.locked(repo, async (index) => {
      const refs = await this.#references(repo, index, manifests);
      if (!refs) return;
      for (const digest of candidates) {
        if (refs.has(digest)) continue;
        const size = await this.blobs.size(repo, parseDigest(digest));
        if (size === undefined || !(await this.#old(repo, digest, oldBefore))) continue;
        await this.blobs.delete(repo, parseDigest(digest));
        await this.arrivals.forget(repo, digest);
        out.blobs++;
        out.bytes += size;
      }
    });
    return out;
  }

  /** Older than `oldBefore` by mtime and by recorded arrival (a mount or moved upload keeps an old mtime). */
  async #old(repo: string, digest: string, oldBefore: number): Promise<boolean> {
    const info = await this.stores.driver(repo).stat(layout.blob(repo, parseDigest(digest)));
    if (!info || info.modified.getTime() >= oldBefore) return false;
    const arrived = await this.arrivals.at(repo, digest);
    return arrived === undefined || arrived < oldBefore;
  }

  /**
   * Every digest the index's manifests reference, as Zot's GetReferencedBlobs: each entry's own blob, an
   * image's config and layers (non-distributable ones too), an index's children (and theirs), and subjects.
   * Undefined when a manifest that is present cannot be read (fail closed: its references are unknown).
   */
  async #references(repo: string, index: OciIndex | undefined, cache: Map<string, Named>): Promise<Set<string> | undefined> {
    const refs = new Set<string>();
    const manifests = (index?.manifests ?? []).map((m) => m.digest);
    const followed = new Set<string>();
    while (manifests.length > 0) {
      const digest = manifests.pop()!;
      refs.add(digest);
      if (followed.has(digest) || !isDigest(digest)) continue;
      followed.add(digest);
      let named: Named | null | undefined = cache.get(digest);
      if (!named) {
        const d = parseDigest(digest);
        // Absent: a child a pull-through cache has not fetched yet, nothing to follow. Never cached: it may
        // arrive before the check under the lock.
        const bytes = await this.blobs.read(repo, d).catch((err: unknown) => {
          if ((err as { code?: unknown }).code === 'ENOENT') return undefined; // deleted meanwhile: as absent
          throw err;
        });
        named = bytes === undefined ? undefined : referencedBy(bytes);
        if (named === null) return undefined;
        if (named) cache.set(digest, named);
      }
      for (const blob of named?.blobs ?? []) refs.add(blob);
      manifests.push(...(named?.manifests ?? []));
    }
    return refs;
  }

  /** Crash leftovers untouched since `before`: drivers' `.tmp-` files in the repository's own directories and fill spools. */
  async #sweepLeftovers(repo: string, before: number): Promise<number> {
    const dirs = [repo, layout.uploadsDir(repo), ...(await this.stores.driver(repo).list(layout.blobsDir(repo))).map((alg) => `${layout.blobsDir(repo)}/${alg}`)];
    const doomed: string[] = [];
    for (const dir of dirs) {
      for (const name of await this.stores.driver(repo).list(dir)) if (name.startsWith('.') && name.includes('.tmp-')) doomed.push(`${dir}/${name}`);
    }
    for (const name of await this.stores.driver(repo).list(layout.syncDir(repo))) doomed.push(`${layout.syncDir(repo)}/${name}`);
    let removed = 0;
    for (const path of doomed) {
      const info = await this.stores.driver(repo).stat(path);
      if (!info || info.modified.getTime() >= before) continue;
      await this.stores.driver(repo).delete(path);
      removed++;
    }
    return removed;
  }

  /**
   * Zot removes a repository once it holds no manifest, no blob and no upload; berth also waits until its
   * index.json is older than `gcDelay`, so a repository created a moment ago for an upload or a mount that
   * has not landed yet keeps its grace, and while a fill spool or a temp file is in it.
   */
  async #isEmpty(repo: string, index: OciIndex | undefined, oldBefore: number): Promise<boolean> {
    if (!index || index.manifests.length > 0) return false;
    // Anything at all in its directories keeps it: a blob, an upload, a spool, or a temp file a writer may own.
    for (const alg of await this.stores.driver(repo).list(layout.blobsDir(repo))) {
      if ((await this.stores.driver(repo).list(`${layout.blobsDir(repo)}/${alg}`)).length > 0) return false;
    }
    if ((await this.stores.driver(repo).list(layout.uploadsDir(repo))).length > 0) return false;
    if ((await this.stores.driver(repo).list(layout.syncDir(repo))).length > 0) return false;
    if ((await this.stores.driver(repo).list(repo)).some((name) => name.includes('.tmp-'))) return false;
    const info = await this.stores.driver(repo).stat(layout.index(repo));
    return info !== undefined && info.modified.getTime() < oldBefore;
  }
}

/** What a manifest's JSON names: blobs (config, layers, subject) and child manifests (an index's). */
interface Named {
  blobs: string[];
  manifests: string[];
}

/** The digests a manifest names, or null when it is not a JSON object (its references are unknown). */
function referencedBy(bytes: Buffer): Named | null {
  let raw: { config?: { digest?: unknown }; layers?: Array<{ digest?: unknown }>; manifests?: Array<{ digest?: unknown }>; subject?: { digest?: unknown } };
  try {
    raw = JSON.parse(bytes.toString('utf8')) as typeof raw;
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const digests = (list: Array<{ digest?: unknown } | undefined>) => list.map((d) => d?.digest).filter((d): d is string => typeof d === 'string');
  return {
    blobs: digests([raw.config, ...(Array.isArray(raw.layers) ? raw.layers : []), raw.subject]),
    manifests: digests(Array.isArray(raw.manifests) ? raw.manifests : []),
  };
}
