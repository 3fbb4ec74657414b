/**
 * The MetaStore conformance suite, public as `berth/metastore-conformance`: a MetaStore is done when it passes.
 *
 * ```ts
 * runMetaStoreConformance('mystore', async () => ({
 *   store: await createMyStore(options),
 *   // How a second process opens the same store: the suite runs `require(module)[export](options)` there.
 *   peer: { module: require.resolve('my-store'), export: 'createMyStore', options },
 *   cleanup: async () => { await wipe(options); },
 * }));
 * ```
 * Each test gets a fresh, empty store from `setup` and closes it before `cleanup`. The cross-process tests
 * spawn the peer with `node` while this process works on the same store, so leases and compare-and-set are
 * proven between processes, not only between calls of one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetaStore } from '../../core/extensions/api';
import { concurrencyTests, type PeerSpec } from './metastore-concurrency';

export type { PeerSpec } from './metastore-concurrency';

export interface MetaStoreConformanceEnv {
  /** A fresh store with nothing in it. */
  store: MetaStore;
  peer: PeerSpec;
  cleanup(): Promise<void>;
}

export type MetaCheck = (title: string, body: (store: MetaStore, env: MetaStoreConformanceEnv) => Promise<void>) => void;

const bytes = (s: string) => Buffer.from(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString());
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function runMetaStoreConformance(name: string, setup: () => Promise<MetaStoreConformanceEnv>): void {
  const check: MetaCheck = (title, body) =>
    it(title, async () => {
      const env = await setup();
      try {
        await body(env.store, env);
      } finally {
        await env.store.close();
        await env.cleanup();
      }
    });
  describe(`metastore conformance: ${name}`, () => {
    uploadTests(check);
    leaseTests(check);
    dedupeTests(check);
    recordTests(check);
    catalogTests(check);
    kvTests(check);
    check('ping, when the store has one, resolves while it is reachable and rejects once closed', async (store) => {
      if (!store.ping) return; // optional: /readyz counts a store without it as reachable
      await store.ping();
      await store.close();
      await assert.rejects(store.ping());
    });
    check('rejects calls once closed', async (store) => {
      await store.close();
      await assert.rejects(store.catalog.count());
    });
  });
  describe(`metastore conformance: ${name} across two processes`, () => concurrencyTests(check));
}

function uploadTests(check: MetaCheck): void {
  const base = { id: 'u1', repo: 'team/app', path: 'team/app/.uploads/u1', size: 0, createdAt: 1_000 };

  check('uploads: create once, get it back with its hash state', async (store) => {
    assert.equal(await store.uploads.create({ ...base, hashState: bytes('state-0') }), true);
    assert.equal(await store.uploads.create({ ...base, repo: 'other' }), false, 'an existing id is not replaced');
    const got = await store.uploads.get('u1');
    assert.equal(got?.repo, 'team/app');
    assert.equal(got?.path, 'team/app/.uploads/u1');
    assert.equal(got?.size, 0);
    assert.equal(text(got?.hashState), 'state-0');
    assert.equal(got?.createdAt, 1_000);
    assert.equal(got?.updatedAt, 1_000);
    assert.ok(Number.isInteger(got?.version) && got!.version > 0);
    assert.equal(await store.uploads.get('missing'), undefined);
  });

  check('uploads: update is a compare-and-set on the version', async (store) => {
    await store.uploads.create(base);
    const v0 = (await store.uploads.get('u1'))!.version;
    const first = await store.uploads.update('u1', v0, { size: 10, hashState: bytes('state-10'), updatedAt: 2_000 });
    assert.ok(first.ok);
    assert.equal(first.value.size, 10);
    assert.equal(text(first.value.hashState), 'state-10');
    assert.equal(first.value.updatedAt, 2_000);
    assert.notEqual(first.value.version, v0);
    // A second replica that read v0 loses, and learns what is there instead.
    const stale = await store.uploads.update('u1', v0, { size: 5 });
    assert.equal(stale.ok, false);
    assert.equal(stale.ok ? undefined : stale.current?.size, 10);
    assert.equal((await store.uploads.get('u1'))?.size, 10, 'the lost update changed nothing');
    // No hash state in a change clears it: it belonged to the old size.
    const next = await store.uploads.update('u1', first.value.version, { size: 20 });
    assert.ok(next.ok);
    assert.equal(next.value.hashState, undefined);
    const gone = await store.uploads.update('missing', 1, { size: 1 });
    assert.deepEqual(gone, { ok: false, current: undefined });
  });

  check('uploads: delete, conditionally on the version', async (store) => {
    await store.uploads.create(base);
    const v = (await store.uploads.get('u1'))!.version;
    const moved = await store.uploads.update('u1', v, { size: 1 });
    assert.ok(moved.ok);
    assert.equal(await store.uploads.delete('u1', v), false, 'a stale version does not delete');
    assert.ok(await store.uploads.get('u1'));
    assert.equal(await store.uploads.delete('u1', moved.value.version), true);
    assert.equal(await store.uploads.get('u1'), undefined);
    assert.equal(await store.uploads.delete('u1'), false);
    await store.uploads.create({ ...base, id: 'u2' });
    assert.equal(await store.uploads.delete('u2'), true);
  });

  check('uploads: stale lists sessions updated before a time, oldest first', async (store) => {
    for (const [id, at] of [['c', 300], ['a', 100], ['d', 400], ['b', 200]] as const) {
      await store.uploads.create({ ...base, id, createdAt: at });
    }
    assert.deepEqual((await store.uploads.stale(350, 10)).map((s) => s.id), ['a', 'b', 'c']);
    assert.deepEqual((await store.uploads.stale(350, 2)).map((s) => s.id), ['a', 'b']);
    assert.deepEqual(await store.uploads.stale(100, 10), []);
  });
}

function leaseTests(check: MetaCheck): void {
  check('leases: one holder at a time; release lets the next in with a larger token', async (store) => {
    const a = await store.leases.acquire('repo:team/app', 'A', 10_000);
    assert.ok(a);
    assert.equal(a.holder, 'A');
    assert.ok(a.expiresAt > Date.now() + 5_000);
    assert.equal(await store.leases.acquire('repo:team/app', 'B', 10_000), undefined);
    assert.equal(await store.leases.acquire('repo:team/app', 'A', 10_000), undefined, 'not re-entrant: a holder renews');
    assert.deepEqual(await store.leases.get('repo:team/app'), a);
    assert.ok(await store.leases.acquire('repo:other', 'B', 10_000), 'names are independent');
    assert.equal(await store.leases.release('repo:team/app', 'B', a.token), false, 'another holder cannot release it');
    assert.equal(await store.leases.release('repo:team/app', 'A', a.token + 1), false, 'a wrong token cannot release it');
    assert.ok(await store.leases.get('repo:team/app'));
    assert.equal(await store.leases.release('repo:team/app', 'A', a.token), true);
    assert.equal(await store.leases.get('repo:team/app'), undefined);
    assert.equal(await store.leases.release('repo:team/app', 'A', a.token), false, 'released once');
    const b = await store.leases.acquire('repo:team/app', 'B', 10_000);
    assert.ok(b && b.token > a.token);
  });

  check('leases: fencing tokens grow with every acquisition', async (store) => {
    const tokens: number[] = [];
    for (let i = 0; i < 5; i++) {
      const l = await store.leases.acquire('gc', `holder-${i % 2}`, 10_000);
      assert.ok(l);
      tokens.push(l.token);
      await store.leases.release('gc', l.holder, l.token);
    }
    for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i] > tokens[i - 1], `tokens ${tokens.join(', ')} grow`);
  });

  check('leases: an expired lease goes to another holder; the old one can neither renew nor release', async (store) => {
    const started = Date.now();
    const a = await store.leases.acquire('sched', 'A', 200);
    assert.ok(a);
    let b;
    while (!(b = await store.leases.acquire('sched', 'B', 10_000))) await sleep(10);
    assert.ok(Date.now() - started >= 150, 'not taken before it expired');
    assert.ok(b.token > a.token);
    assert.equal(await store.leases.renew('sched', 'A', a.token, 10_000), false);
    assert.equal(await store.leases.release('sched', 'A', a.token), false);
    assert.equal((await store.leases.get('sched'))?.holder, 'B');
  });

  check('leases: renewal keeps a lease past its first ttl; renewing after expiry fails', async (store) => {
    const a = await store.leases.acquire('sched', 'A', 300);
    assert.ok(a);
    const until = Date.now() + 700;
    while (Date.now() < until) {
      assert.equal(await store.leases.renew('sched', 'A', a.token, 300), true);
      assert.equal(await store.leases.acquire('sched', 'B', 300), undefined, 'a renewed lease is not free');
      await sleep(80);
    }
    assert.equal(await store.leases.renew('sched', 'B', a.token, 300), false, 'only its holder renews it');
    const lapsed = await store.leases.acquire('lapse', 'A', 50);
    assert.ok(lapsed);
    while (await store.leases.get('lapse')) await sleep(10);
    assert.equal(await store.leases.renew('lapse', 'A', lapsed.token, 10_000), false, 'expired, even though nobody took it');
  });

  check('leases: a ttl that is not a positive number is refused', async (store) => {
    await assert.rejects(store.leases.acquire('x', 'A', 0));
    await assert.rejects(store.leases.acquire('x', 'A', Number.NaN));
    assert.equal(await store.leases.get('x'), undefined);
  });
}

function dedupeTests(check: MetaCheck): void {
  const d = 'sha256:' + 'a'.repeat(64);
  check('dedupe: locations are counted once each, the first recorded is the original', async (store) => {
    assert.equal(await store.dedupe.count(d), 0);
    assert.deepEqual(await store.dedupe.locations(d), []);
    assert.equal(await store.dedupe.add(d, 'r1/blobs/sha256/aa'), 1);
    assert.equal(await store.dedupe.add(d, 'r2/blobs/sha256/aa'), 2);
    assert.equal(await store.dedupe.add(d, 'r1/blobs/sha256/aa'), 2, 'adding a known location changes nothing');
    assert.equal(await store.dedupe.add(d, 'r0/blobs/sha256/aa'), 3);
    assert.deepEqual(await store.dedupe.locations(d), ['r1/blobs/sha256/aa', 'r2/blobs/sha256/aa', 'r0/blobs/sha256/aa']);
    assert.equal(await store.dedupe.remove(d, 'r9/blobs/sha256/aa'), 3, 'removing an unknown location changes nothing');
    assert.equal(await store.dedupe.remove(d, 'r1/blobs/sha256/aa'), 2);
    assert.deepEqual(await store.dedupe.locations(d), ['r2/blobs/sha256/aa', 'r0/blobs/sha256/aa'], 'the next oldest is the original');
    assert.equal(await store.dedupe.remove(d, 'r2/blobs/sha256/aa'), 1);
    assert.equal(await store.dedupe.remove(d, 'r0/blobs/sha256/aa'), 0);
    assert.equal(await store.dedupe.count(d), 0);
  });

  check('dedupe: digests page in byte order', async (store) => {
    const digests = ['sha256:03', 'sha256:01', 'sha512:00', 'sha256:02'];
    for (const x of digests) await store.dedupe.add(x, `r/${x}`);
    await store.dedupe.add('sha256:01', 'r2/x');
    assert.deepEqual(await store.dedupe.digests({ limit: 2 }), ['sha256:01', 'sha256:02']);
    assert.deepEqual(await store.dedupe.digests({ after: 'sha256:02', limit: 10 }), ['sha256:03', 'sha512:00']);
  });
}

function recordTests(check: MetaCheck): void {
  check('access times: never move back, kinds are separate, page in byte order', async (store) => {
    const t = store.accessTimes;
    await t.record('pulled', [{ subject: 'sha256:b', at: 200 }, { subject: 'sha256:a', at: 100 }]);
    await t.record('pulled', [{ subject: 'sha256:b', at: 150 }, { subject: 'sha256:a', at: 300 }]);
    assert.equal(await t.get('pulled', 'sha256:b'), 200, 'an older time is ignored');
    assert.equal(await t.get('pulled', 'sha256:a'), 300);
    assert.equal(await t.get('pushed', 'sha256:a'), undefined);
    await t.record('pushed', [{ subject: 'team/app@sha256:a', at: 50 }, { subject: 'team/app:latest', at: 60 }]);
    assert.deepEqual(await t.getMany('pulled', ['sha256:a', 'sha256:zz', 'sha256:b']), new Map([['sha256:a', 300], ['sha256:b', 200]]));
    assert.deepEqual(await t.page('pushed', { limit: 10 }), [{ subject: 'team/app:latest', at: 60 }, { subject: 'team/app@sha256:a', at: 50 }]);
    assert.deepEqual(await t.page('pulled', { after: 'sha256:a', limit: 10 }), [{ subject: 'sha256:b', at: 200 }]);
    await t.forget('pulled', ['sha256:a', 'sha256:never']);
    assert.equal(await t.get('pulled', 'sha256:a'), undefined);
    assert.equal(await t.get('pulled', 'sha256:b'), 200);
    const many = Array.from({ length: 1200 }, (_, i) => ({ subject: `s${String(i).padStart(4, '0')}`, at: i }));
    await t.record('pulled', many);
    assert.equal((await t.getMany('pulled', many.map((e) => e.subject))).size, 1200);
  });

  check('api keys: by hash, by user in creation order, replace, delete, markUsed', async (store) => {
    const key = (uuid: string, user: string, hash: string) => ({
      uuid, user, hash, groups: ['dev'], label: uuid, scopes: [], createdAt: '2026-01-01T00:00:00Z', expirationDate: null, creatorUa: 'test',
    });
    await store.apiKeys.put(key('k2', 'alice', 'h2'));
    await store.apiKeys.put(key('k1', 'alice', 'h1'));
    await store.apiKeys.put(key('k3', 'bob', 'h3'));
    assert.deepEqual(await store.apiKeys.getByHash('h1'), key('k1', 'alice', 'h1'));
    assert.equal(await store.apiKeys.getByHash('nope'), undefined);
    assert.deepEqual((await store.apiKeys.listByUser('alice')).map((k) => k.uuid), ['k2', 'k1']);
    await store.apiKeys.put({ ...key('k2', 'alice', 'h2'), lastUsed: '2026-02-02T00:00:00Z' });
    const listed = await store.apiKeys.listByUser('alice');
    assert.deepEqual(listed.map((k) => k.uuid), ['k2', 'k1'], 'a replaced key keeps its place');
    assert.equal(listed[0].lastUsed, '2026-02-02T00:00:00Z');
    await assert.rejects(store.apiKeys.put(key('k9', 'carol', 'h1')), 'a hash belongs to one key');
    assert.equal(await store.apiKeys.delete('bob', 'k1'), false, 'only its user deletes a key');
    assert.equal(await store.apiKeys.delete('alice', 'k1'), true);
    assert.equal(await store.apiKeys.getByHash('h1'), undefined);
    assert.deepEqual(await store.apiKeys.listByUser('nobody'), []);
    assert.equal(await store.apiKeys.markUsed('k3', '2026-03-03T00:00:00Z'), true);
    assert.deepEqual(await store.apiKeys.getByHash('h3'), { ...key('k3', 'bob', 'h3'), lastUsed: '2026-03-03T00:00:00Z' });
    assert.equal(await store.apiKeys.markUsed('k1', '2026-03-03T00:00:00Z'), false, 'a deleted key stays deleted');
    assert.equal(await store.apiKeys.getByHash('h1'), undefined);
  });

  check('signing keys: the first candidate stored wins', async (store) => {
    assert.equal(await store.signingKeys.get('token'), undefined);
    assert.equal(text(await store.signingKeys.getOrCreate('token', bytes('first'))), 'first');
    assert.equal(text(await store.signingKeys.getOrCreate('token', bytes('second'))), 'first');
    assert.equal(text(await store.signingKeys.get('token')), 'first');
    assert.equal(text(await store.signingKeys.getOrCreate('other', bytes('second'))), 'second');
  });
}

function catalogTests(check: MetaCheck): void {
  check('catalog: add and remove report changes; count', async (store) => {
    assert.equal(await store.catalog.add('team/app'), true);
    assert.equal(await store.catalog.add('team/app'), false);
    assert.equal(await store.catalog.add('alpine'), true);
    assert.equal(await store.catalog.count(), 2);
    assert.equal(await store.catalog.remove('nope'), false);
    assert.equal(await store.catalog.remove('alpine'), true);
    assert.equal(await store.catalog.count(), 1);
  });

  check('catalog: addMany lists many at once and counts only the new ones', async (store) => {
    await store.catalog.add('b');
    assert.equal(await store.catalog.addMany(['a', 'b', 'c', 'a']), 2);
    assert.equal(await store.catalog.addMany([]), 0);
    assert.deepEqual(await store.catalog.page(10), ['a', 'b', 'c']);
  });

  check('catalog: pages in byte order with n and last, as _catalog does', async (store) => {
    // '-' < '.' < '/' < letters in byte order: the order Distribution's _catalog sorts by.
    const repos = ['b', 'ab', 'a/b', 'a.b', 'a-b', 'a', 'a/b/c', 'z0'];
    for (const r of repos) await store.catalog.add(r);
    assert.deepEqual(await store.catalog.page(100), ['a', 'a-b', 'a.b', 'a/b', 'a/b/c', 'ab', 'b', 'z0']);
    assert.deepEqual(await store.catalog.page(3), ['a', 'a-b', 'a.b']);
    assert.deepEqual(await store.catalog.page(3, 'a.b'), ['a/b', 'a/b/c', 'ab']);
    assert.deepEqual(await store.catalog.page(3, 'ab'), ['b', 'z0']);
    assert.deepEqual(await store.catalog.page(3, 'a/a'), ['a/b', 'a/b/c', 'ab'], 'last need not be listed');
    assert.deepEqual(await store.catalog.page(3, 'z0'), []);
    assert.deepEqual(await store.catalog.page(0), []);
    const seen: string[] = [];
    for (let page = await store.catalog.page(2); page.length > 0; page = await store.catalog.page(2, page.at(-1))) seen.push(...page);
    assert.deepEqual(seen, [...repos].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });
}

function kvTests(check: MetaCheck): void {
  check('kv: namespaces are isolated', async (store) => {
    const a = store.kv('search');
    const b = store.kv('userprefs');
    await a.put('k', bytes('from a'));
    assert.equal(await b.get('k'), undefined);
    assert.deepEqual(await b.list('', { limit: 10 }), []);
    assert.equal(await b.delete('k'), false);
    assert.ok((await b.compareAndSet('k', undefined, bytes('from b'))).ok, 'absent in b although present in a');
    assert.equal(text((await a.get('k'))?.value), 'from a');
    assert.equal(text((await b.get('k'))?.value), 'from b');
    assert.equal(text((await store.kv('search').get('k'))?.value), 'from a', 'a namespace is the same however obtained');
  });

  check('kv: compare-and-set on absence and on version; versions are never reused', async (store) => {
    const kv = store.kv('ext');
    const created = await kv.compareAndSet('k', undefined, bytes('1'));
    assert.ok(created.ok);
    const again = await kv.compareAndSet('k', undefined, bytes('x'));
    assert.equal(again.ok, false);
    assert.equal(text(again.ok ? undefined : again.current?.value), '1');
    const v1 = created.value.version;
    const second = await kv.compareAndSet('k', v1, bytes('2'));
    assert.ok(second.ok);
    assert.notEqual(second.value.version, v1);
    assert.equal((await kv.compareAndSet('k', v1, bytes('3'))).ok, false, 'a stale version loses');
    assert.equal(await kv.delete('k', v1), false);
    assert.equal(await kv.delete('k', second.value.version), true);
    assert.equal((await kv.compareAndSet('k', second.value.version, bytes('4'))).ok, false, 'gone');
    const put = await kv.put('k', bytes('5'));
    assert.ok(![v1, second.value.version].includes(put), 'a re-created key gets a version it never had');
    assert.equal((await kv.compareAndSet('k', v1, bytes('6'))).ok, false);
    assert.equal((await kv.get('k'))?.version, put);
    assert.equal(text((await kv.get('k'))?.value), '5');
    assert.equal(await kv.delete('k'), true);
    assert.equal(await kv.get('k'), undefined);
  });

  // A search record of a repository with thousands of tags: over DynamoDB's 400 KB item limit, for one.
  check('kv: values over a megabyte round-trip through put, compareAndSet, get, list and delete', async (store) => {
    const kv = store.kv('big');
    const big = (seed: number, size: number) => Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + seed) % 251));
    const first = big(1, 1_200_000);
    const v1 = await kv.put('repo/a', first);
    assert.ok(Buffer.from((await kv.get('repo/a'))!.value).equals(first));
    const second = big(2, 2_500_000);
    const cas = await kv.compareAndSet('repo/a', v1, second);
    assert.ok(cas.ok);
    assert.equal((await kv.compareAndSet('repo/a', v1, big(3, 10))).ok, false, 'a stale version loses');
    const got = (await kv.get('repo/a'))!;
    assert.equal(got.version, cas.value.version);
    assert.ok(Buffer.from(got.value).equals(second), 'the new value whole, not a mix with the old one');
    await kv.put('repo/b', bytes('small'));
    const small = await kv.compareAndSet('repo/a', got.version, bytes('shrunk'));
    assert.ok(small.ok);
    await kv.put('repo/c', big(4, 900_000));
    const listed = await kv.list('repo/', { limit: 10 });
    assert.deepEqual(listed.map((e) => e.key), ['repo/a', 'repo/b', 'repo/c']);
    assert.equal(text(listed[0].value), 'shrunk');
    assert.ok(Buffer.from(listed[2].value).equals(big(4, 900_000)));
    assert.equal(await kv.delete('repo/c'), true);
    assert.equal(await kv.get('repo/c'), undefined);
    assert.deepEqual((await kv.list('repo/', { limit: 10 })).map((e) => e.key), ['repo/a', 'repo/b']);
  });

  check('kv: list by prefix in byte order, a page at a time', async (store) => {
    const kv = store.kv('ext');
    const keys = ['p/b', 'o', 'p', 'pa', 'p/a', 'q', 'p/a/1', 'ü', 'üa', 'ý', 'u'];
    for (const k of keys) await kv.put(k, bytes(`v:${k}`));
    const list = async (prefix: string, after?: string, limit = 100) => (await kv.list(prefix, { after, limit })).map((e) => e.key);
    assert.deepEqual(await list('p'), ['p', 'p/a', 'p/a/1', 'p/b', 'pa']);
    assert.deepEqual(await list('p/'), ['p/a', 'p/a/1', 'p/b']);
    assert.deepEqual(await list('p', undefined, 2), ['p', 'p/a']);
    assert.deepEqual(await list('p', 'p/a'), ['p/a/1', 'p/b', 'pa']);
    assert.deepEqual(await list('p', 'a'), ['p', 'p/a', 'p/a/1', 'p/b', 'pa'], 'after before the prefix');
    assert.deepEqual(await list('p', 'pz'), []);
    assert.deepEqual(await list('ü'), ['ü', 'üa'], 'a prefix ending in a multi-byte character');
    assert.deepEqual(await list('x'), []);
    assert.deepEqual(await list(''), ['o', 'p', 'p/a', 'p/a/1', 'p/b', 'pa', 'q', 'u', 'ü', 'üa', 'ý']);
    const [first] = await kv.list('pa', { limit: 1 });
    assert.equal(text(first.value), 'v:pa');
    assert.equal(first.version, (await kv.get('pa'))?.version);
  });
}
