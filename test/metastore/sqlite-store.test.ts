import assert from 'node:assert/strict';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createApp } from '../../core/app';
import { parseConfig } from '../../core/config/load';
import { metaStoreChoice } from '../../core/metastore/open-meta-store';
import { createSqliteMetaStore, sqliteFile } from '../../storage-drivers/metadata/sqlite';
import { spawnBerth } from '../helpers/berth-process';
import { startBerth } from '../helpers/berth';
import { cleanupTempDirs, ensureTools, run, tempDir } from '../helpers/tools';
import { opened } from './remote-store-fixture';

after(() => cleanupTempDirs());

describe('sqlite metastore file', () => {
  it('lives at <root>/_berth/berth.db, 0600, in WAL mode, and keeps its data across reopen', async () => {
    const root = await tempDir('meta-file');
    const store = createSqliteMetaStore({ rootDirectory: root });
    await store.catalog.add('team/app');
    const lease = await store.leases.acquire('l', 'A', 60_000);
    await store.close();
    const file = join(root, '_berth', 'berth.db');
    assert.equal(sqliteFile(root), file);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(root, '_berth'))).mode & 0o777, 0o700);
    const raw = new Database(file, { readonly: true });
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.close();
    const again = createSqliteMetaStore({ rootDirectory: root });
    try {
      assert.deepEqual(await again.catalog.page(10), ['team/app']);
      assert.deepEqual(await again.leases.get('l'), lease, 'a lease outlives a restart of its holder until it expires');
    } finally {
      await again.close();
    }
  });

  it('refuses a file written by a newer berth, naming the file', async () => {
    const root = await tempDir('meta-newer');
    await createSqliteMetaStore({ rootDirectory: root }).close();
    const raw = new Database(sqliteFile(root));
    raw.pragma('user_version = 99');
    raw.close();
    assert.throws(() => createSqliteMetaStore({ rootDirectory: root }), /^Error: storage\.rootDirectory: cannot use the metadata database .*berth\.db: written by a newer berth \(schema 99/);
  });

  it('refuses a root where _berth cannot be a directory, naming storage.rootDirectory', async () => {
    const root = await tempDir('meta-blocked');
    await writeFile(join(root, '_berth'), 'a file where the directory belongs');
    assert.throws(() => createSqliteMetaStore({ rootDirectory: root }), /^Error: storage\.rootDirectory: cannot use the metadata database .*: EEXIST/);
  });

  it('refuses a file that is not a database', async () => {
    const root = await tempDir('meta-garbage');
    await mkdir(join(root, '_berth'));
    await writeFile(sqliteFile(root), 'not a database, but long enough to have a header of sorts...........................................');
    assert.throws(() => createSqliteMetaStore({ rootDirectory: root }), /^Error: storage\.rootDirectory: cannot use the metadata database .*berth\.db: /);
  });
});

describe('backup as docs/storage.md describes it', () => {
  it('sqlite3 .backup of the open database holds what was committed, WAL included', async () => {
    await ensureTools(['sqlite3']);
    const root = await tempDir('meta-backup');
    const store = createSqliteMetaStore({ rootDirectory: root });
    try {
      for (let i = 0; i < 50; i++) await store.catalog.add(`repo${i}`);
      await store.signingKeys.getOrCreate('token', Buffer.from('secret'));
      // Still open: the commits sit in berth.db-wal, which a plain copy of berth.db would miss.
      assert.ok((await stat(`${sqliteFile(root)}-wal`)).size > 0);
      const copyRoot = await tempDir('meta-restored');
      await mkdir(join(copyRoot, '_berth'));
      await run('sqlite3', [sqliteFile(root), `.backup '${sqliteFile(copyRoot)}'`]);
      await store.catalog.add('after-backup');
      const restored = createSqliteMetaStore({ rootDirectory: copyRoot });
      try {
        assert.equal(await restored.catalog.count(), 50);
        assert.equal(Buffer.from((await restored.signingKeys.get('token'))!).toString(), 'secret');
      } finally {
        await restored.close();
      }
    } finally {
      await store.close();
    }
  });
});

describe('choosing the metastore from storage.cacheDriver', () => {
  const choice = (storage: Record<string, unknown>) => metaStoreChoice(parseConfig({ storage: { rootDirectory: '/x', ...storage } }, 'test').storage);

  it('maps an absent cacheDriver, boltdb and one without remoteCache to sqlite, as Zot falls back to boltdb', () => {
    assert.equal(choice({}).kind, 'sqlite');
    assert.equal(choice({ cacheDriver: { name: 'boltdb', rootDir: '/x' } }).kind, 'sqlite');
    assert.equal(choice({ remoteCache: false, cacheDriver: { name: 'redis', url: 'redis://r:6379' } }).kind, 'sqlite');
    assert.deepEqual(choice({ remoteCache: true, cacheDriver: { name: 'redis', url: 'redis://r:6379' } }), {
      kind: 'redis', key: 'storage.cacheDriver', params: { name: 'redis', url: 'redis://r:6379', keyprefix: 'zot' },
    });
  });

  it('creates the database when berth starts on a root, and Zot-style boltdb configs get it too', async () => {
    const berth = await startBerth({ storage: { cacheDriver: { name: 'boltdb' } } });
    try {
      assert.equal((await fetch(`${berth.url}/v2/`)).status, 200);
      assert.ok((await stat(sqliteFile(berth.root))).isFile());
    } finally {
      await berth.stop();
    }
  });

  it('refuses to start with a remote cacheDriver no extension provides, naming storage.cacheDriver', async () => {
    const root = await tempDir('meta-remote');
    // A third-party kind named by config whose module is loaded but registers nothing under that name.
    const config = parseConfig({
      storage: { rootDirectory: root, remoteCache: true, cacheDriver: { name: 'etcd', url: 'etcd://127.0.0.1:1' } },
      extensions: { remotefixture: { module: join(__dirname, 'remote-store-fixture.js') } },
      log: { level: 'error' },
    }, 'test');
    await assert.rejects(createApp(config), /^Error: storage\.cacheDriver: the "etcd" metadata store is not available in this build/);
    await assert.rejects(stat(sqliteFile(root)), { code: 'ENOENT' }, 'nothing written to the root');
  });

  it('uses a remote kind registered by an extension with metaStores.add, and closes it with the app', async () => {
    const elsewhere = await tempDir('meta-elsewhere');
    const berth = await startBerth({
      storage: { remoteCache: true, cacheDriver: { name: 'remotefixture', url: `file://${elsewhere}` } },
      extensions: { remotefixture: { module: join(__dirname, 'remote-store-fixture.js') } },
    });
    let stopped = false;
    try {
      assert.equal((await fetch(`${berth.url}/v2/`)).status, 200);
      assert.deepEqual(opened.map((o) => o.params), [{ name: 'remotefixture', url: `file://${elsewhere}` }]);
      await assert.rejects(stat(sqliteFile(berth.root)), { code: 'ENOENT' }, 'no local database beside a remote one');
      await berth.stop();
      stopped = true;
      assert.equal(opened[0].closed, true);
    } finally {
      if (!stopped) await berth.stop();
    }
  });
});

describe('two berth processes on one root directory (a rolling update)', () => {
  it('processes that create the database at the same instant all open it (replicas started together)', async () => {
    const root = join(await tempDir('meta-together'), 'root');
    const module = join(__dirname, '..', '..', 'storage-drivers', 'metadata', 'sqlite', 'sqlite-meta-store.js');
    // Each child waits for the same wall-clock instant, then opens and writes; SQLite's busy handler is not
    // called for every lock conflict while a new file is switched to WAL and given its schema.
    const at = Date.now() + 1500;
    const child = `
      const { createSqliteMetaStore } = require(${JSON.stringify(module)});
      while (Date.now() < ${at});
      const store = createSqliteMetaStore({ rootDirectory: ${JSON.stringify(root)} });
      (async () => {
        for (let i = 0; i < 50; i++) await store.catalog.add('repo-' + process.pid + '-' + i);
        await store.close();
      })().catch((e) => { console.error(e.message); process.exit(1); });`;
    const results = await Promise.all(Array.from({ length: 16 }, () => run(process.execPath, ['-e', child], { allowFail: true, timeoutMs: 30_000 })));
    assert.deepEqual(results.map((r) => (r.code === 0 ? 'ok' : r.stderr.trim())), results.map(() => 'ok'));
    const store = createSqliteMetaStore({ rootDirectory: root });
    try {
      assert.equal((await store.catalog.page(1000)).length, 16 * 50, 'every process wrote its record');
    } finally {
      await store.close();
    }
  });

  it('both start and serve; neither fails on the database lock', async () => {
    const root = join(await tempDir('meta-rolling'), 'root');
    const old = await spawnBerth({ storage: { rootDirectory: root } });
    try {
      const next = await spawnBerth({ storage: { rootDirectory: root } });
      try {
        assert.equal((await fetch(`${old.url}/v2/`)).status, 200);
        assert.equal((await fetch(`${next.url}/v2/`)).status, 200);
      } finally {
        await next.stop();
      }
      assert.equal((await fetch(`${old.url}/v2/`)).status, 200, 'the old one keeps serving after the new one stopped');
    } finally {
      await old.stop();
    }
    const store = createSqliteMetaStore({ rootDirectory: root });
    await store.close();
  });
});
