import type { Readable, Writable } from 'node:stream';
import { inject, injectable } from 'tsyringe';
import type { StorageDriver } from '../storage/driver';
import { PathNotFoundError } from '../storage/wrap-driver';
import { TOKENS } from '../di/tokens';
import { Dedupe, streamCopy, type BlobLocation } from './dedupe';
import { newHash, parseDigest, type ParsedDigest } from './digest';
import { DigestInvalid, SizeInvalid } from './errors';
import { layout } from './layout';
import type { BlobArrivals } from './blob-arrivals';
import type { RepoLocks } from './repo-lock';
import type { Stores } from './stores';
import { streamHashed } from './verified-write';

/**
 * Content-addressed blobs of each repository, under `<repo>/blobs/<alg>/<hex>` in the store serving it. Reads
 * go through `locate`, so a deduped placeholder is followed to the bytes; every new copy is handed to Dedupe,
 * every deletion goes through `delete` (dedupe.ts keeps the index right).
 *
 * With `locks` and `arrivals` (the app always gives both; a bare store in a unit test may have neither), every
 * new blob's arrival is recorded before it appears (a hard link or a moved upload keeps an old mtime), and the
 * "is it here already?" check plus quick publishing (move, link) run under the repository lock, the lock GC
 * holds while it decides on and deletes a repository's blobs (gc.ts): GC sees a blob with its arrival, or
 * before it came, and a blob reported present is not collected under the client's feet. Slow streamed copies
 * run outside the lock: their arrival is recorded first. Never call adopt or mount while holding the lock.
 */
@injectable()
export class BlobStore {
  constructor(
    @inject(TOKENS.Stores) private readonly stores: Stores,
    @inject(TOKENS.Dedupe) private readonly dedupe: Dedupe,
    @inject(TOKENS.RepoLocks) private readonly locks?: RepoLocks,
    @inject(TOKENS.BlobArrivals) private readonly arrivals?: BlobArrivals,
  ) {}

  /** The storage path holding the blob's bytes, and their size; undefined when the repository does not hold it. */
  locate(repo: string, digest: ParsedDigest): Promise<BlobLocation | undefined> {
    return this.dedupe.locate(layout.blob(repo, digest), digest);
  }

  /** The blob's size, or undefined when the repository does not hold it. */
  async size(repo: string, digest: ParsedDigest): Promise<number | undefined> {
    return (await this.locate(repo, digest))?.size;
  }

  async open(repo: string, digest: ParsedDigest, range?: { start: number; end: number }): Promise<Readable> {
    return this.stores.driver(repo).reader(await this.#bytes(repo, digest), range);
  }

  /** True when the repository's driver can write blobs straight into a response (see StorageDriver.sendTo). */
  canSend(repo: string): boolean {
    return this.stores.driver(repo).sendTo !== undefined;
  }

  async sendTo(repo: string, digest: ParsedDigest, dest: Writable, range?: { start: number; end: number }): Promise<number> {
    return this.stores.driver(repo).sendTo!(await this.#bytes(repo, digest), dest, range);
  }

  async read(repo: string, digest: ParsedDigest): Promise<Buffer> {
    return this.stores.driver(repo).getContent(await this.#bytes(repo, digest));
  }

  /**
   * A URL to send a whole-blob request to, when the repository's store has `redirectBlobURL` and can presign;
   * undefined when the repository does not hold the blob (yet: a pull-through fill serves it from its spool).
   */
  async redirectURL(repo: string, digest: ParsedDigest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    const storage = this.stores.driver(repo);
    if (!storage.redirectURL || !this.stores.settingsFor(repo).redirectBlobURL) return undefined;
    const at = await this.locate(repo, digest);
    return at && storage.redirectURL(at.path, method);
  }

  /**
   * Streams `body` into the repository and keeps it only if it hashes to `digest` (and has `expectedSize`
   * bytes when given): DIGEST_INVALID / SIZE_INVALID otherwise, with nothing left behind.
   */
  async ingest(repo: string, digest: ParsedDigest, body: Readable, expectedSize?: number): Promise<number> {
    const path = layout.blob(repo, digest);
    await this.arrivals?.mark(repo, digest.digest);
    const writer = await this.stores.driver(repo).writer(path);
    const hash = newHash(digest.algorithm);
    const size = await streamHashed(body, writer, hash);
    const actual = `${digest.algorithm}:${hash.digest('hex')}`;
    if (actual !== digest.digest) {
      await writer.cancel();
      throw DigestInvalid({ expected: digest.digest, actual });
    }
    if (expectedSize !== undefined && size !== expectedSize) {
      await writer.cancel();
      throw SizeInvalid({ expected: expectedSize, actual: size });
    }
    if (await this.dedupe.linkToOriginal(digest, path)) {
      await writer.cancel(); // verified, and stored already: the link replaces publishing this copy
      return size;
    }
    await writer.commit();
    await this.dedupe.placed(digest, path, size);
    return size;
  }

  /** Stores a small blob (a manifest) already in memory and already digested by the caller. */
  async putSmall(repo: string, digest: ParsedDigest, data: Buffer): Promise<void> {
    if ((await this.size(repo, digest)) === data.length) return;
    await this.stores.driver(repo).putContent(layout.blob(repo, digest), data);
    await this.dedupe.placed(digest, layout.blob(repo, digest), data.length);
  }

  /**
   * Puts committed, verified content at `path` on `from` into place and hands it to Dedupe: one move when it
   * is on the repository's own driver (an upload), else a streamed copy committed on that driver (a
   * pull-through spool on the local disk, the blob's store elsewhere); a copied source stays for its owner to
   * delete. When the repository already holds the blob, or dedupe links it to an original, nothing is moved
   * or copied, as Zot does (replacing the file would split it from the copies linked to it); an upload on the
   * repository's driver is then deleted.
   */
  async adopt(repo: string, digest: ParsedDigest, path: string, from: StorageDriver = this.stores.driver(repo)): Promise<void> {
    const storage = this.stores.driver(repo);
    const target = layout.blob(repo, digest);
    await this.arrivals?.mark(repo, digest.digest);
    const placed = await this.#underLock(repo, async () => {
      if ((await this.size(repo, digest)) !== undefined || (await this.dedupe.linkToOriginal(digest, target))) {
        if (from === storage) await storage.delete(path);
        return true;
      }
      if (from !== storage) return false;
      await storage.move(path, target);
      return undefined;
    });
    if (placed) return;
    if (placed === false) await streamCopy(from, path, target, storage);
    const size = (await storage.stat(target))?.size;
    if (size !== undefined) await this.dedupe.placed(digest, target, size);
  }

  /**
   * Makes `to` hold a blob `from` has: on one driver, with dedupe on a hard link (link > copy > streamed
   * copy), with it off its own copy (server-side where the driver can, else streamed); across stores a
   * streamed copy (Zot answers 202 and lets the client upload instead).
   */
  async mount(from: string, to: string, digest: ParsedDigest): Promise<boolean> {
    const source = await this.locate(from, digest);
    if (!source) return false;
    await this.arrivals?.mark(to, digest.digest);
    const sameDriver = this.stores.driver(from) === this.stores.driver(to);
    const done = await this.#underLock(to, async () => {
      if ((await this.size(to, digest)) !== undefined) return true;
      if (!sameDriver) return false;
      try {
        return await this.dedupe.mount(digest, source, layout.blob(to, digest));
      } catch (err) {
        // The source went meanwhile (deleted, or collected in its repository): the client uploads instead.
        if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
        throw err;
      }
    });
    if (done === undefined) return false;
    if (!done) await this.ingest(to, digest, await this.stores.driver(from).reader(source.path), source.size);
    return true;
  }

  #underLock<T>(repo: string, fn: () => Promise<T>): Promise<T> {
    return this.locks ? this.locks.withLock(repo, fn) : fn();
  }

  /** The one way a blob is deleted (GC, retention, DELETE, repository removal): the dedupe index follows. */
  async delete(repo: string, digest: ParsedDigest): Promise<void> {
    await this.dedupe.delete(digest, layout.blob(repo, digest));
  }

  /** Every blob digest a repository holds. */
  async list(repo: string): Promise<string[]> {
    return listBlobDigests(this.stores.driver(repo), repo);
  }

  // Where the bytes are, or a not-found rejection as the driver's own would be.
  async #bytes(repo: string, digest: ParsedDigest): Promise<string> {
    const at = await this.locate(repo, digest);
    if (!at) throw new PathNotFoundError(this.stores.driver(repo).name, layout.blob(repo, digest));
    return at.path;
  }
}

/** Every blob digest under `<repo>/blobs` (the driver's own dot-names skipped). */
export async function listBlobDigests(storage: StorageDriver, repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const alg of await storage.list(layout.blobsDir(repo))) {
    for (const hex of await storage.list(`${layout.blobsDir(repo)}/${alg}`)) {
      if (!hex.startsWith('.')) out.push(`${alg}:${hex}`);
    }
  }
  return out;
}
