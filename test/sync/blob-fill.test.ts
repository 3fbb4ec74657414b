// The core's blob fill on the real filesystem driver: a disk that fills up mid-blob, every client hanging up,
// bytes that do not match their digest, a final store the spool is copied into, and the sweep of dead spools.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { BlobFill } from '../../core/registry/blob-fill';
import { parseDigest } from '../../core/registry/digest';
import { SPOOL_ROOT, SPOOL_STALE_MS, sweepSpools } from '../../core/registry/spool';
import type { DriverWriter, StorageDriver } from '../../core/storage/driver';
import { createFilesystemDriver } from '../../storage-drivers/filesystem';
import { eventually } from '../helpers/eventually.js';

const DATA = randomBytes(5 << 20);
const DIGEST = parseDigest(`sha256:${createHash('sha256').update(DATA).digest('hex')}`);
const chunked = (buf: Buffer) => Readable.from((function* () {
  for (let i = 0; i < buf.length; i += 64 << 10) yield buf.subarray(i, i + (64 << 10));
})());

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

/** The filesystem driver, except that writes fail with ENOSPC once `limit` bytes were written. */
function fillingDisk(inner: StorageDriver, limit: number): StorageDriver {
  return Object.assign(Object.create(inner) as StorageDriver, {
    async writer(path: string, o?: { append?: boolean }): Promise<DriverWriter> {
      const w = await inner.writer(path, o);
      const write = w._write.bind(w);
      w._write = (chunk: Buffer, enc: BufferEncoding, done: (err?: Error | null) => void) => {
        if (w.size + chunk.length > limit) return done(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
        write(chunk, enc, done);
      };
      w._writev = undefined;
      return w;
    },
  });
}

describe('blob fill', () => {
  const roots: string[] = [];
  after(async () => {
    for (const r of roots) await rm(r, { recursive: true, force: true });
  });

  const tempRoot = async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-fill-'));
    roots.push(root);
    return root;
  };

  /**
   * A fill spooling on `root` (`spool/<id>/data`, as pull-through does under `_berth/spool/`); the blob's final
   * store is the same driver (adopted by a move) unless `final` gives another (adopted by a copy).
   */
  async function setup(wrap: (d: StorageDriver) => StorageDriver = (d) => d, body: Buffer = DATA, final?: StorageDriver) {
    const root = await tempRoot();
    const fs = createFilesystemDriver({ rootDirectory: root, commit: true });
    const spool = wrap(fs);
    const storage = final ?? fs;
    const finalPath = 'r/blobs/sha256/final';
    let reopened = 0;
    const fill = new BlobFill(DIGEST, body.length, {
      spool,
      spoolPath: 'spool/1/data',
      discard: () => fs.delete('spool/1'),
      storage,
      finalPath,
      adopt: async (path) => {
        if (storage === fs) return fs.move(path, finalPath);
        const w = await storage.writer(finalPath);
        await pipeline(await fs.reader(path), w);
        await w.commit();
      },
      reopen: async (start) => {
        reopened++;
        return chunked(body.subarray(start));
      },
      logger: pino({ level: 'silent' }),
    }, chunked(body));
    return { root, fill, reopened: () => reopened };
  }

  it('keeps streaming to every client without caching when the disk fills up mid-blob', async () => {
    const { root, fill, reopened } = await setup((d) => fillingDisk(d, 2 << 20));
    const [a, b] = await Promise.all([readAll(fill.open()), readAll(fill.open({ start: 1000, end: DATA.length - 1 }))]);
    assert.ok(a.equals(DATA));
    assert.ok(b.equals(DATA.subarray(1000)));
    await fill.settled;
    assert.equal(fill.state, 'uncached');
    assert.equal(reopened(), 2, 'each client continued from its own upstream stream');
    assert.ok(!existsSync(join(root, 'r', 'blobs', 'sha256', 'final')));
    assert.deepEqual(await readdir(join(root, 'spool')), []);
  });

  it('finishes and commits the copy when every client hung up', async () => {
    const { root, fill } = await setup();
    const reader = fill.open();
    await new Promise<void>((resolve) => reader.once('data', () => resolve()));
    reader.destroy();
    await fill.settled;
    assert.equal(fill.state, 'committed');
    assert.ok((await readFile(join(root, 'r', 'blobs', 'sha256', 'final'))).equals(DATA));
    // A client arriving after the commit reads the committed file.
    assert.ok((await readAll(fill.open({ start: 10, end: 19 }))).equals(DATA.subarray(10, 20)));
  });

  it('never commits, nor hands a client the whole of, bytes that do not match the digest', async () => {
    const corrupt = Buffer.from(DATA);
    corrupt[corrupt.length >> 1]! ^= 0xff;
    const { root, fill } = await setup(undefined, corrupt);
    let got = 0;
    await assert.rejects(async () => {
      for await (const c of fill.open() as AsyncIterable<Buffer>) got += c.length;
    }, /did not match/);
    assert.ok(got < corrupt.length, 'the last byte is held back until the digest verifies');
    assert.equal(fill.state, 'failed');
    assert.ok(!existsSync(join(root, 'r', 'blobs', 'sha256', 'final')));
    assert.deepEqual(await readdir(join(root, 'spool')), []);
  });

  it('serves followers from the spool while the copy into another store is still committing, then removes the spool', async () => {
    const finalRoot = await tempRoot();
    const other = createFilesystemDriver({ rootDirectory: finalRoot, commit: true });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let committing = false;
    // A final store whose commit waits for the test: the copy is made, not yet committed.
    const slowCommit = Object.assign(Object.create(other) as StorageDriver, {
      async writer(path: string, o?: { append?: boolean }): Promise<DriverWriter> {
        const w = await other.writer(path, o);
        const commit = w.commit.bind(w);
        return Object.assign(w, { commit: async () => { committing = true; await gate; await commit(); } });
      },
    });
    const { root, fill } = await setup(undefined, DATA, slowCommit);
    const followers = await Promise.all([readAll(fill.open()), readAll(fill.open()), readAll(fill.open({ start: 5, end: 99 }))]);
    // The followers are done while the final commit is still held (it is released below).
    await eventually(async () => committing);
    assert.equal(fill.state, 'filling', 'the final copy is not committed yet');
    assert.ok(followers[0]!.equals(DATA) && followers[1]!.equals(DATA), 'whole blobs from the spool');
    assert.ok(followers[2]!.equals(DATA.subarray(5, 100)));
    assert.ok(!existsSync(join(finalRoot, 'r', 'blobs', 'sha256', 'final')));
    release();
    await fill.settled;
    assert.equal(fill.state, 'committed');
    assert.ok((await readFile(join(finalRoot, 'r', 'blobs', 'sha256', 'final'))).equals(DATA));
    assert.deepEqual(await readdir(join(root, 'spool')), [], 'the spool is removed once the final copy is committed');
    assert.ok((await readAll(fill.open({ start: 0, end: 9 }))).equals(DATA.subarray(0, 10)), 'late readers read the final copy');
  });

  it('sweeps spools nothing wrote to for an hour, and only those', async () => {
    const root = await tempRoot();
    const fs = createFilesystemDriver({ rootDirectory: root, commit: true });
    await fs.putContent(`${SPOOL_ROOT}/dead/data`, Buffer.alloc(1000));
    await fs.putContent(`${SPOOL_ROOT}/live/data`, Buffer.alloc(10));
    const old = new Date(Date.now() - SPOOL_STALE_MS - 60_000);
    for (const p of ['dead/data', 'dead', 'live']) await utimes(join(root, SPOOL_ROOT, p), old, old); // live/data is fresh
    assert.deepEqual(await sweepSpools(fs, Date.now()), { removed: 1, bytes: 1000 });
    assert.deepEqual(await readdir(join(root, SPOOL_ROOT)), ['live']);
  });
});
