import type { Readable, Writable } from 'node:stream';

/** What `stat` and `walk` report about one path. */
export interface FileInfo {
  /** The path relative to the driver's root, '/'-separated, no leading slash. */
  path: string;
  size: number;
  modified: Date;
  isDir: boolean;
  /**
   * Optional, from `stat` only: an identity of the stored bytes. Two paths reporting the same `fileId` share
   * one copy (hard links on a filesystem: device and inode), so replacing one path's content never touches
   * the other's. Absent when the medium has no such notion (object stores).
   */
  fileId?: string;
  /** Optional, with `fileId`: how many paths share this copy (a filesystem's link count). */
  links?: number;
}

/** Where to read: bytes `start`..`end` (inclusive); `chunkSize` hints the size of the chunks to emit. */
export interface ReadOptions {
  start: number;
  end?: number;
  /**
   * A hint for drivers that read in chunks: many concurrent slow readers (pull-through followers) want small
   * chunks so memory stays bounded; a single fast reader wants large ones.
   */
  chunkSize?: number;
}

/**
 * A writer returned by {@link StorageDriver.writer}, Distribution's FileWriter: content written through it is
 * *uncommitted* until `commit()`, which publishes it at the target path in one atomic step, once. Before that
 * the content can be closed and resumed (`close()`, then `writer(path, { append: true })`, in this process or
 * another) or discarded (`cancel()`).
 *
 * Uncommitted content is not guaranteed to be readable at the target path: an object store cannot serve an
 * open multipart upload. A driver that writes it in place (the filesystem) may show it through `reader` and
 * `stat`, so core opens appending writers only at paths no client is served from (uploads, fill spools) and
 * makes a blob visible by committing or moving there.
 *
 * After a failed write (the stream errored or was destroyed) the owner still calls `cancel()` to discard the
 * content, or, for an appending writer, `close()` to keep what landed (`size` then says how much).
 */
export interface DriverWriter extends Writable {
  /** Bytes of this content so far: what an appending writer resumed plus what has landed since. */
  readonly size: number;
  /**
   * Ends the writer, makes what was written durable, and leaves the content uncommitted and resumable.
   * `commit()` or `cancel()` may still follow on this object. Closing a writer opened without `append` over
   * a path that holds committed content need not be supported (the filesystem rejects it with EEXIST):
   * core closes only appending writers.
   */
  close(): Promise<void>;
  /**
   * Ends the writer if still open, makes the content durable, then visible at the target path in one atomic
   * step, replacing what was there. Called once; rejects on a second call and after `cancel()`.
   */
  commit(): Promise<void>;
  /**
   * Discards the content and every trace of it (resumed bytes included); the target path keeps its committed
   * content (or stays absent). A no-op when already discarded; rejects once `commit()` has started.
   */
  cancel(): Promise<void>;
}

/**
 * A storage back end: a dumb streaming store of paths. It knows nothing of OCI; the registry logic in
 * core/registry is written once over this interface.
 *
 * Contract, checked by storage-drivers/conformance:
 * - paths are relative, '/'-separated, never contain '..' or empty segments (the core wrapper checks this);
 *   '' names the root and is passed only to stat, list and walk;
 * - a missing path (including one below a file) rejects with an error whose `code` is 'ENOENT'
 *   (the wrapper maps it, and S3's NoSuchKey/NotFound, to PathNotFoundError);
 * - readers and writers stream: no method holds a whole file in memory except getContent/putContent;
 * - putContent and writer().commit() replace the target atomically: a reader sees the old or the new content;
 * - nothing temporary is left under the root after commit(), cancel() or a failed, cancelled write; a
 *   driver's own bookkeeping (temp files, markers of uncommitted content) is invisible to list and walk, or
 *   sits under names beginning with '.' (core never names a file so), and goes with commit() or cancel().
 */
export interface StorageDriver {
  readonly name: string;
  /** Size, mtime and kind of a path, or undefined when it does not exist. */
  stat(path: string): Promise<FileInfo | undefined>;
  /** A stream of the file's bytes from `start` (inclusive) to `end` (inclusive), or the whole file. */
  reader(path: string, range?: ReadOptions): Promise<Readable>;
  /**
   * Optional fast path for serving: writes the file (or a range) into `dest` with a few reused buffers and
   * resolves with the bytes written once `dest` has accepted them all; rejects if `dest` closes first.
   * Missing paths reject with ENOENT before anything is written.
   */
  sendTo?(path: string, dest: Writable, range?: ReadOptions): Promise<number>;
  /**
   * A writer to `path`, creating parent directories.
   *
   * Without `append`: new content that replaces `path` at commit and is invisible until then; several may be
   * open for one path and the last commit wins.
   *
   * With `append`: continues the uncommitted content of `path` that an earlier writer closed (`size` starts
   * at its length), or starts new content when there is none and `path` is absent or holds zero-length
   * committed content. Appending to committed content of non-zero length rejects with code 'EEXIST': an
   * object cannot be reopened. One appending writer per path at a time; the caller serialises them.
   */
  writer(path: string, opts?: { append?: boolean }): Promise<DriverWriter>;
  /** Reads a small file whole (index.json, manifests). */
  getContent(path: string): Promise<Buffer>;
  /** Atomically replaces a small file, creating parent directories. */
  putContent(path: string, data: Buffer): Promise<void>;
  /**
   * The names (not paths) of the direct children of a directory, in any order; [] when it does not exist or is
   * a file (so a catalog walk lists each entry once instead of a stat and a list: an object store has no
   * children under a key).
   */
  list(dir: string): Promise<string[]>;
  /** Visits every file and directory below `dir`, depth first; a visitor returning 'skip' skips a directory. */
  walk(dir: string, visit: (info: FileInfo) => Promise<void | 'skip'> | void | 'skip'): Promise<void>;
  /**
   * Moves a file or directory, creating the target's parents; an existing target file is replaced atomically.
   * Moving onto an existing non-empty directory need not be supported.
   */
  move(from: string, to: string): Promise<void>;
  /** Deletes a file or a whole directory tree; a missing path is not an error. */
  delete(path: string): Promise<void>;
  /**
   * Makes `to` share `from`'s content (a hard link on a filesystem), replacing `to` atomically if it exists
   * and creating its parents; optional. Both paths then report the same `fileId`.
   */
  link?(from: string, to: string): Promise<void>;
  /**
   * Server-side copy, optional: `to` gets `from`'s bytes without them passing through berth (S3 CopyObject,
   * copy_file_range or a reflink on a filesystem). The copy is independent of the source: deleting or
   * replacing `from` afterwards leaves `to` intact, and they never report the same `fileId`. `to` is replaced
   * atomically (a reader sees the old or the whole new content), parents are created, and a missing `from`
   * rejects with ENOENT before `to` changes. Core prefers `link`, then `copy`, then a streamed copy.
   */
  copy?(from: string, to: string): Promise<void>;
  /** A URL clients may be redirected to for a blob (e.g. presigned S3); optional. */
  redirectURL?(path: string, method: 'GET' | 'HEAD'): Promise<string | undefined>;
  /**
   * A cheap round trip to the backing store (one small request), optional: `/readyz` calls it (bounded in
   * time, cached briefly) and answers 503 while it rejects. A driver without it counts as reachable.
   */
  ping?(): Promise<void>;
  /** Releases connections and handles. */
  close?(): Promise<void>;
}

/** Builds a driver from its slice of the config (`storage.storageDriver` for cloud drivers). */
export type DriverFactory = (options: DriverOptions) => StorageDriver | Promise<StorageDriver>;

export interface DriverOptions {
  /** `storage.rootDirectory` (for a cloud driver: the local directory for databases). */
  rootDirectory: string;
  /**
   * Zot's `storage.commit` as configured (Zot's default: false). Zot fsyncs only when it is true; a driver
   * may be stricter. The filesystem driver is: it syncs file contents and directories whatever this says
   * (storage-drivers/filesystem/index.ts), since an acknowledged push must survive a crash.
   */
  commit: boolean;
  /** The driver's own keys from `storage.storageDriver`, lower-cased as Zot passes them. */
  params: Record<string, unknown>;
  /**
   * For a cloud driver, the root Zot's image store puts in front of every path it hands the driver, which
   * then adds its own `rootdirectory`: the *default* store's `storageDriver.rootdirectory` ('/' when unset or
   * when the default store is local), for every `subPaths` store too (Zot's pkg/storage/storage.go New and
   * getSubStore). A driver that keeps Zot's keys builds them from it; others ignore it.
   */
  imageStoreRoot?: string;
}
