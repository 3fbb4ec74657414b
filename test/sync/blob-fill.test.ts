// The core's blob fill on the real filesystem driver: a disk that fills up mid-blob, every client hanging up,
// and bytes that do not match their digest.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { BlobFill } from '../../core/registry/blob-fill';
import { parseDigest } from '../../core/registry/digest';
import type { DriverWriter, StorageDriver } from '../../core/storage/driver';
import { createFilesystemDriver } from '../../storage-drivers/filesystem';

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

  async function setup(wrap: (d: StorageDriver) => StorageDriver = (d) => d, body: Buffer = DATA) {
    const root = await mkdtemp(join(tmpdir(), 'berth-fill-'));
    roots.push(root);
    const fs = createFilesystemDriver({ rootDirectory: root, commit: true });
    const storage = wrap(fs);
    let reopened = 0;
    const fill = new BlobFill(DIGEST, body.length, {
      storage,
      spoolPath: 'r/.sync/spool',
      finalPath: 'r/blobs/sha256/final',
      adopt: (spool) => fs.move(spool, 'r/blobs/sha256/final'),
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
    assert.deepEqual(await readdir(join(root, 'r', '.sync')), []);
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
    assert.deepEqual(await readdir(join(root, 'r', '.sync')), []);
  });
});
