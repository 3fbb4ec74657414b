import type { Readable, Writable } from 'node:stream';

/** What `stat` and `walk` report about one path. */
export interface FileInfo {
  /** The path relative to the driver's root, '/'-separated, no leading slash. */
  path: string;
  size: number;
  modified: Date;
  isDir: boolean;
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
 * A writer returned by {@link StorageDriver.writer}. Bytes written are invisible under the target path
 * until `commit()` resolves (appending writers excepted, see `writer`); `cancel()` removes every trace of
 * the write. After a failed write (the stream errored or was destroyed) the owner still calls `cancel()`.
 */
export interface DriverWriter extends Writable {
  /** Bytes written so far, including what an appending writer found already committed. */
  readonly size: number;
  /** Flushes, makes the content durable, then visible at the target path in one atomic step. */
  commit(): Promise<void>;
  /**
   * Discards what was written; the target path keeps its previous content (or stays absent). A no-op when
   * already discarded; rejects once `commit()` has started.
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
 * - nothing temporary is left under the root after commit(), cancel() or a failed write.
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
   * A writer to `path`, creating parent directories. With `append`, continues the file at `path` (created
   * when missing) and `size` starts at its current length; appended bytes may be visible before commit, so
   * appending is only for upload scratch files the registry never serves, and `cancel()` restores the length
   * found at open.
   */
  writer(path: string, opts?: { append?: boolean }): Promise<DriverWriter>;
  /** Reads a small file whole (index.json, manifests). */
  getContent(path: string): Promise<Buffer>;
  /** Atomically replaces a small file, creating parent directories. */
  putContent(path: string, data: Buffer): Promise<void>;
  /** The names (not paths) of the direct children of a directory; [] when it does not exist. */
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
  /** Makes `to` share `from`'s content (a hard link on a filesystem); optional. */
  link?(from: string, to: string): Promise<void>;
  /** A URL clients may be redirected to for a blob (e.g. presigned S3); optional. */
  redirectURL?(path: string, method: 'GET' | 'HEAD'): Promise<string | undefined>;
  /** Releases connections and handles. */
  close?(): Promise<void>;
}

/** Builds a driver from its slice of the config (`storage.storageDriver` for cloud drivers). */
export type DriverFactory = (options: DriverOptions) => StorageDriver | Promise<StorageDriver>;

export interface DriverOptions {
  /** `storage.rootDirectory` (for a cloud driver: the local directory for databases). */
  rootDirectory: string;
  /** `storage.commit`: fsync on every write (berth always fsyncs blobs; this adds directory syncs). */
  commit: boolean;
  /** The driver's own keys from `storage.storageDriver`, lower-cased as Zot passes them. */
  params: Record<string, unknown>;
}
