import type { Readable, Writable } from 'node:stream';
import { inject, injectable } from 'tsyringe';
import type { StorageDriver } from '../storage/driver';
import { TOKENS } from '../di/tokens';
import { newHash, parseDigest, type ParsedDigest } from './digest';
import { DigestInvalid, SizeInvalid } from './errors';
import { layout } from './layout';
import { streamHashed } from './verified-write';

/** Content-addressed blobs of each repository, under `<repo>/blobs/<alg>/<hex>`. */
@injectable()
export class BlobStore {
  constructor(@inject(TOKENS.Storage) private readonly storage: StorageDriver) {}

  /** The blob's size, or undefined when the repository does not hold it. */
  async size(repo: string, digest: ParsedDigest): Promise<number | undefined> {
    const info = await this.storage.stat(layout.blob(repo, digest));
    return info && !info.isDir ? info.size : undefined;
  }

  async open(repo: string, digest: ParsedDigest, range?: { start: number; end: number }): Promise<Readable> {
    return this.storage.reader(layout.blob(repo, digest), range);
  }

  /** True when the driver can write blobs straight into a response (see StorageDriver.sendTo). */
  get canSend(): boolean {
    return this.storage.sendTo !== undefined;
  }

  async sendTo(repo: string, digest: ParsedDigest, dest: Writable, range?: { start: number; end: number }): Promise<number> {
    return this.storage.sendTo!(layout.blob(repo, digest), dest, range);
  }

  async read(repo: string, digest: ParsedDigest): Promise<Buffer> {
    return this.storage.getContent(layout.blob(repo, digest));
  }

  async redirectURL(repo: string, digest: ParsedDigest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return this.storage.redirectURL?.(layout.blob(repo, digest), method);
  }

  /**
   * Streams `body` into the repository and keeps it only if it hashes to `digest` (and has `expectedSize`
   * bytes when given): DIGEST_INVALID / SIZE_INVALID otherwise, with nothing left behind.
   */
  async ingest(repo: string, digest: ParsedDigest, body: Readable, expectedSize?: number): Promise<number> {
    const writer = await this.storage.writer(layout.blob(repo, digest));
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
    const existing = await this.storage.stat(layout.blob(repo, digest));
    if (existing && existing.size === data.length) return;
    await this.storage.putContent(layout.blob(repo, digest), data);
  }

  /** Moves a finished upload into place (one rename). */
  async adopt(repo: string, digest: ParsedDigest, uploadPath: string): Promise<void> {
    await this.storage.move(uploadPath, layout.blob(repo, digest));
  }

  /** Makes `to` hold a blob `from` has: a hard link where the driver can, else a streamed copy. */
  async mount(from: string, to: string, digest: ParsedDigest): Promise<boolean> {
    const size = await this.size(from, digest);
    if (size === undefined) return false;
    if ((await this.size(to, digest)) !== undefined) return true;
    if (this.storage.link) {
      await this.storage.link(layout.blob(from, digest), layout.blob(to, digest));
    } else {
      await this.ingest(to, digest, await this.open(from, digest), size);
    }
    return true;
  }

  async delete(repo: string, digest: ParsedDigest): Promise<void> {
    await this.storage.delete(layout.blob(repo, digest));
  }

  /** Every blob digest a repository holds. */
  async list(repo: string): Promise<string[]> {
    const out: string[] = [];
    for (const alg of await this.storage.list(layout.blobsDir(repo))) {
      for (const hex of await this.storage.list(`${layout.blobsDir(repo)}/${alg}`)) {
        if (!hex.startsWith('.')) out.push(`${alg}:${hex}`);
      }
    }
    return out;
  }
}

