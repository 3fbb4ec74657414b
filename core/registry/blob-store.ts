import type { Readable, Writable } from 'node:stream';
import { inject, injectable } from 'tsyringe';
import type { StorageDriver } from '../storage/driver';
import { PathNotFoundError } from '../storage/wrap-driver';
import { Dedupe, type BlobLocation } from './dedupe';
import { TOKENS } from '../di/tokens';
import { newHash, parseDigest, type ParsedDigest } from './digest';
import { DigestInvalid, SizeInvalid } from './errors';
import { layout } from './layout';
import { streamHashed } from './verified-write';

/**
 * Content-addressed blobs of each repository, under `<repo>/blobs/<alg>/<hex>`. Reads go through `locate`, so a
 * deduped placeholder is followed to the bytes; every new copy is handed to Dedupe, every deletion goes
 * through `delete` (dedupe.ts keeps the index right).
 */
@injectable()
export class BlobStore {
  constructor(
    @inject(TOKENS.Storage) private readonly storage: StorageDriver,
    @inject(TOKENS.Dedupe) private readonly dedupe: Dedupe,
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
    return this.storage.reader(await this.#bytes(repo, digest), range);
  }

  /** True when the driver can write blobs straight into a response (see StorageDriver.sendTo). */
  get canSend(): boolean {
    return this.storage.sendTo !== undefined;
  }

  async sendTo(repo: string, digest: ParsedDigest, dest: Writable, range?: { start: number; end: number }): Promise<number> {
    return this.storage.sendTo!(await this.#bytes(repo, digest), dest, range);
  }

  async read(repo: string, digest: ParsedDigest): Promise<Buffer> {
    return this.storage.getContent(await this.#bytes(repo, digest));
  }

  async redirectURL(repo: string, digest: ParsedDigest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    if (!this.storage.redirectURL) return undefined;
    return this.storage.redirectURL(await this.#bytes(repo, digest), method);
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
    if (await this.dedupe.linkToOriginal(digest, layout.blob(repo, digest))) {
      await writer.cancel(); // verified, and stored already: the link replaces publishing this copy
      return size;
    }
    await writer.commit();
    await this.dedupe.placed(digest, layout.blob(repo, digest), size);
    return size;
  }

  /** Stores a small blob (a manifest) already in memory and already digested by the caller. */
  async putSmall(repo: string, digest: ParsedDigest, data: Buffer): Promise<void> {
    if ((await this.size(repo, digest)) === data.length) return;
    await this.storage.putContent(layout.blob(repo, digest), data);
    await this.dedupe.placed(digest, layout.blob(repo, digest), data.length);
  }

  /**
   * Moves a finished, verified upload into place (one rename) and hands it to Dedupe. When the repository
   * already holds the blob, or dedupe links it to an original elsewhere, the upload is dropped instead, as
   * Zot does (replacing the file would split it from the copies linked to it).
   */
  async adopt(repo: string, digest: ParsedDigest, uploadPath: string): Promise<void> {
    const path = layout.blob(repo, digest);
    if ((await this.size(repo, digest)) !== undefined || (await this.dedupe.linkToOriginal(digest, path))) {
      await this.storage.delete(uploadPath);
      return;
    }
    await this.storage.move(uploadPath, path);
    const size = (await this.storage.stat(path))?.size;
    if (size !== undefined) await this.dedupe.placed(digest, path, size);
  }

  /**
   * Makes `to` hold a blob `from` has: with dedupe on a hard link (link > copy > streamed copy), with it off
   * its own copy (server-side where the driver can, else streamed).
   */
  async mount(from: string, to: string, digest: ParsedDigest): Promise<boolean> {
    const source = await this.locate(from, digest);
    if (!source) return false;
    if ((await this.size(to, digest)) !== undefined) return true;
    if (!(await this.dedupe.mount(digest, source, layout.blob(to, digest)))) {
      await this.ingest(to, digest, await this.storage.reader(source.path), source.size);
    }
    return true;
  }

  /** The one way a blob is deleted (GC, retention, DELETE): the dedupe index follows. */
  async delete(repo: string, digest: ParsedDigest): Promise<void> {
    await this.dedupe.delete(digest, layout.blob(repo, digest));
  }

  /** Every blob digest a repository holds. */
  async list(repo: string): Promise<string[]> {
    return listBlobDigests(this.storage, repo);
  }

  // Where the bytes are, or a not-found rejection as the driver's own would be.
  async #bytes(repo: string, digest: ParsedDigest): Promise<string> {
    const at = await this.locate(repo, digest);
    if (!at) throw new PathNotFoundError(this.storage.name, layout.blob(repo, digest));
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

