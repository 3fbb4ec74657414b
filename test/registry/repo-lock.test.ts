import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { RegistryError } from '../../core/registry/errors';
import { createLeasedLocks } from '../../core/registry/repo-lock';
import { createSqliteMetaStore } from '../../storage-drivers/metadata/sqlite';
import { cleanupTempDirs, tempDir } from '../helpers/tools';

after(() => cleanupTempDirs());
const silent = pino({ level: 'silent' });

/** Two connections to one database file: what two berth processes on one root have. */
async function twoStores() {
  const root = await tempDir('repo-lock-');
  const a = createSqliteMetaStore({ rootDirectory: root });
  const b = createSqliteMetaStore({ rootDirectory: root });
  return { a, b, close: async () => { await a.close(); await b.close(); } };
}

describe('leased repository locks', () => {
  it('serialise work across two stores on one file', async () => {
    const { a, b, close } = await twoStores();
    try {
      const la = createLeasedLocks(a.leases, silent);
      const lb = createLeasedLocks(b.leases, silent);
      let inside = 0;
      let overlaps = 0;
      const work = async () => {
        inside++;
        if (inside > 1) overlaps++;
        await new Promise((r) => setTimeout(r, 2));
        inside--;
      };
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? la : lb).withLock('team/app', work)));
      assert.equal(overlaps, 0);
      assert.equal(await a.leases.get('lock:team/app'), undefined, 'released at the end');
    } finally {
      await close();
    }
  });

  it('a holder paused past its TTL cannot confirm: another holder took the lease meanwhile', async () => {
    const { a, b, close } = await twoStores();
    try {
      const la = createLeasedLocks(a.leases, silent, { ttlMs: 200 });
      const result = la.withLock('team/app', async (held) => {
        // A stop-the-world pause: no renewal timer can run while the event loop is blocked.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400);
        const other = await b.leases.acquire('lock:team/app', 'other', 60_000);
        assert.ok(other, 'the lapsed lease was taken by another holder');
        await held.confirm();
        return 'wrote';
      });
      await assert.rejects(result, (err: unknown) => err instanceof RegistryError && err.status === 503 && err.headers['Retry-After'] === '1');
      assert.equal((await b.leases.get('lock:team/app'))?.holder, 'other', 'the stale holder did not release the new holder\'s lease');
    } finally {
      await close();
    }
  });

  it('a held lease is renewed while long work runs', async () => {
    const { a, b, close } = await twoStores();
    try {
      const la = createLeasedLocks(a.leases, silent, { ttlMs: 150 });
      await la.withLock('team/app', async (held) => {
        await new Promise((r) => setTimeout(r, 600));
        assert.equal(await b.leases.acquire('lock:team/app', 'other', 60_000), undefined, 'still held after 4 TTLs');
        await held.confirm();
      });
    } finally {
      await close();
    }
  });

  it('gives up after the acquire bound with 503 and Retry-After, without running the work', async () => {
    const { a, b, close } = await twoStores();
    try {
      await b.leases.acquire('lock:team/app', 'other', 60_000);
      const la = createLeasedLocks(a.leases, silent, { acquireTimeoutMs: 300 });
      let ran = false;
      const started = Date.now();
      await assert.rejects(la.withLock('team/app', async () => { ran = true; }), (err: unknown) => {
        assert.ok(err instanceof RegistryError);
        assert.equal(err.status, 503);
        assert.equal(err.code, 'UNAVAILABLE');
        const retry = Number(err.headers['Retry-After']);
        assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
        return true;
      });
      assert.ok(Date.now() - started < 5_000);
      assert.equal(ran, false);
    } finally {
      await close();
    }
  });

  it('the bound also covers the wait behind this process\'s own requests, and a give-up never runs later', async () => {
    const { a, close } = await twoStores();
    try {
      const la = createLeasedLocks(a.leases, silent, { acquireTimeoutMs: 300 });
      let release!: () => void;
      const first = la.withLock('team/app', () => new Promise<void>((r) => (release = r)));
      let ran = false;
      const started = Date.now();
      await assert.rejects(la.withLock('team/app', async () => { ran = true; }), (err: unknown) => err instanceof RegistryError && err.status === 503);
      assert.ok(Date.now() - started < 5_000);
      release();
      await first;
      await la.withLock('team/app', async () => undefined); // the queue moved on past the one that gave up
      assert.equal(ran, false);
    } finally {
      await close();
    }
  });

  it('a holder that never releases blocks others only until its lease expires', async () => {
    const { a, b, close } = await twoStores();
    try {
      await b.leases.acquire('lock:team/app', 'dead', 500);
      const la = createLeasedLocks(a.leases, silent);
      const started = Date.now();
      await la.withLock('team/app', async () => undefined);
      const waited = Date.now() - started;
      assert.ok(waited >= 400 && waited < 5_000, `waited ${waited} ms`);
    } finally {
      await close();
    }
  });
});
