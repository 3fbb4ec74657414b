// Chunked uploads over the real filesystem driver, as a driver sees them: one commit per upload, no re-read when
// the running hash covers the bytes, no stat for the offset; and two stores on one root (a restart, or another
// process) continuing each other's uploads.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { BlobStore } from '../../core/registry/blob-store';
import { parseConfig } from '../../core/config/load';
import { Catalog } from '../../core/registry/catalog';
import { UploadStore } from '../../core/registry/blob-upload';
import { parseDigest } from '../../core/registry/digest';
import { createLocalLocks } from '../../core/registry/repo-lock';
import { RepoStore } from '../../core/registry/repo-store';
import { createDriverUploadSessions } from '../../core/registry/upload-sessions';
import type { DriverWriter, StorageDriver } from '../../core/storage/driver';
import { createFilesystemDriver } from '../../storage-drivers/filesystem';
import { createSqliteMetaStore } from '../../storage-drivers/metadata/sqlite';

const REPO = 'team/app';
const digestOf = (b: Buffer) => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);

/** The filesystem driver, counting the calls an upload makes (per method, and writer commits/closes). */
function counting(inner: StorageDriver) {
  const calls: Record<string, string[]> = {};
  const note = (op: string, path: string) => (calls[op] ??= []).push(path);
  const driver = new Proxy(inner, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        note(String(prop), String(args[0]));
        const out: unknown = await v.apply(target, args);
        if (prop === 'writer') {
          const w = out as DriverWriter;
          const commit = w.commit.bind(w);
          const close = w.close.bind(w);
          w.commit = () => (note('commit', String(args[0])), commit());
          w.close = () => (note('close', String(args[0])), close());
        }
        return out;
      };
    },
  });
  return { driver, calls, reset: () => Object.keys(calls).forEach((k) => delete calls[k]) };
}

// The repository catalog lives in a MetaStore of its own directory, so the upload roots hold only uploads.
const metaDir = mkdtempSync(join(tmpdir(), 'berth-uploads-meta-'));
const meta = createSqliteMetaStore({ rootDirectory: metaDir });
after(async () => {
  await meta.close();
  await rm(metaDir, { recursive: true, force: true });
});

function storeOn(storage: StorageDriver): UploadStore {
  const locks = createLocalLocks();
  const catalog = new Catalog(storage, meta, parseConfig({ storage: { rootDirectory: metaDir }, http: {} }), pino({ level: 'silent' }));
  return new UploadStore(storage, locks, new RepoStore(storage, locks, catalog), new BlobStore(storage));
}

describe('upload store', () => {
  const roots: string[] = [];
  after(async () => {
    for (const r of roots) await rm(r, { recursive: true, force: true });
  });
  async function root(): Promise<string> {
    const r = await mkdtemp(join(tmpdir(), 'berth-uploads-'));
    roots.push(r);
    return r;
  }

  it('commits an upload once, at the PUT, without re-reading it or stat-ing it for the offset', async () => {
    const dir = await root();
    const spy = counting(createFilesystemDriver({ rootDirectory: dir }));
    const store = storeOn(spy.driver);
    const data = randomBytes(3 << 20);
    const id = await store.start(REPO);
    spy.reset();
    const path = `${REPO}/.uploads/${id}`;
    for (let start = 0; start < data.length; start += 1 << 20) {
      const size = await store.append(REPO, id, Readable.from([data.subarray(start, start + (1 << 20))]), { start, end: start + (1 << 20) - 1 });
      assert.equal(size, start + (1 << 20));
      assert.equal(await store.status(REPO, id), size);
    }
    assert.equal(await store.finish(REPO, id, digestOf(data)), data.length);
    assert.deepEqual(spy.calls.commit, [path], 'one commit for the whole upload');
    assert.equal(spy.calls.close?.length, 3, 'each chunk closed, not committed');
    assert.equal(spy.calls.reader, undefined, 'the running hash spared a re-read');
    assert.equal(spy.calls.stat?.filter((p) => p.startsWith(path)), undefined, 'offsets come from the session');
    const blob = createFilesystemDriver({ rootDirectory: dir });
    assert.ok((await blob.getContent(`${REPO}/blobs/sha256/${digestOf(data).hex}`)).equals(data));
    assert.deepEqual(await readdir(join(dir, REPO, '.uploads')), [], 'no session, marker or data left');
  });

  it('continues an upload another store started (a restart): hashed from its content once, at the PUT', async () => {
    const dir = await root();
    const first = storeOn(createFilesystemDriver({ rootDirectory: dir }));
    const data = randomBytes(1_500_000);
    const id = await first.start(REPO);
    await first.append(REPO, id, Readable.from([data.subarray(0, 1_000_000)]), { start: 0, end: 999_999 });

    const spy = counting(createFilesystemDriver({ rootDirectory: dir }));
    const second = storeOn(spy.driver);
    assert.equal(await second.status(REPO, id), 1_000_000);
    await assert.rejects(second.append(REPO, id, Readable.from([data.subarray(0, 10)]), { start: 0, end: 9 }), { status: 416 });
    await second.finish(REPO, id, digestOf(data), Readable.from([data.subarray(1_000_000)]), { start: 1_000_000, end: data.length - 1 });
    assert.deepEqual(spy.calls.commit, [`${REPO}/.uploads/${id}`]);
    assert.equal(spy.calls.reader?.length, 1, 'one read of the committed upload to hash it');
    assert.ok((await spy.driver.getContent(`${REPO}/blobs/sha256/${digestOf(data).hex}`)).equals(data));
  });

  it('a wrong digest after a restart removes the upload and stores nothing', async () => {
    const dir = await root();
    const first = storeOn(createFilesystemDriver({ rootDirectory: dir }));
    const id = await first.start(REPO);
    await first.append(REPO, id, Readable.from([randomBytes(1000)]));
    const second = storeOn(createFilesystemDriver({ rootDirectory: dir }));
    const wrong = digestOf(Buffer.from('something else'));
    await assert.rejects(second.finish(REPO, id, wrong), { code: 'DIGEST_INVALID' });
    await assert.rejects(second.status(REPO, id), { code: 'BLOB_UPLOAD_UNKNOWN' });
    assert.deepEqual(await readdir(join(dir, REPO, '.uploads')), []);
    assert.deepEqual(await readdir(join(dir, REPO, 'blobs', 'sha256')).catch(() => []), []);
  });

  it('bytes that landed without being acknowledged (a crash before the session update) move the offset on', async () => {
    const dir = await root();
    const storage = createFilesystemDriver({ rootDirectory: dir });
    const store = storeOn(storage);
    const data = randomBytes(600_000);
    const id = await store.start(REPO);
    await store.append(REPO, id, Readable.from([data.subarray(0, 400_000)]));
    // As if the process died after the chunk's close() and before its session update.
    const sessions = createDriverUploadSessions(storage);
    const session = (await sessions.get(REPO, id))!;
    await sessions.put({ ...session, size: 100_000 });

    const restarted = storeOn(storage);
    assert.equal(await restarted.status(REPO, id), 100_000);
    await assert.rejects(restarted.append(REPO, id, Readable.from([data.subarray(100_000, 400_000)]), { start: 100_000, end: 399_999 }), { status: 416 });
    assert.equal(await restarted.status(REPO, id), 400_000, 'the status now says where the durable bytes end');
    await restarted.finish(REPO, id, digestOf(data), Readable.from([data.subarray(400_000)]), { start: 400_000, end: data.length - 1 });
    assert.ok((await storage.getContent(`${REPO}/blobs/sha256/${digestOf(data).hex}`)).equals(data));
  });

  it('a chunk cut off midway keeps what landed; the upload resumes from the status with its running hash', async () => {
    const dir = await root();
    const spy = counting(createFilesystemDriver({ rootDirectory: dir }));
    const store = storeOn(spy.driver);
    const data = randomBytes(4 << 20);
    const id = await store.start(REPO);
    spy.reset(); // start() wrote index.json (a commit of its own)
    async function* cutOff() {
      yield data.subarray(0, 1 << 20);
      yield data.subarray(1 << 20, 2 << 20);
      throw new Error('client went away');
    }
    await assert.rejects(store.append(REPO, id, Readable.from(cutOff())), /client went away/);
    const landed = await store.status(REPO, id);
    assert.ok(landed <= 2 << 20, `at most what was sent is kept (${landed})`);
    await store.finish(REPO, id, digestOf(data), Readable.from([data.subarray(landed)]), { start: landed, end: data.length - 1 });
    assert.ok((await spy.driver.getContent(`${REPO}/blobs/sha256/${digestOf(data).hex}`)).equals(data));
    assert.deepEqual(spy.calls.commit, [`${REPO}/.uploads/${id}`]);
  });

  it('cancel discards the data, the marker and the session', async () => {
    const dir = await root();
    const store = storeOn(createFilesystemDriver({ rootDirectory: dir }));
    const id = await store.start(REPO);
    await store.append(REPO, id, Readable.from([randomBytes(5000)]));
    await store.cancel(REPO, id);
    await assert.rejects(store.status(REPO, id), { code: 'BLOB_UPLOAD_UNKNOWN' });
    assert.deepEqual(await readdir(join(dir, REPO, '.uploads')), []);
  });
});
