import { randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { inject, injectable } from 'tsyringe';
import type { StorageDriver } from '../storage/driver';
import { TOKENS } from '../di/tokens';
import { BlobStore } from './blob-store';
import { newHash, type ParsedDigest } from './digest';
import { BlobUploadUnknown, DigestInvalid, RangeInvalid } from './errors';
import { layout } from './layout';
import type { RepoLocks } from './repo-lock';
import { RepoStore } from './repo-store';
import { streamHashed } from './verified-write';

// Upload ids are ours (UUIDs); anything else in the URL is rejected before it becomes a path.
const UPLOAD_ID = /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/;

interface Session {
  /** sha256 of bytes [0, size) when it is known to match the file; recomputed from the file otherwise. */
  hash?: Hash;
  size: number;
}

/**
 * Resumable blob uploads (distribution-spec "Pushing blobs": POST, PATCH…, PUT). The bytes live in
 * `<repo>/.uploads/<id>` as Zot keeps them, so an upload survives a restart; the running hash is kept in
 * memory only as an optimisation.
 */
@injectable()
export class UploadStore {
  readonly #sessions = new Map<string, Session>();

  constructor(
    @inject(TOKENS.Storage) private readonly storage: StorageDriver,
    @inject(TOKENS.RepoLocks) private readonly locks: RepoLocks,
    @inject(TOKENS.RepoStore) private readonly repos: RepoStore,
    @inject(TOKENS.BlobStore) private readonly blobs: BlobStore,
  ) {}

  async start(repo: string): Promise<string> {
    await this.repos.ensure(repo);
    const id = randomUUID();
    await this.storage.putContent(layout.upload(repo, id), Buffer.alloc(0));
    this.#sessions.set(key(repo, id), { hash: newHash(), size: 0 });
    return id;
  }

  /** Bytes received so far; BLOB_UPLOAD_UNKNOWN for an unknown id. */
  async status(repo: string, id: string): Promise<number> {
    const info = await this.storage.stat(this.path(repo, id));
    if (!info || info.isDir) throw BlobUploadUnknown({ uuid: id });
    return info.size;
  }

  /**
   * Appends a chunk. With `range` (from Content-Range), it must start exactly where the upload ends:
   * out-of-order, overlapping or stale retries get 416 and change nothing.
   */
  async append(repo: string, id: string, body: Readable, range?: { start: number; end: number }): Promise<number> {
    return this.locks.withLock(`upload:${key(repo, id)}`, async () => {
      const size = await this.status(repo, id);
      if (range && range.start !== size) {
        throw RangeInvalid({ uuid: id, expectedStart: size, start: range.start });
      }
      const session = this.session(repo, id, size);
      const writer = await this.storage.writer(this.path(repo, id), { append: true });
      // Without a trustworthy running hash the bytes still stream; finish() then hashes the file.
      const hash = session.hash ?? (size === 0 ? newHash() : undefined);
      try {
        session.size += await streamHashed(body, writer, hash ?? newHash());
        await writer.commit();
      } catch (err) {
        this.#sessions.set(key(repo, id), { size: -1 }); // the file may hold part of the chunk: rehash later
        throw err;
      }
      session.hash = hash;
      return this.status(repo, id);
    });
  }

  /** Completes the upload: appends the final chunk, verifies the digest, moves the blob into place. */
  async finish(repo: string, id: string, digest: ParsedDigest, body?: Readable, range?: { start: number; end: number }): Promise<number> {
    if (body) await this.append(repo, id, body, range);
    return this.locks.withLock(`upload:${key(repo, id)}`, async () => {
      const size = await this.status(repo, id);
      const actual = await this.digestOf(repo, id, size, digest);
      if (actual !== digest.digest) {
        // The spec leaves the session usable? Distribution and Zot both discard it: nothing partial is kept.
        await this.cancel(repo, id);
        throw DigestInvalid({ expected: digest.digest, actual });
      }
      await this.blobs.adopt(repo, digest, this.path(repo, id));
      this.#sessions.delete(key(repo, id));
      return size;
    });
  }

  async cancel(repo: string, id: string): Promise<void> {
    await this.status(repo, id);
    this.#sessions.delete(key(repo, id));
    await this.storage.delete(this.path(repo, id));
  }

  private path(repo: string, id: string): string {
    if (!UPLOAD_ID.test(id)) throw BlobUploadUnknown({ uuid: id });
    return layout.upload(repo, id);
  }

  private session(repo: string, id: string, size: number): Session {
    const existing = this.#sessions.get(key(repo, id));
    if (existing && existing.size === size && existing.hash) return existing;
    // Unknown to this process (restart, another replica) or torn by a failed chunk: hash from the file.
    const fresh: Session = { size, hash: undefined };
    this.#sessions.set(key(repo, id), fresh);
    return fresh;
  }

  private async digestOf(repo: string, id: string, size: number, digest: ParsedDigest): Promise<string> {
    const session = this.#sessions.get(key(repo, id));
    if (digest.algorithm === 'sha256' && session?.hash && session.size === size) {
      return `sha256:${session.hash.copy().digest('hex')}`;
    }
    const hash = newHash(digest.algorithm);
    for await (const chunk of await this.storage.reader(this.path(repo, id))) hash.update(chunk as Buffer);
    return `${digest.algorithm}:${hash.digest('hex')}`;
  }
}

function key(repo: string, id: string): string {
  return `${repo}\u0000${id}`;
}
