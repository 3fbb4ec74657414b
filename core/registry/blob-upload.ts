import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inject, injectable } from 'tsyringe';
import type { DriverWriter } from '../storage/driver';
import { TOKENS } from '../di/tokens';
import type { MetaStore, UploadSession, UploadSessions } from '../metastore/meta-store';
import { BlobStore } from './blob-store';
import { newHash, type ParsedDigest } from './digest';
import { BlobUploadInvalid, BlobUploadUnknown, DigestInvalid, RangeInvalid } from './errors';
import { layout } from './layout';
import type { RepoLocks } from './repo-lock';
import { RepoStore } from './repo-store';
import type { Stores } from './stores';
import { localDigest, portableDigest, type RunningDigest } from './upload-hash';
import { hashingTransform } from './verified-write';
import { pacedPassThrough } from './young-gc';

// Upload ids are ours (UUIDs); anything else in the URL is rejected before it becomes a path.
const UPLOAD_ID = /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/;
// Running hashes of abandoned uploads must not pile up; an evicted one only costs a re-read at the PUT.
const MAX_RUNNING_HASHES = 4096;

type ChunkRange = { start: number; end: number };

/** sha256 of an upload's bytes [0, size), valid while `size` is the upload's size. */
interface RunningHash {
  hash: RunningDigest;
  size: number;
}

/**
 * Resumable blob uploads (distribution-spec "Pushing blobs": POST, PATCH…, PUT). The bytes are the driver's
 * uncommitted content at `<repo>/.uploads/<id>`, closed after each chunk and committed once, at the PUT; the
 * session (the acknowledged offset) is the MetaStore's `uploads` record, so a restart or another process on
 * the same MetaStore resumes an acknowledged chunk. Every offset change is a compare-and-set on the session's
 * version: of two processes advancing one upload, the one that lost answers 416 with the current Range.
 * The running hash: on a MetaStore other hosts share ({@link MetaStore.shared}: replicas behind a load
 * balancer), each chunk's hash state is saved in the session with its offset, so whichever replica gets the
 * next chunk or the PUT continues it and never reads the upload back. Otherwise it stays in this process
 * (node:crypto, seven times faster, cannot export it), and an upload another process continued is hashed
 * from its content once, at the PUT.
 */
@injectable()
export class UploadStore {
  readonly #sessions: UploadSessions;
  readonly #hashes = new Map<string, RunningHash>();
  readonly #portable: boolean;

  constructor(
    @inject(TOKENS.Stores) private readonly stores: Stores,
    @inject(TOKENS.RepoLocks) private readonly locks: RepoLocks,
    @inject(TOKENS.RepoStore) private readonly repos: RepoStore,
    @inject(TOKENS.BlobStore) private readonly blobs: BlobStore,
    @inject(TOKENS.MetaStore) meta: MetaStore,
  ) {
    this.#sessions = meta.uploads;
    this.#portable = meta.shared === true;
  }

  async start(repo: string): Promise<string> {
    await this.repos.ensure(repo);
    const id = randomUUID();
    // A fresh UUID never collides: create's false would mean the store reuses ids, which it must not.
    if (!(await this.#sessions.create({ id, repo, path: layout.upload(repo, id), size: 0, createdAt: Date.now() }))) {
      throw new Error(`upload id ${id} exists already`);
    }
    return id;
  }

  /** Bytes received so far; BLOB_UPLOAD_UNKNOWN for an unknown id. */
  async status(repo: string, id: string): Promise<number> {
    return (await this.#session(repo, id)).size;
  }

  /**
   * Appends a chunk. With `range` (from Content-Range), it must start exactly where the upload ends:
   * out-of-order, overlapping or stale retries get 416 and change nothing. A chunk that fails midway keeps
   * what landed, as Distribution does; the next status says where to continue.
   */
  async append(repo: string, id: string, body: Readable, range?: ChunkRange): Promise<number> {
    return this.locks.withLock(lockKey(repo, id), async () => {
      const opened = await this.#open(await this.#session(repo, id), range);
      if (!opened) throw BlobUploadInvalid({ uuid: id, reason: 'the upload is complete; close it with PUT' });
      const { writer, session } = opened;
      const running = await this.#receive(session, writer, body, false);
      await writer.close();
      await this.#advance(session, writer.size, running?.save());
      return writer.size;
    });
  }

  /** Completes the upload: appends the final chunk, verifies the digest, commits once, moves the blob into place. */
  async finish(repo: string, id: string, digest: ParsedDigest, body?: Readable, range?: ChunkRange): Promise<number> {
    return this.locks.withLock(lockKey(repo, id), () => this.#uploadGone(repo, id, async () => {
      const opened = await this.#open(await this.#session(repo, id), body ? range : undefined);
      const path = this.#path(repo, id);
      let size: number;
      if (!opened) {
        // Committed by a PUT that died before moving it into place: only the move is left to do.
        if (body) throw BlobUploadInvalid({ uuid: id, reason: 'the upload is complete; its final PUT takes no body' });
        size = (await this.stores.driver(repo).stat(path))?.size ?? 0;
        await this.#verifyCommitted(repo, id, digest);
      } else {
        const { writer, session } = opened;
        const running = body ? await this.#receive(session, writer, body, true) : await this.#runningAt(session, writer.size, true);
        size = writer.size;
        if (digest.algorithm === 'sha256' && running) {
          const actual = running.digest();
          if (actual !== digest.digest) {
            await writer.cancel();
            await this.#forget(repo, id);
            throw DigestInvalid({ expected: digest.digest, actual });
          }
          await writer.commit();
        } else {
          await writer.commit();
          await this.#verifyCommitted(repo, id, digest);
        }
      }
      await this.blobs.adopt(repo, digest, path);
      await this.#forget(repo, id);
      return size;
    }));
  }

  /**
   * The upload's data went while a request was on it (removed with its repository by GC, or by hand): the
   * client is told BLOB_UPLOAD_UNKNOWN, as for any upload that no longer exists, and starts again.
   */
  async #uploadGone<T>(repo: string, id: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const path = (err as { path?: unknown }).path;
      if ((err as { code?: unknown }).code !== 'ENOENT' || path !== this.#path(repo, id)) throw err;
      await this.#forget(repo, id);
      throw BlobUploadUnknown({ uuid: id });
    }
  }

  async cancel(repo: string, id: string): Promise<void> {
    await this.locks.withLock(lockKey(repo, id), async () => this.#discard(await this.#session(repo, id)));
  }

  /** The ids of the uploads under the repository's `.uploads/` (berth's, an older berth's records, Zot's), each once. */
  async ids(repo: string): Promise<string[]> {
    const ids = new Set<string>();
    for (const name of await this.stores.driver(repo).list(layout.uploadsDir(repo))) {
      const id = /^\.?([^.]+)(?:\.json|\.open)?$/.exec(name)?.[1];
      if (id && UPLOAD_ID.test(id)) ids.add(id);
    }
    return [...ids];
  }

  /**
   * GC's sweep (Zot: uploads idle longer than gcDelay): discards the upload if nothing touched it since
   * `idleBefore` (its data, a driver marker, an older berth's `.json` record, its session), under the upload's
   * lock, so a chunk streaming now, in any process, is waited for and then counts as activity. Covers uploads
   * with no session too (Zot's, or recorded by a berth before the MetaStore). True when it was discarded.
   */
  async discardIfIdle(repo: string, id: string, idleBefore: number): Promise<boolean> {
    if (!UPLOAD_ID.test(id)) return false;
    const storage = this.stores.driver(repo);
    const dir = layout.uploadsDir(repo);
    const idle = async (): Promise<{ names: string[]; session: UploadSession | undefined } | undefined> => {
      const names = (await storage.list(dir)).filter((n) => n === id || n === `${id}.json` || n === `.${id}.open`);
      const found = await this.#sessions.get(id);
      const session = found?.repo === repo ? found : undefined;
      if (names.length === 0 && !session) return undefined;
      let last = session?.updatedAt ?? 0;
      for (const name of names) last = Math.max(last, (await storage.stat(`${dir}/${name}`))?.modified.getTime() ?? 0);
      return last < idleBefore ? { names, session } : undefined;
    };
    if (!(await idle())) return false; // judged first without the lock: an active upload is not held up
    return this.locks.withLock(lockKey(repo, id), async () => {
      const found = await idle();
      if (!found) return false;
      await this.#discardData(repo, id);
      for (const name of found.names) await storage.delete(`${dir}/${name}`);
      if (found.session) await this.#forget(repo, id);
      return true;
    });
  }

  async #discard(session: UploadSession): Promise<void> {
    await this.#discardData(session.repo, session.id);
    await this.#forget(session.repo, session.id);
  }

  /** The upload's bytes and the driver's traces of them: cancelled if uncommitted, else deleted. */
  async #discardData(repo: string, id: string): Promise<void> {
    const writer = await this.stores.driver(repo).writer(this.#path(repo, id), { append: true }).catch((err: unknown) => {
      if ((err as { code?: unknown }).code === 'EEXIST') return undefined; // already committed: a plain delete
      throw err;
    });
    if (writer) await writer.cancel();
    else await this.stores.driver(repo).delete(this.#path(repo, id));
  }

  async #session(repo: string, id: string): Promise<UploadSession> {
    this.#path(repo, id);
    const session = await this.#sessions.get(id);
    // Ids are global in the MetaStore; an upload is only reachable under the repository it was started in.
    if (!session || session.repo !== repo) throw BlobUploadUnknown({ uuid: id });
    return session;
  }

  /**
   * Records the new offset if nobody else moved the session since it was read. Losing means another process
   * advanced (or cancelled) the upload meanwhile: answer from the session that won, never overwrite it.
   */
  async #advance(session: UploadSession, size: number, hashState?: Uint8Array): Promise<UploadSession> {
    // Without a state the store clears the saved one: it covered fewer bytes than `size`.
    const result = await this.#sessions.update(session.id, session.version, hashState ? { size, hashState } : { size });
    if (result.ok) return result.value;
    this.#hashes.delete(key(session.repo, session.id));
    if (!result.current) throw BlobUploadUnknown({ uuid: session.id });
    throw rangeInvalid(result.current, size);
  }

  /**
   * Reopens the upload's content for appending, or undefined once it was committed. The driver's size wins
   * over the session's: more bytes than acknowledged means a chunk landed and the process died before it
   * answered. They are durable, so the upload goes on after them (the client learns where from a 416 and
   * the status), and any running hash no longer matches.
   */
  async #open(session: UploadSession, range: ChunkRange | undefined): Promise<{ writer: DriverWriter; session: UploadSession } | undefined> {
    const { repo, id } = session;
    if (range && range.start !== session.size) throw rangeInvalid(session, range.start);
    let writer: DriverWriter;
    try {
      writer = await this.stores.driver(repo).writer(this.#path(repo, id), { append: true });
    } catch (err) {
      if ((err as { code?: unknown }).code === 'EEXIST') return undefined;
      throw err;
    }
    if (writer.size === session.size) return { writer, session };
    this.#hashes.delete(key(repo, id));
    let reconciled: UploadSession;
    try {
      reconciled = await this.#advance(session, writer.size);
    } catch (err) {
      await writer.close();
      throw err;
    }
    if (range && range.start !== writer.size) {
      await writer.close();
      throw rangeInvalid(reconciled, range.start);
    }
    return { writer, session: reconciled };
  }

  /**
   * Streams a chunk into the open writer, through the running hash when one covers every earlier byte, and
   * returns that hash (now covering the chunk too). On failure what landed is kept (closed, durable) and
   * recorded, with the hash only if it saw exactly those bytes.
   */
  async #receive(session: UploadSession, writer: DriverWriter, body: Readable, final: boolean): Promise<RunningDigest | undefined> {
    const k = key(session.repo, session.id);
    const start = writer.size;
    const running = await this.#runningAt(session, start, final);
    const counter = { bytes: 0 };
    try {
      await (running ? pipeline(body, hashingTransform(running, counter), writer) : pipeline(body, pacedPassThrough(), writer));
    } catch (err) {
      await writer.close().catch(() => undefined);
      const kept = running && counter.bytes === writer.size - start ? running : undefined;
      if (kept) this.#remember(session.repo, session.id, { hash: kept, size: writer.size });
      else this.#hashes.delete(k);
      await this.#advance(session, writer.size, kept?.save()).catch(() => undefined);
      throw err;
    }
    if (running) this.#remember(session.repo, session.id, { hash: running, size: writer.size });
    else this.#hashes.delete(k);
    return running;
  }

  /**
   * The hash of the upload's first `size` bytes: this process's, the state saved in the session (the
   * session's offset is `size` whenever it holds one: any other change cleared it), or a new one at 0. A
   * chunk that ends the upload (`final`) needs no state to hand on, so it gets the faster local hasher.
   */
  async #runningAt(session: UploadSession, size: number, final: boolean): Promise<RunningDigest | undefined> {
    const local = this.#hashes.get(key(session.repo, session.id));
    if (local?.size === size) return local.hash;
    if (session.hashState && session.size === size) {
      const resumed = await portableDigest(session.hashState);
      if (resumed) return resumed;
    }
    if (size !== 0) return undefined;
    return this.#portable && !final ? portableDigest() : localDigest();
  }

  // The fallback when no running hash covers the upload (another process streamed part of it, or sha512):
  // one read of the committed content. A mismatch removes it, as Distribution and Zot discard the session.
  async #verifyCommitted(repo: string, id: string, digest: ParsedDigest): Promise<void> {
    const path = this.#path(repo, id);
    const hash = newHash(digest.algorithm);
    for await (const chunk of await this.stores.driver(repo).reader(path)) hash.update(chunk as Buffer);
    const actual = `${digest.algorithm}:${hash.digest('hex')}`;
    if (actual === digest.digest) return;
    await this.stores.driver(repo).delete(path);
    await this.#forget(repo, id);
    throw DigestInvalid({ expected: digest.digest, actual });
  }

  /** Keeps a local hash for this process's next chunk; a portable one lives in the session and is not kept. */
  #remember(repo: string, id: string, running: RunningHash): void {
    const k = key(repo, id);
    if (running.hash.portable) {
      this.#hashes.delete(k);
      return;
    }
    this.#hashes.delete(k); // re-inserted last: eviction takes the least recently used
    this.#hashes.set(k, running);
    if (this.#hashes.size > MAX_RUNNING_HASHES) this.#hashes.delete(this.#hashes.keys().next().value as string);
  }

  async #forget(repo: string, id: string): Promise<void> {
    this.#hashes.delete(key(repo, id));
    await this.#sessions.delete(id);
  }

  #path(repo: string, id: string): string {
    if (!UPLOAD_ID.test(id)) throw BlobUploadUnknown({ uuid: id });
    return layout.upload(repo, id);
  }
}

function key(repo: string, id: string): string {
  return `${repo}\u0000${id}`;
}

/** 416 with where the upload really ends, so the client can continue from there (or learn it lost a race). */
function rangeInvalid(session: UploadSession, start: number): Error {
  const { repo, id, size } = session;
  return RangeInvalid({ uuid: id, expectedStart: size, start }, {
    Location: `/v2/${repo}/blobs/uploads/${id}`,
    Range: `0-${Math.max(size - 1, 0)}`,
    'Docker-Upload-UUID': id,
  });
}

function lockKey(repo: string, id: string): string {
  return `upload:${key(repo, id)}`;
}
