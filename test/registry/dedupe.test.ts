// Dedupe over the real filesystem driver and the SQLite MetaStore: hard links through the index, the original
// falling to the next copy, Zot-style zero-byte placeholders on a driver without links, the start-up pass.
import { createLeasedLocks } from '../../core/registry/repo-lock';
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import pino from 'pino';
import { Registry as PromRegistry } from 'prom-client';
import { parseConfig } from '../../core/config/load';
import type { MetaStore } from '../../core/metastore/meta-store';
import { BlobStore } from '../../core/registry/blob-store';
import { Catalog } from '../../core/registry/catalog';
import { StartupWalks } from '../../core/registry/startup-walks';
import { Stores } from '../../core/registry/stores';
import { Dedupe } from '../../core/registry/dedupe';
import { DedupePass } from '../../core/registry/dedupe-pass';
import { parseDigest } from '../../core/registry/digest';
import { layout, OCI_LAYOUT_CONTENT } from '../../core/registry/layout';
import type { StorageDriver } from '../../core/storage/driver';
import { createFilesystemDriver } from '../../storage-drivers/filesystem';
import { createSqliteMetaStore } from '../../storage-drivers/metadata/sqlite';

const silent = pino({ level: 'silent' });
const digestOf = (b: Buffer) => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);

interface Env {
  root: string;
  storage: StorageDriver;
  meta: MetaStore;
  metrics: PromRegistry;
  dedupe: Dedupe;
  blobs: BlobStore;
  pass(): DedupePass;
}

const opened: Array<{ root: string; meta: MetaStore }> = [];
afterEach(async () => {
  for (const { root, meta } of opened.splice(0)) {
    await meta.close();
    await rm(root, { recursive: true, force: true });
  }
});

/** A BlobStore on a temp root; `withoutLink` hides the driver's link (and copy), as an object store. */
async function env(opts: { dedupe?: boolean; withoutLink?: boolean; root?: string } = {}): Promise<Env> {
  const root = opts.root ?? (await mkdtemp(join(tmpdir(), 'berth-dedupe-')));
  const fsDriver = createFilesystemDriver({ rootDirectory: root });
  const storage: StorageDriver = opts.withoutLink ? { ...fsDriver, link: undefined, copy: undefined } : fsDriver;
  const meta = createSqliteMetaStore({ rootDirectory: root });
  opened.push({ root, meta });
  const config = parseConfig({ storage: { rootDirectory: root, dedupe: opts.dedupe ?? true }, http: {} });
  const metrics = new PromRegistry();
  const stores = new Stores({ route: '', config: config.storage, driver: storage });
  const dedupe = new Dedupe(stores, meta, silent, metrics);
  const catalog = () => new Catalog(stores, meta, silent, new StartupWalks(meta.kv('berth.startup'), 'test', false));
  return { root, storage, meta, metrics, dedupe, blobs: new BlobStore(stores, dedupe), pass: () => new DedupePass(stores, meta, dedupe, catalog(), createLeasedLocks(meta.leases, silent), silent, metrics) };
}

const file = (e: Env, repo: string, d: ReturnType<typeof digestOf>) => stat(join(e.root, layout.blob(repo, d)));
const put = (e: Env, repo: string, data: Buffer) => e.blobs.ingest(repo, digestOf(data), Readable.from([data]), data.length);
const read = async (e: Env, repo: string, data: Buffer) => {
  const chunks: Buffer[] = [];
  for await (const c of await e.blobs.open(repo, digestOf(data))) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};
const metric = async (e: Env, name: string) => (await e.metrics.getSingleMetricAsString(name)).split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1];

async function makeRepo(e: Env, repo: string): Promise<void> {
  await e.storage.putContent(layout.ociLayout(repo), OCI_LAYOUT_CONTENT);
  await e.storage.putContent(layout.index(repo), Buffer.from('{"schemaVersion":2,"manifests":[]}'));
}

describe('dedupe', () => {
  it('stores a blob pushed into three repositories once: one inode, every location in the index', async () => {
    const e = await env();
    const data = randomBytes(200_000);
    const d = digestOf(data);
    for (const repo of ['a', 'b/c', 'd']) await put(e, repo, data);
    const inodes = await Promise.all(['a', 'b/c', 'd'].map((r) => file(e, r, d)));
    assert.equal(new Set(inodes.map((s) => s.ino)).size, 1);
    assert.equal(inodes[0]!.nlink, 3);
    assert.deepEqual(await e.meta.dedupe.locations(d.digest), ['a', 'b/c', 'd'].map((r) => layout.blob(r, d)));
    assert.equal(await metric(e, 'berth_dedupe_bytes_saved_total'), String(2 * data.length));
    // Deleting the original leaves the others whole; the next copy becomes the original.
    await e.blobs.delete('a', d);
    assert.deepEqual(await read(e, 'b/c', data), data);
    assert.deepEqual(await e.meta.dedupe.locations(d.digest), [layout.blob('b/c', d), layout.blob('d', d)]);
    await put(e, 'a', data);
    assert.equal((await file(e, 'a', d)).ino, inodes[1]!.ino);
  });

  it('falls to the next copy when the original was deleted outside berth, and fixes the index', async () => {
    const e = await env();
    const data = randomBytes(50_000);
    const d = digestOf(data);
    await put(e, 'a', data);
    await put(e, 'b', data);
    await rm(join(e.root, layout.blob('a', d)));
    await put(e, 'c', data);
    assert.equal((await file(e, 'c', d)).ino, (await file(e, 'b', d)).ino);
    assert.deepEqual(await e.meta.dedupe.locations(d.digest), [layout.blob('b', d), layout.blob('c', d)]);
  });

  it('keeps the empty blob working, and links nothing with dedupe off (a mount then copies)', async () => {
    const e = await env({ dedupe: false });
    const empty = Buffer.alloc(0);
    await put(e, 'a', empty);
    assert.equal(await e.blobs.size('a', digestOf(empty)), 0);
    assert.deepEqual(await read(e, 'a', empty), empty);
    const data = randomBytes(10_000);
    await put(e, 'a', data);
    await put(e, 'b', data);
    assert.ok(await e.blobs.mount('a', 'c', digestOf(data)));
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((r) => file(e, r, digestOf(data))));
    assert.equal(new Set([a!.ino, b!.ino, c!.ino]).size, 3, 'dedupe off: every location has its own bytes');
    assert.equal(await e.meta.dedupe.count(digestOf(data).digest), 3, 'locations are recorded whatever the setting');
  });

  it('without links (an object store): later copies become zero-byte placeholders that reads follow', async () => {
    const e = await env({ withoutLink: true });
    const data = randomBytes(30_000);
    const d = digestOf(data);
    await put(e, 'a', data);
    await put(e, 'b', data);
    assert.ok(await e.blobs.mount('b', 'c', d));
    assert.equal((await file(e, 'b', d)).size, 0);
    assert.equal((await file(e, 'c', d)).size, 0);
    assert.deepEqual(await e.blobs.locate('c', d), { path: layout.blob('a', d), size: data.length });
    assert.deepEqual(await read(e, 'b', data), data);
    // Deleting the only real copy moves the bytes to a placeholder first.
    await e.blobs.delete('a', d);
    assert.equal(await e.blobs.size('b', d), data.length);
    assert.deepEqual(await read(e, 'b', data), data);
    assert.deepEqual(await read(e, 'c', data), data);
  });

  it('the start-up pass rebuilds the index of a tree it never saw and links copies that do not share an inode', async () => {
    const e = await env();
    const data = randomBytes(40_000);
    const d = digestOf(data);
    for (const repo of ['x', 'y', 'z']) await makeRepo(e, repo);
    // Written as Zot or an older berth would: x and y share an inode, z has its own copy; no index.
    await e.storage.putContent(layout.blob('x', d), data);
    await e.storage.putContent(layout.blob('y', d), Buffer.alloc(0)); // creates the directories
    await rm(join(e.root, layout.blob('y', d)));
    await link(join(e.root, layout.blob('x', d)), join(e.root, layout.blob('y', d)));
    await e.storage.putContent(layout.blob('z', d), data);
    await writeFile(join(e.root, 'cache.db'), 'zot boltdb');
    const pass = e.pass();
    pass.start();
    await pass.whenDone();
    assert.equal(await e.meta.dedupe.count(d.digest), 3);
    assert.equal((await file(e, 'z', d)).ino, (await file(e, 'x', d)).ino);
    assert.equal((await file(e, 'x', d)).nlink, 3);
    assert.equal((await stat(join(e.root, 'cache.db'))).size, 'zot boltdb'.length, 'cache.db is left alone');
  });

  it('a placeholder whose original the index lacks yet (a bucket Zot wrote) is served at once, while the start-up pass runs', async () => {
    const e = await env({ withoutLink: true });
    const data = randomBytes(20_000);
    const d = digestOf(data);
    // Zot's layout on S3: the first copy has the bytes, a later one is an empty object; berth's index is empty.
    for (const repo of ['a', 'x']) await makeRepo(e, repo);
    await e.storage.putContent(layout.blob('a', d), Buffer.alloc(0));
    await e.storage.putContent(layout.blob('x', d), data);
    assert.equal(await e.blobs.locate('a', d), undefined, 'without a pass, nothing says where the bytes are');
    const pass = e.pass();
    pass.start();
    // Asked right away: the pass has not indexed x yet (it starts with the catalog walk).
    assert.deepEqual(await e.blobs.locate('a', d), { path: layout.blob('x', d), size: data.length });
    assert.deepEqual(await read(e, 'a', data), data);
    await pass.whenDone();
    assert.equal(await e.meta.dedupe.count(d.digest), 2);
    assert.deepEqual(await e.blobs.locate('a', d), { path: layout.blob('x', d), size: data.length });
  });

  it('dedupe off on a tree Zot wrote: the restore pass gives a placeholder its own bytes even before it reached the original', async () => {
    const e = await env({ dedupe: false, withoutLink: true });
    const data = randomBytes(25_000);
    const d = digestOf(data);
    for (const repo of ['a', 'x']) await makeRepo(e, repo);
    await e.storage.putContent(layout.blob('a', d), Buffer.alloc(0)); // walked first
    await e.storage.putContent(layout.blob('x', d), data);
    const pass = e.pass();
    pass.start();
    await pass.whenDone();
    assert.equal((await file(e, 'a', d)).size, data.length, 'the placeholder has its own bytes');
    assert.deepEqual(await read(e, 'a', data), data);
    assert.deepEqual(await read(e, 'x', data), data);
  });

  it('dedupe off after on: the restore pass gives every location its own bytes, content intact', async () => {
    const first = await env();
    const data = randomBytes(60_000);
    const d = digestOf(data);
    for (const repo of ['x', 'y', 'z']) {
      await makeRepo(first, repo);
      await put(first, repo, data);
    }
    let pass = first.pass();
    pass.start();
    await pass.whenDone();
    assert.equal((await file(first, 'x', d)).nlink, 3);
    opened.splice(0); // the same root, reopened with dedupe off (a restart)
    await first.meta.close();
    const off = await env({ dedupe: false, root: first.root });
    pass = off.pass();
    pass.start();
    await pass.whenDone();
    for (const repo of ['x', 'y', 'z']) {
      assert.equal((await file(off, repo, d)).nlink, 1, repo);
      assert.deepEqual(await read(off, repo, data), data);
    }
    assert.equal(await metric(off, 'berth_dedupe_blobs_restored_total'), '2');
    assert.equal(await off.meta.dedupe.count(d.digest), 3, 'the index stays right');
  });

  it('a reload turning dedupe off applies to new pushes at once and restores the tree in a new pass', async () => {
    const e = await env();
    const data = randomBytes(20_000);
    const d = digestOf(data);
    for (const repo of ['x', 'y']) {
      await makeRepo(e, repo);
      await put(e, repo, data);
    }
    const pass = e.pass();
    pass.start();
    await pass.whenDone();
    assert.equal((await file(e, 'x', d)).nlink, 2);
    pass.prepareReload({ ...parseConfig({ storage: { rootDirectory: e.root }, http: {} }).storage, dedupe: false }).commit();
    await makeRepo(e, 'z');
    await put(e, 'z', data);
    assert.equal((await file(e, 'z', d)).nlink, 1, 'a push after the reload keeps its own copy');
    await pass.whenDone();
    for (const repo of ['x', 'y']) assert.equal((await file(e, repo, d)).nlink, 1, repo);
  });
});
