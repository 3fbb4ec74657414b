import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { FileInfo, StorageDriver } from '../../core/extensions/api';
import { DIR_MODE, errorCode, FILE_MODE, markerFor, openAppending, openFresh, syncDirectory, tempBeside } from './file-writer';
import { SendBudget, sendFileRange } from './send-file';

// Blobs are large and read sequentially; 64 KiB default chunks cost syscalls and event-loop turns.
const READ_CHUNK = 1024 * 1024;

export interface FilesystemDriverOptions {
  rootDirectory: string;
  /**
   * Fsync the parent directory after each rename, link or marker change, so the new name itself survives a
   * power cut (file contents are fsynced before they become visible either way). Defaults to true; the
   * built-in registration (index.ts) always passes true whatever `storage.commit` says. False is for tools
   * and tests that do not need crash safety.
   */
  commit?: boolean;
}

type Visitor = Parameters<StorageDriver['walk']>[1];

/**
 * A driver over a local directory. New content goes to a temp file beside its target (`.<name>.tmp-<hex>`,
 * same filesystem so the final rename is atomic, and a suffix a sweep can recognise) and is renamed on commit;
 * appended content is written in place with an `.<name>.open` marker until commit (see file-writer.ts).
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

  // New content for `target` is made complete and durable under a temp name beside it, then renamed over it.
  async function replaceWith(target: string, fill: (temp: string) => Promise<void>): Promise<void> {
    await mkdirFor(target);
    const temp = tempBeside(target);
    try {
      await fill(temp);
      await fs.rename(temp, target);
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw err;
    }
    if (syncDirs) await syncDirectory(dirname(target));
  }

  const sends = new SendBudget();

  return {
    name: 'filesystem',

    // The root is still there and a directory (an unmounted or removed volume is not).
    async ping() {
      if (!(await fs.stat(root)).isDirectory()) throw new Error(`${root} is not a directory`);
    },

    async stat(path) {
      try {
        const s = await fs.stat(abs(path));
        const info: FileInfo = { path, size: s.size, modified: s.mtime, isDir: s.isDirectory() };
        // Hard links share device and inode: dedupe and its restore pass tell shared copies apart by this.
        if (!info.isDir) Object.assign(info, { fileId: `${s.dev}:${s.ino}`, links: s.nlink });
        return info;
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

    async writer(path, o) {
      const target = abs(path);
      await mkdirFor(target);
      return o?.append ? openAppending(target, syncDirs, path) : openFresh(target, syncDirs);
    },

    getContent: (path) => fs.readFile(abs(path)).catch(rethrowMissing),

    async putContent(path, data) {
      await replaceWith(abs(path), async (temp) => {
        const fh = await fs.open(temp, 'wx', FILE_MODE);
        try {
          await fh.writeFile(data);
          await fh.sync();
        } finally {
          await fh.close();
        }
      });
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

    /** Deleting uncommitted content takes its marker too, so nothing of it is left to resume. */
    async delete(path) {
      const full = abs(path);
      if (full === root) throw new Error('refusing to delete the storage root');
      await fs.rm(full, { recursive: true, force: true });
      await fs.rm(markerFor(full), { force: true });
    },

    /**
     * copyFile asks for a reflink (FICLONE: shared extents, copy-on-write, so still independent) and falls
     * back to copy_file_range in the kernel; either way the bytes never pass through this process. Into a
     * temp name, fsynced, then renamed over the target, as every write here.
     */
    async copy(from, to) {
      const src = abs(from);
      await fs.lstat(src);
      await replaceWith(abs(to), async (temp) => {
        await fs.copyFile(src, temp, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
        const fh = await fs.open(temp, 'r+');
        try {
          await fh.chmod(FILE_MODE);
          await fh.sync();
        } finally {
          await fh.close();
        }
      });
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

// ENOTDIR means a path component is a file: the path does not exist, and the contract says so with ENOENT.
function isMissing(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function rethrowMissing(err: unknown): never {
  if (errorCode(err) === 'ENOTDIR') throw Object.assign(new Error((err as Error).message, { cause: err }), { code: 'ENOENT' });
  throw err;
}
