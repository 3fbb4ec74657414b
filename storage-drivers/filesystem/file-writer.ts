import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { DriverWriter } from '../../core/extensions/api';

// Zot's modes: the registry's files are for the registry process only.
export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
const WRITE_BUFFER = 1024 * 1024;

/**
 * Where a writer's uncommitted bytes are:
 * - 'temp': a private `.<name>.tmp-<hex>` beside the target (a writer opened without append), renamed over
 *   the target at commit; a crash leaves it for a sweep, never under the target's name;
 * - 'in-place': the target itself, with an `.<name>.open` marker beside it saying the content is uncommitted
 *   (an appending writer). In place, because a pull-through fill's followers read the spool while it grows
 *   (core/registry/blob-fill.ts); the marker is what lets a reopen resume it and refuse committed content.
 */
type Place = { kind: 'temp'; temp: string } | { kind: 'in-place'; marker: string };

type State = 'open' | 'closed' | 'committing' | 'committed' | 'discarded';

export interface FileWriterOptions {
  target: string;
  /** Bytes already in the content (an appending writer resuming). */
  start: number;
  /** Fsync the parent directory after a rename or a marker change. */
  syncDir: boolean;
  /** The target held zero-length committed content this writer started over: cancel() puts it back. */
  replacedEmpty?: boolean;
}

/**
 * Opens an appending writer: resumes uncommitted content (marker present), starts new content over nothing
 * or zero-length committed content, and refuses committed content (EEXIST), as the driver contract says.
 */
export async function openAppending(target: string, syncDir: boolean, path: string): Promise<FileWriter> {
  const marker = markerFor(target);
  if (await exists(marker)) {
    const fh = await fs.open(target, 'a', FILE_MODE);
    try {
      const { size } = await fh.stat();
      return new FileWriter(fh, { kind: 'in-place', marker }, { target, start: size, syncDir });
    } catch (err) {
      await fh.close();
      throw err;
    }
  }
  const committed = await fs.stat(target).catch((err: unknown) => (errorCode(err) === 'ENOENT' ? undefined : Promise.reject(err)));
  if (committed && (committed.isDirectory() || committed.size > 0)) {
    throw Object.assign(new Error(`cannot append to committed content: ${path}`), { code: 'EEXIST' });
  }
  // The marker first: from here on a crash leaves content a reopen resumes, never a file that looks committed.
  await fs.writeFile(marker, '', { mode: FILE_MODE });
  if (syncDir) await syncDirectory(dirname(target));
  const fh = await fs.open(target, 'w', FILE_MODE);
  return new FileWriter(fh, { kind: 'in-place', marker }, { target, start: 0, syncDir, replacedEmpty: committed !== undefined });
}

/** Opens a writer for new content in a private temp beside the target. */
export async function openFresh(target: string, syncDir: boolean): Promise<FileWriter> {
  const temp = tempBeside(target);
  const fh = await fs.open(temp, 'wx', FILE_MODE);
  return new FileWriter(fh, { kind: 'temp', temp }, { target, start: 0, syncDir });
}

/** The writer behind the filesystem driver's `writer()`; see {@link Place} for where its bytes go. */
export class FileWriter extends Writable implements DriverWriter {
  readonly #fh: fs.FileHandle;
  readonly #target: string;
  readonly #syncDir: boolean;
  readonly #replacedEmpty: boolean;
  #place: Place;
  #size: number;
  #state: State = 'open';
  #closing: Promise<void> | undefined;
  #discarding: Promise<void> | undefined;

  constructor(fh: fs.FileHandle, place: Place, o: FileWriterOptions) {
    super({ highWaterMark: WRITE_BUFFER });
    this.#fh = fh;
    this.#place = place;
    this.#target = o.target;
    this.#size = o.start;
    this.#syncDir = o.syncDir;
    this.#replacedEmpty = o.replacedEmpty ?? false;
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

  // A writer destroyed before it finished (a failed pipeline, ENOSPC) may never hear from its owner again, so
  // it settles now: a temp is removed; appended content is kept, durable and resumable, as close() would
  // (the bytes of acknowledged chunks must not go with a failed one). After 'finish' autoDestroy lands here
  // too, and close() or commit() is still to come.
  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (this.writableFinished || this.#state !== 'open') return done(err);
    if (this.#place.kind === 'temp') {
      this.#state = 'discarded';
      this.#discard().then(() => done(err), (e: Error) => done(err ?? e));
      return;
    }
    this.#state = 'closed';
    this.#closing = (async () => {
      try {
        await this.#fh.sync();
      } finally {
        await this.#fh.close(); // waits for a write still in flight
      }
    })();
    this.#closing.then(() => done(err), (e: Error) => done(err ?? e));
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return this.#closing;
    if (this.#state !== 'open') throw new Error(`cannot close a writer that is ${this.#state}`);
    this.#state = 'closed';
    this.#closing = this.#flush().then(() => this.#keepResumable());
    try {
      await this.#closing;
    } catch (err) {
      await this.#afterFailure();
      throw err;
    }
  }

  async commit(): Promise<void> {
    const was = this.#state;
    if (was !== 'open' && was !== 'closed') throw this.errored ?? new Error(`cannot commit a writer that is ${was}`);
    this.#state = 'committing';
    try {
      if (was === 'open') await this.#flush();
      else await this.#closing;
      if (this.#place.kind === 'temp') await fs.rename(this.#place.temp, this.#target);
      else await fs.rm(this.#place.marker, { force: true });
      if (this.#syncDir) await syncDirectory(dirname(this.#target)); // or the rename or unlink may be lost in a crash
      this.#state = 'committed';
    } catch (err) {
      await this.#afterFailure();
      throw err;
    }
  }

  async cancel(): Promise<void> {
    if (this.#state === 'committing' || this.#state === 'committed') throw new Error(`cannot cancel a writer that is ${this.#state}`);
    if (this.#state === 'open') {
      this.#state = 'discarded';
      this.destroy();
    }
    this.#state = 'discarded';
    await this.#discard();
  }

  // A failed close or commit removes a temp, but keeps appended content uncommitted: it holds chunks an
  // upload already acknowledged, and its owner decides (cancel, or a later reopen and commit).
  async #afterFailure(): Promise<void> {
    if (this.#place.kind === 'temp') {
      this.#state = 'discarded';
      await this.#discard().catch(() => undefined);
    } else {
      this.#state = 'closed';
      this.#closing ??= Promise.resolve();
      await this.#fh.close().catch(() => undefined);
    }
  }

  // Everything written is on disk and the handle is closed.
  async #flush(): Promise<void> {
    if (!this.writableEnded) this.end();
    await finished(this);
    await this.#fh.sync(); // durable before any name points at it
    await this.#fh.close();
  }

  // A closed temp becomes the target's uncommitted content, so `writer(path, { append: true })` finds it.
  async #keepResumable(): Promise<void> {
    if (this.#place.kind === 'in-place') return;
    const marker = markerFor(this.#target);
    if (!(await exists(marker)) && (await exists(this.#target))) {
      throw Object.assign(new Error(`cannot keep uncommitted content over committed content: ${this.#target}`), { code: 'EEXIST' });
    }
    await fs.writeFile(marker, '', { mode: FILE_MODE });
    await fs.rename(this.#place.temp, this.#target);
    this.#place = { kind: 'in-place', marker };
    if (this.#syncDir) await syncDirectory(dirname(this.#target));
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
      await this.#closing?.catch(() => undefined);
      await this.#fh.close(); // waits for a write still in flight; a no-op when already closed
      const place = this.#place;
      if (place.kind === 'temp') return fs.rm(place.temp, { force: true });
      // The content before the marker: a crash in between leaves a marker alone (empty uncommitted content,
      // swept with its upload), never a file that looks committed.
      if (this.#replacedEmpty) await fs.truncate(this.#target, 0);
      else await fs.rm(this.#target, { force: true });
      await fs.rm(place.marker, { force: true });
    })();
    return this.#discarding;
  }
}

/** The marker that says the content at `target` is uncommitted. */
export function markerFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.open`);
}

export function tempBeside(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${randomBytes(8).toString('hex')}`);
}

export async function syncDirectory(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

async function exists(path: string): Promise<boolean> {
  return fs.lstat(path).then(() => true, (err: unknown) => (errorCode(err) === 'ENOENT' ? false : Promise.reject(err)));
}

function dropBytes(buffers: Buffer[], count: number): Buffer[] {
  let left = count;
  let i = 0;
  while (i < buffers.length && left >= buffers[i].length) left -= buffers[i++].length;
  const rest = buffers.slice(i);
  if (left > 0 && rest.length > 0) rest[0] = rest[0].subarray(left);
  return rest;
}
