// Chunked uploads over the real filesystem driver, as a driver sees them: one commit per upload, no re-read when
// the running hash covers the bytes, no stat for the offset; two stores on one root and one MetaStore (a restart,
// or another process) continuing each other's uploads; compare-and-set of the offset; GC's discardIfIdle.
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
import { Registry as PromRegistry } from 'prom-client';
import { BlobStore } from '../../core/registry/blob-store';
import { parseConfig } from '../../core/config/load';
import { Catalog } from '../../core/registry/catalog';
import { Dedupe } from '../../core/registry/dedupe';
import { UploadStore } from '../../core/registry/blob-upload';
import { parseDigest } from '../../core/registry/digest';
import { createLocalLocks } from '../../core/registry/repo-lock';
import { RepoStore } from '../../core/registry/repo-store';
import { StartupWalks } from '../../core/registry/startup-walks';
import { Stores } from '../../core/registry/stores';
import type { DriverWriter, StorageDriver } from '../../core/storage/driver';
import { createFilesystemDriver } from '../../storage-drivers/filesystem';
import type { MetaStore, UploadSessions } from '../../core/metastore/meta-store';
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

function storeOn(storage: StorageDriver, metaStore: MetaStore = meta): UploadStore {
  const locks = createLocalLocks();
  const stores = new Stores({ route: '', config: parseConfig({ storage: { rootDirectory: metaDir }, http: {} }).storage, driver: storage });
  const catalog = new Catalog(stores, meta, pino({ level: 'silent' }), new StartupWalks(meta.kv('berth.startup'), 'test', false));
  const blobs = new BlobStore(stores, new Dedupe(stores, metaStore, pino({ level: 'silent' }), new PromRegistry()));
  return new UploadStore(stores, locks, new RepoStore(stores, locks, catalog, blobs), blobs, metaStore);
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
    assert.deepEqual(spy.calls.stat?.filter((p) => p.startsWith(path)) ?? [], [], 'offsets come from the session');
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
    const session = (await meta.uploads.get(id))!;
    assert.ok((await meta.uploads.update(id, session.version, { size: 100_000 })).ok);

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

  // A MetaStore other hosts share (Redis, DynamoDB): each chunk's hash state is saved in the session.
  const shared: MetaStore = { ...meta, shared: true, kv: (ns) => meta.kv(ns), close: () => meta.close() };

  it('on a shared MetaStore, chunks PATCHed through two stores and the PUT through a third never read the upload back', async () => {
    const dir = await root();
    const [a, b] = [storeOn(createFilesystemDriver({ rootDirectory: dir }), shared), storeOn(createFilesystemDriver({ rootDirectory: dir }), shared)];
    const data = randomBytes(2_500_000);
    const id = await a.start(REPO);
    await a.append(REPO, id, Readable.from([data.subarray(0, 1_000_000)]), { start: 0, end: 999_999 });
    assert.ok((await meta.uploads.get(id))?.hashState, 'the hash state is in the session');
    await b.append(REPO, id, Readable.from([data.subarray(1_000_000, 2_000_000)]), { start: 1_000_000, end: 1_999_999 });
    const spy = counting(createFilesystemDriver({ rootDirectory: dir }));
    const c = storeOn(spy.driver, shared);
    await c.finish(REPO, id, digestOf(data), Readable.from([data.subarray(2_000_000)]), { start: 2_000_000, end: data.length - 1 });
    assert.equal(spy.calls.reader, undefined, 'verified from the saved hash state, not by reading the upload');
    assert.deepEqual(spy.calls.commit, [`${REPO}/.uploads/${id}`]);
    assert.ok((await spy.driver.getContent(`${REPO}/blobs/sha256/${digestOf(data).hex}`)).equals(data));
  });

  it('on a shared MetaStore, a wrong digest is caught from the saved state and stores nothing', async () => {
    const dir = await root();
    const a = storeOn(createFilesystemDriver({ rootDirectory: dir }), shared);
    const id = await a.start(REPO);
    await a.append(REPO, id, Readable.from([randomBytes(300_000)]));
    const spy = counting(createFilesystemDriver({ rootDirectory: dir }));
    await assert.rejects(storeOn(spy.driver, shared).finish(REPO, id, digestOf(Buffer.from('other'))), { code: 'DIGEST_INVALID' });
    assert.equal(spy.calls.reader, undefined);
    await assert.rejects(a.status(REPO, id), { code: 'BLOB_UPLOAD_UNKNOWN' });
    assert.deepEqual(await readdir(join(dir, REPO, 'blobs', 'sha256')).catch(() => []), []);
  });

  it('a saved hash state berth cannot continue from (another format) costs one read at the PUT, never a wrong digest', async () => {
    const dir = await root();
    const a = storeOn(createFilesystemDriver({ rootDirectory: dir }), shared);
    const data = randomBytes(400_000);
    const id = await a.start(REPO);
    await a.append(REPO, id, Readable.from([data.subarray(0, 200_000)]));
    const session = (await meta.uploads.get(id))!;
    assert.ok((await meta.uploads.update(id, session.version, { size: session.size, hashState: Buffer.from('\u0007not a state') })).ok);
    const spy = counting(createFilesystemDriver({ rootDirectory: dir }));
    await storeOn(spy.driver, shared).finish(REPO, id, digestOf(data), Readable.from([data.subarray(200_000)]), { start: 200_000, end: data.length - 1 });
    assert.equal(spy.calls.reader?.length, 1, 'hashed from its content once');
    assert.ok((await spy.driver.getContent(`${REPO}/blobs/sha256/${digestOf(data).hex}`)).equals(data));
  });

  it('on a shared MetaStore, a chunk cut off midway saves the state of what landed; another store continues without a read', async () => {
    const dir = await root();
    const a = storeOn(createFilesystemDriver({ rootDirectory: dir }), shared);
    const data = randomBytes(3 << 20);
    const id = await a.start(REPO);
    async function* cutOff() {
      yield data.subarray(0, 1 << 20);
      throw new Error('client went away');
    }
    await assert.rejects(a.append(REPO, id, Readable.from(cutOff())), /client went away/);
    const landed = await a.status(REPO, id);
    const spy = counting(createFilesystemDriver({ rootDirectory: dir }));
    await storeOn(spy.driver, shared).finish(REPO, id, digestOf(data), Readable.from([data.subarray(landed)]), { start: landed, end: data.length - 1 });
    assert.equal(spy.calls.reader, undefined);
    assert.ok((await spy.driver.getContent(`${REPO}/blobs/sha256/${digestOf(data).hex}`)).equals(data));
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

  it('a PATCH whose offset another process moved meanwhile answers 416 with the Range that won, and changes nothing', async () => {
    const dir = await root();
    const storage = createFilesystemDriver({ rootDirectory: dir });
    const data = randomBytes(300_000);
    // The other process's update lands between this one's read of the session and its compare-and-set.
    let raced = false;
    const uploads: UploadSessions = {
      ...meta.uploads,
      async update(id, expected, change) {
        if (!raced) {
          raced = true;
          const current = (await meta.uploads.get(id))!;
          await meta.uploads.update(id, current.version, { size: 123 });
        }
        return meta.uploads.update(id, expected, change);
      },
    };
    const store = storeOn(storage, { ...meta, uploads, kv: (ns) => meta.kv(ns), close: () => meta.close() });
    const id = await store.start(REPO);
    await assert.rejects(store.append(REPO, id, Readable.from([data.subarray(0, 100_000)]), { start: 0, end: 99_999 }), (err: { status: number; headers: Record<string, string> }) => {
      assert.equal(err.status, 416);
      assert.equal(err.headers.Range, '0-122');
      assert.equal(err.headers.Location, `/v2/${REPO}/blobs/uploads/${id}`);
      return true;
    });
    assert.equal((await meta.uploads.get(id))?.size, 123, 'the winner\'s offset stays');
  });

  it('an upload id is unknown under another repository, and a Zot-written upload without a session is unknown', async () => {
    const dir = await root();
    const storage = createFilesystemDriver({ rootDirectory: dir });
    const store = storeOn(storage);
    const id = await store.start(REPO);
    await assert.rejects(store.status('other/repo', id), { code: 'BLOB_UPLOAD_UNKNOWN' });
    await assert.rejects(store.append('other/repo', id, Readable.from([Buffer.from('x')])), { code: 'BLOB_UPLOAD_UNKNOWN' });
    const zot = '6f1c0a2e-4b7d-4c1e-9a55-0d3f7e2b8c41';
    await storage.putContent(`${REPO}/.uploads/${zot}`, Buffer.from('partial bytes zot wrote'));
    await assert.rejects(store.status(REPO, zot), { code: 'BLOB_UPLOAD_UNKNOWN' });
    await assert.rejects(store.append(REPO, zot, Readable.from([Buffer.from('more')])), { code: 'BLOB_UPLOAD_UNKNOWN' });
    assert.ok((await storage.getContent(`${REPO}/.uploads/${zot}`)).equals(Buffer.from('partial bytes zot wrote')), 'left as it was');
  });

  it('discardIfIdle removes an upload nobody advanced since the cut-off (data and session), never a newer one', async () => {
    const dir = await root();
    const store = storeOn(createFilesystemDriver({ rootDirectory: dir }));
    const old = await store.start(REPO);
    await store.append(REPO, old, Readable.from([randomBytes(5000)]));
    const cutoff = Date.now() + 1;
    await new Promise((r) => setTimeout(r, 5));
    const fresh = await store.start(REPO);
    await store.append(REPO, fresh, Readable.from([randomBytes(5000)]));
    const stale = await meta.uploads.stale(cutoff, 100);
    assert.ok(stale.some((s) => s.id === old) && !stale.some((s) => s.id === fresh));
    assert.equal(await store.discardIfIdle(REPO, fresh, cutoff), false, 'updated after the cut-off: kept');
    assert.equal(await store.discardIfIdle(REPO, old, cutoff), true);
    assert.equal(await store.discardIfIdle(REPO, old, cutoff), false, 'already gone');
    await assert.rejects(store.status(REPO, old), { code: 'BLOB_UPLOAD_UNKNOWN' });
    assert.equal(await store.status(REPO, fresh), 5000);
    const left = await readdir(join(dir, REPO, '.uploads'));
    assert.deepEqual(left.filter((f) => f.includes(old)), [], 'nothing of the discarded upload is left');
    assert.ok(left.includes(fresh));
  });
});
