import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { Writable } from 'node:stream';
import { SendBudget, sendFileRange } from './send-file';
import { finished } from 'node:stream/promises';
import type { DriverWriter, FileInfo, StorageDriver } from '../../core/storage/driver';

// Zot's modes: the registry's files are for the registry process only.
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
// Blobs are large and read sequentially; 64 KiB default chunks cost syscalls and event-loop turns.
const READ_CHUNK = 1024 * 1024;
const WRITE_BUFFER = 1024 * 1024;

export interface FilesystemDriverOptions {
  rootDirectory: string;
  /**
   * `storage.commit`. File contents are always fsynced before they become visible; this adds an fsync of
   * the parent directory after each rename or link, so the new name itself survives a power cut.
   * Defaults to true here; the config layer passes Zot's default (false) explicitly.
   */
  commit?: boolean;
}

type Visitor = Parameters<StorageDriver['walk']>[1];

/**
 * A driver over a local directory. Writers go to a temp file beside their target (`.<name>.tmp-<hex>`, same
 * filesystem so the final rename is atomic, and a suffix a sweep can recognise) and rename on commit.
 */
export function createFilesystemDriver(opts: FilesystemDriverOptions): StorageDriver {
  const root = resolve(opts.rootDirectory);
  const syncDirs = opts.commit ?? true;

  // The core wrapper validates paths; this check only keeps a bare driver from ever leaving its root.
  const abs = (path: string): string => {
    const full = join(root, path);
    if (full !== root && !full.startsWith(root + sep)) throw new Error(`path escapes the storage root: ${path}`);
    return full;
  };
  const mkdirFor = (file: string) => fs.mkdir(dirname(file), { recursive: true, mode: DIR_MODE });

  async function list(dir: string): Promise<string[]> {
    try {
      return (await fs.readdir(abs(dir))).sort();
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }

  async function walk(dir: string, visit: Visitor): Promise<void> {
    for (const name of await list(dir)) {
      const path = dir === '' ? name : `${dir}/${name}`;
      // lstat: a symlink is reported, never followed, so a stray link cannot loop the walk or leave the root.
      const s = await fs.lstat(abs(path)).catch((err: unknown) => (isMissing(err) ? undefined : Promise.reject(err)));
      if (!s) continue; // deleted since readdir
      const info: FileInfo = { path, size: s.size, modified: s.mtime, isDir: s.isDirectory() };
      if ((await visit(info)) !== 'skip' && info.isDir) await walk(path, visit);
    }
  }

  const sends = new SendBudget();

  return {
    name: 'filesystem',

    async stat(path) {
      try {
        const s = await fs.stat(abs(path));
        return { path, size: s.size, modified: s.mtime, isDir: s.isDirectory() };
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },

    async reader(path, range) {
      // Opening first turns a missing file into a rejection here rather than an 'error' event mid-response.
      const fh = await fs.open(abs(path), 'r').catch(rethrowMissing);
      try {
        if ((await fh.stat()).isDirectory()) throw Object.assign(new Error(`is a directory: ${path}`), { code: 'EISDIR' });
        return fh.createReadStream({ start: range?.start, end: range?.end, highWaterMark: range?.chunkSize ?? READ_CHUNK });
      } catch (err) {
        await fh.close();
        throw err;
      }
    },

    async sendTo(path, dest, range) {
      const fh = await fs.open(abs(path), 'r').catch(rethrowMissing);
      try {
        const { size } = await fh.stat();
        const start = range?.start ?? 0;
        const end = Math.min(range?.end ?? size - 1, size - 1);
        return end < start ? 0 : await sends.run((chunk) => sendFileRange(fh, dest, start, end, chunk));
      } finally {
        await fh.close();
      }
    },

    /**
     * With `append`, bytes go straight onto the file at `path` (created if missing) and are visible as they
     * land: appending writers exist only for upload scratch files, which the registry never serves.
     * `cancel()` truncates back to the size found at open, so a failed chunk leaves no partial bytes.
     */
    async writer(path, o) {
      const target = abs(path);
      await mkdirFor(target);
      if (o?.append) {
        const fh = await fs.open(target, 'a', FILE_MODE);
        try {
          const { size } = await fh.stat();
          return new FileWriter(fh, { target, start: size, syncDir: false });
        } catch (err) {
          await fh.close();
          throw err;
        }
      }
      const temp = tempBeside(target);
      const fh = await fs.open(temp, 'wx', FILE_MODE);
      return new FileWriter(fh, { target, temp, start: 0, syncDir: syncDirs });
    },

    getContent: (path) => fs.readFile(abs(path)).catch(rethrowMissing),

    async putContent(path, data) {
      const target = abs(path);
      await mkdirFor(target);
      const temp = tempBeside(target);
      try {
        const fh = await fs.open(temp, 'wx', FILE_MODE);
        try {
          await fh.writeFile(data);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await fs.rename(temp, target);
      } catch (err) {
        await fs.rm(temp, { force: true });
        throw err;
      }
      if (syncDirs) await syncDirectory(dirname(target));
    },

    list,
    walk,

    /** Moving a directory onto an existing non-empty directory fails (ENOTEMPTY): rename(2) cannot merge. */
    async move(from, to) {
      const src = abs(from);
      const dst = abs(to);
      await fs.lstat(src); // a missing source rejects before any parent directory is created
      await mkdirFor(dst);
      await fs.rename(src, dst);
      if (syncDirs) {
        await syncDirectory(dirname(dst));
        if (dirname(src) !== dirname(dst)) await syncDirectory(dirname(src));
      }
    },

    async delete(path) {
      const full = abs(path);
      if (full === root) throw new Error('refusing to delete the storage root');
      await fs.rm(full, { recursive: true, force: true });
    },

    async link(from, to) {
      const src = abs(from);
      const dst = abs(to);
      await fs.lstat(src);
      await mkdirFor(dst);
      try {
        await fs.link(src, dst);
      } catch (err) {
        if (errorCode(err) !== 'EEXIST') throw err;
        // link(2) never replaces; a temp link renamed over the target swaps it atomically.
        const temp = tempBeside(dst);
        try {
          await fs.link(src, temp);
          await fs.rename(temp, dst);
        } finally {
          // rename(2) does nothing when both names are already the same inode, leaving the temp behind.
          await fs.rm(temp, { force: true });
        }
      }
      if (syncDirs) await syncDirectory(dirname(dst));
    },
  };
}

/** The writer behind {@link StorageDriver.writer}: a temp file renamed on commit, or an appended file. */
class FileWriter extends Writable implements DriverWriter {
  readonly #fh: fs.FileHandle;
  readonly #target: string;
  readonly #temp: string | undefined;
  readonly #start: number;
  readonly #syncDir: boolean;
  #size: number;
  #state: 'open' | 'committing' | 'committed' | 'discarded' = 'open';
  #discarding: Promise<void> | undefined;

  constructor(fh: fs.FileHandle, o: { target: string; temp?: string; start: number; syncDir: boolean }) {
    super({ highWaterMark: WRITE_BUFFER });
    this.#fh = fh;
    this.#target = o.target;
    this.#temp = o.temp;
    this.#start = o.start;
    this.#size = o.start;
    this.#syncDir = o.syncDir;
  }

  get size(): number {
    return this.#size;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#writeAll([chunk]).then(() => done(), done);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    this.#writeAll(chunks.map((c) => c.chunk)).then(() => done(), done);
  }

  // A writer destroyed before it finished (a failed pipeline, ENOSPC) is abandoned: clean up now, since its
  // owner may never get to cancel(). After 'finish' autoDestroy lands here too, and commit() is still to come.
  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (this.writableFinished || this.#state !== 'open') return done(err);
    this.#state = 'discarded';
    this.#discard().then(() => done(err), (e: Error) => done(err ?? e));
  }

  async commit(): Promise<void> {
    if (this.#state !== 'open') throw this.errored ?? new Error(`cannot commit a writer that is ${this.#state}`);
    this.#state = 'committing';
    try {
      if (!this.writableEnded) this.end();
      await finished(this);
      await this.#fh.sync(); // durable before any name points at it
      await this.#fh.close();
      if (this.#temp !== undefined) {
        await fs.rename(this.#temp, this.#target);
        if (this.#syncDir) await syncDirectory(dirname(this.#target)); // or the rename may be lost in a crash
      }
      this.#state = 'committed';
    } catch (err) {
      this.#state = 'discarded';
      await this.#discard().catch(() => undefined);
      throw err;
    }
  }

  async cancel(): Promise<void> {
    if (this.#state === 'committing' || this.#state === 'committed') throw new Error(`cannot cancel a writer that is ${this.#state}`);
    if (this.#state === 'open') {
      this.#state = 'discarded';
      this.destroy();
    }
    await this.#discard();
  }

  async #writeAll(buffers: Buffer[]): Promise<void> {
    let pending = buffers;
    while (pending.length > 0) {
      const { bytesWritten } = await this.#fh.writev(pending);
      this.#size += bytesWritten;
      pending = dropBytes(pending, bytesWritten); // short writes happen (e.g. more buffers than IOV_MAX)
    }
  }

  #discard(): Promise<void> {
    this.#discarding ??= (async () => {
      try {
        if (this.#temp === undefined) await this.#fh.truncate(this.#start);
      } finally {
        await this.#fh.close(); // waits for a write still in flight; a no-op when already closed
        if (this.#temp !== undefined) await fs.rm(this.#temp, { force: true });
      }
    })();
    return this.#discarding;
  }
}

function dropBytes(buffers: Buffer[], count: number): Buffer[] {
  let left = count;
  let i = 0;
  while (i < buffers.length && left >= buffers[i].length) left -= buffers[i++].length;
  const rest = buffers.slice(i);
  if (left > 0 && rest.length > 0) rest[0] = rest[0].subarray(left);
  return rest;
}

function tempBeside(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${randomBytes(8).toString('hex')}`);
}

async function syncDirectory(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

// ENOTDIR means a path component is a file: the path does not exist, and the contract says so with ENOENT.
function isMissing(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function rethrowMissing(err: unknown): never {
  if (errorCode(err) === 'ENOTDIR') throw Object.assign(new Error((err as Error).message, { cause: err }), { code: 'ENOENT' });
  throw err;
}
