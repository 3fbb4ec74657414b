import type { Readable, Writable } from 'node:stream';
import { inject, injectable } from 'tsyringe';
import { pipeline } from 'node:stream/promises';
import type { StorageDriver } from '../storage/driver';
import { TOKENS } from '../di/tokens';
import { newHash, parseDigest, type ParsedDigest } from './digest';
import { DigestInvalid, SizeInvalid } from './errors';
import { layout } from './layout';
import type { Stores } from './stores';
import { streamHashed } from './verified-write';

/** Content-addressed blobs of each repository, under `<repo>/blobs/<alg>/<hex>` in the store serving it. */
@injectable()
export class BlobStore {
  constructor(@inject(TOKENS.Stores) private readonly stores: Stores) {}

  /** The blob's size, or undefined when the repository does not hold it. */
  async size(repo: string, digest: ParsedDigest): Promise<number | undefined> {
    const info = await this.stores.driver(repo).stat(layout.blob(repo, digest));
    return info && !info.isDir ? info.size : undefined;
  }

  async open(repo: string, digest: ParsedDigest, range?: { start: number; end: number }): Promise<Readable> {
    return this.stores.driver(repo).reader(layout.blob(repo, digest), range);
  }

  /** True when the repository's driver can write blobs straight into a response (see StorageDriver.sendTo). */
  canSend(repo: string): boolean {
    return this.stores.driver(repo).sendTo !== undefined;
  }

  async sendTo(repo: string, digest: ParsedDigest, dest: Writable, range?: { start: number; end: number }): Promise<number> {
    return this.stores.driver(repo).sendTo!(layout.blob(repo, digest), dest, range);
  }

  async read(repo: string, digest: ParsedDigest): Promise<Buffer> {
    return this.stores.driver(repo).getContent(layout.blob(repo, digest));
  }

  async redirectURL(repo: string, digest: ParsedDigest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return this.stores.driver(repo).redirectURL?.(layout.blob(repo, digest), method);
  }

  /**
   * Streams `body` into the repository and keeps it only if it hashes to `digest` (and has `expectedSize`
   * bytes when given): DIGEST_INVALID / SIZE_INVALID otherwise, with nothing left behind.
   */
  async ingest(repo: string, digest: ParsedDigest, body: Readable, expectedSize?: number): Promise<number> {
    const writer = await this.stores.driver(repo).writer(layout.blob(repo, digest));
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
    await writer.commit();
    return size;
  }

  /** Stores a small blob (a manifest) already in memory and already digested by the caller. */
  async putSmall(repo: string, digest: ParsedDigest, data: Buffer): Promise<void> {
    const storage = this.stores.driver(repo);
    const existing = await storage.stat(layout.blob(repo, digest));
    if (existing && existing.size === data.length) return;
    await storage.putContent(layout.blob(repo, digest), data);
  }

  /**
   * Puts committed, verified content at `path` on `from` into place: one move when it is on the repository's
   * own driver (an upload), else a streamed copy committed on that driver (a pull-through spool on the local
   * disk, the blob's store elsewhere). A copied source stays for its owner to delete.
   */
  async adopt(repo: string, digest: ParsedDigest, path: string, from: StorageDriver = this.stores.driver(repo)): Promise<void> {
    const storage = this.stores.driver(repo);
    if (from === storage) return storage.move(path, layout.blob(repo, digest));
    const writer = await storage.writer(layout.blob(repo, digest));
    try {
      await pipeline(await from.reader(path), writer);
    } catch (err) {
      await writer.cancel();
      throw err;
    }
    await writer.commit();
  }

  /**
   * Makes `to` hold a blob `from` has: a hard link where both are on one driver that can, else a streamed copy
   * (repositories of different stores; Zot answers 202 and lets the client upload instead).
   */
  async mount(from: string, to: string, digest: ParsedDigest): Promise<boolean> {
    const size = await this.size(from, digest);
    if (size === undefined) return false;
    if ((await this.size(to, digest)) !== undefined) return true;
    const storage = this.stores.driver(to);
    if (storage.link && this.stores.driver(from) === storage) {
      await storage.link(layout.blob(from, digest), layout.blob(to, digest));
    } else {
      await this.ingest(to, digest, await this.open(from, digest), size);
    }
    return true;
  }

  async delete(repo: string, digest: ParsedDigest): Promise<void> {
    await this.stores.driver(repo).delete(layout.blob(repo, digest));
  }

  /** Every blob digest a repository holds. */
  async list(repo: string): Promise<string[]> {
    const out: string[] = [];
    const storage = this.stores.driver(repo);
    for (const alg of await storage.list(layout.blobsDir(repo))) {
      for (const hex of await storage.list(`${layout.blobsDir(repo)}/${alg}`)) {
        if (!hex.startsWith('.')) out.push(`${alg}:${hex}`);
      }
    }
    return out;
  }
}

