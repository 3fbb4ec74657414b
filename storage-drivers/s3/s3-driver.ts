/**
 * The S3 storage driver: Distribution's s3-aws driver semantics over @aws-sdk/client-s3. Paths are keys below
 * `rootdirectory`; a "directory" is a key prefix ending in '/', so it exists while some object is below it.
 */
import { Readable, type Writable } from 'node:stream';
import type { DriverWriter, FileInfo, ReadOptions, StorageDriver } from '../../core/extensions/api';
import { notFound, Objects } from './objects';
import type { S3Options } from './options';
import { openS3Writer } from './s3-writer';
import { discardState, readState } from './upload-state';

/** Upload state objects (upload-state.ts) found while deleting a tree: their multipart uploads are aborted too. */
const STATE_NAME = /(^|\/)\.[^/]+\.open$/;

export function createS3Driver(opts: S3Options): StorageDriver {
  return new S3Driver(new Objects(opts));
}

class S3Driver implements StorageDriver {
  readonly name = 's3';

  constructor(private readonly objects: Objects) {}

  async stat(path: string): Promise<FileInfo | undefined> {
    if (path === '') return { path, size: 0, modified: new Date(0), isDir: true };
    const file = await this.objects.head(path);
    if (file) return { path, size: file.size, modified: file.modified, isDir: false };
    const below = await this.objects.anyBelow(this.objects.key(`${path}/`));
    return below ? { path, size: 0, modified: below.modified, isDir: true } : undefined;
  }

  async reader(path: string, range?: ReadOptions): Promise<Readable> {
    const start = range?.start ?? 0;
    try {
      return await this.objects.read(path, start, range?.end);
    } catch (err) {
      // A range starting at the end (S3 answers 416 InvalidRange) reads nothing, as a file read there does.
      if ((err as { name?: string }).name !== 'InvalidRange') throw err;
      const file = await this.objects.head(path);
      if (!file) throw notFound(path);
      if (start < file.size) throw err;
      return Readable.from([]);
    }
  }

  /** Blob GETs: the object's bytes go into `dest` from a few reused buffers per connection (raw-get.ts). */
  sendTo(path: string, dest: Writable, range?: ReadOptions): Promise<number> {
    return this.objects.sendTo(path, dest, range?.start ?? 0, range?.end);
  }

  writer(path: string, opts?: { append?: boolean }): Promise<DriverWriter> {
    return openS3Writer(this.objects, path, opts?.append === true);
  }

  getContent(path: string): Promise<Buffer> {
    return this.objects.getBytes(path);
  }

  putContent(path: string, data: Buffer): Promise<void> {
    return this.objects.put(path, data);
  }

  async list(dir: string): Promise<string[]> {
    const prefix = this.objects.key(dir === '' ? '' : `${dir}/`);
    const names: string[] = [];
    for await (const page of this.objects.list(prefix, '/')) {
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix) names.push(p.Prefix.slice(prefix.length, -1));
      for (const o of page.Contents ?? []) if (o.Key && o.Key !== prefix) names.push(o.Key.slice(prefix.length));
    }
    return names.filter((n) => n !== '');
  }

  /**
   * One flat listing, grouped: keys come in lexicographic order, so everything below a prefix is contiguous
   * and each directory is visited right before its contents, depth first.
   */
  async walk(dir: string, visit: (info: FileInfo) => Promise<void | 'skip'> | void | 'skip'): Promise<void> {
    const base = dir === '' ? '' : `${dir}/`;
    const open: string[] = []; // the directories the current key is below, outermost first
    let skipping: string | undefined;
    for await (const page of this.objects.list(this.objects.key(base))) {
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        const path = this.objects.path(object.Key);
        if (skipping !== undefined && path.startsWith(skipping)) continue;
        skipping = undefined;
        const segments = path.slice(base.length).split('/');
        if (segments.some((s) => s === '')) continue; // a "folder" marker or a key no path can name
        const modified = object.LastModified ?? new Date(0);
        let depth = 0;
        while (depth < open.length && depth < segments.length - 1 && open[depth] === segments.slice(0, depth + 1).join('/')) depth++;
        open.length = depth;
        for (; depth < segments.length - 1; depth++) {
          const sub = segments.slice(0, depth + 1).join('/');
          open.push(sub);
          if ((await visit({ path: base + sub, size: 0, modified, isDir: true })) === 'skip') {
            skipping = `${base}${sub}/`;
            break;
          }
        }
        if (skipping === undefined) await visit({ path, size: object.Size ?? 0, modified, isDir: false });
      }
    }
  }

  async move(from: string, to: string): Promise<void> {
    if (await this.objects.head(from)) {
      await this.objects.copy(from, to);
      await this.objects.deleteOne(from);
      return;
    }
    const moved: string[] = [];
    for await (const page of this.objects.list(this.objects.key(`${from}/`))) {
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        const path = this.objects.path(object.Key);
        await this.objects.copy(path, `${to}/${path.slice(from.length + 1)}`);
        moved.push(object.Key);
      }
    }
    if (moved.length === 0) throw notFound(from);
    for (let i = 0; i < moved.length; i += 1000) await this.objects.deleteKeys(moved.slice(i, i + 1000));
  }

  async delete(path: string): Promise<void> {
    await this.objects.deleteOne(path);
    // Collected first: deleting while paging would move the continuation point.
    const keys: string[] = [];
    for await (const page of this.objects.list(this.objects.key(`${path}/`))) {
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
    }
    for (const key of keys.filter((k) => STATE_NAME.test(k))) {
      const statePathOf = this.objects.path(key);
      const target = statePathOf.replace(/(^|\/)\.([^/]+)\.open$/, '$1$2');
      await discardState(this.objects, target, await readState(this.objects, target).catch(() => undefined));
    }
    for (let i = 0; i < keys.length; i += 1000) await this.objects.deleteKeys(keys.slice(i, i + 1000));
  }

  copy(from: string, to: string): Promise<void> {
    return this.objects.copy(from, to);
  }

  async redirectURL(path: string, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return this.objects.presign(path, method);
  }

  ping(): Promise<void> {
    return this.objects.ping();
  }

  async close(): Promise<void> {
    this.objects.close();
  }
}
