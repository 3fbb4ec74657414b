// The repository catalog served from the MetaStore's index: paging after pushes and deletes, a root written
// by others (Zot, an older berth) brought in by the background reconcile, storage.maxRepos, and a generated
// root of thousands of repositories (the 100k figures are in bench/catalog-scale.ts).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pushBlob } from '../helpers/artifact-push.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { generateRepoRoot, generatedRepo } from '../helpers/repo-root.js';
import { cleanupTempDirs, tempDir } from '../helpers/tools.js';

interface CatalogAnswer {
  status: number;
  repos: string[];
  link: string | null;
}

async function catalog(berth: RunningBerth, query = ''): Promise<CatalogAnswer> {
  const res = await fetch(`${berth.url}/v2/_catalog${query}`);
  const body = (await res.json()) as { repositories?: string[] };
  return { status: res.status, repos: body.repositories ?? [], link: res.headers.get('link') };
}

/** Every repository, following Link rel="next" from `?n=<n>`; also returns how many pages it took. */
async function walkPages(berth: RunningBerth, n: number): Promise<{ repos: string[]; pages: number }> {
  const repos: string[] = [];
  let pages = 0;
  for (let path: string | undefined = `?n=${n}`; path !== undefined; pages++) {
    const page = await catalog(berth, path);
    assert.equal(page.status, 200);
    assert.ok(page.repos.length <= n, `a page of ${page.repos.length} for n=${n}`);
    repos.push(...page.repos);
    const next = page.link ? /^<\/v2\/_catalog(\?[^>]*)>; rel="next"$/.exec(page.link) : null;
    if (page.link) assert.ok(next, `Link header ${page.link}`);
    path = next?.[1];
  }
  return { repos, pages };
}

/** A repository as Zot leaves it: oci-layout, index.json, blobs/ and an empty .uploads/. */
async function placeZotRepo(root: string, repo: string): Promise<void> {
  const dir = join(root, repo);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await mkdir(join(dir, '.uploads'));
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
}

const reconciled = (berth: RunningBerth) => berth.app.registry.repos.catalog.whenReconciled();

describe('repository catalog', () => {
  const running: RunningBerth[] = [];
  const start = async (config: Record<string, unknown>) => {
    const berth = await startBerth(config);
    running.push(berth);
    return berth;
  };
  after(async () => {
    for (const b of running) await b.stop();
    await cleanupTempDirs();
  });

  it('pages from the index after pushes and deletes, and a restart reconciles what changed on disk', async () => {
    const root = await tempDir('berth-catalog-');
    let berth = await start({ storage: { rootDirectory: root } });
    await reconciled(berth);
    const names = ['team/web', 'alpha', 'team/api', 'alpha-tools', 'alpha/nested', 'zeta'];
    for (const repo of names) await pushBlob(berth.url, repo, Buffer.from(`layer of ${repo}`));
    const sorted = [...names].sort();
    assert.deepEqual((await catalog(berth)).repos, sorted);
    assert.deepEqual((await walkPages(berth, 2)).repos, sorted);
    assert.deepEqual((await walkPages(berth, 4)).pages, 2);
    const page = await catalog(berth, '?n=2&last=alpha-tools');
    assert.deepEqual(page.repos, ['alpha/nested', 'team/api']);
    assert.equal(page.link, '</v2/_catalog?n=2&last=team%2Fapi>; rel="next"');
    assert.deepEqual(await catalog(berth, '?n=0'), { status: 200, repos: [], link: null });
    assert.equal((await catalog(berth, '?n=-1')).status, 400);

    // A repository the registry deletes (as GC does when its content is gone) leaves the catalog at once.
    await berth.app.registry.repos.delete('team/api');
    assert.deepEqual((await walkPages(berth, 2)).repos, sorted.filter((r) => r !== 'team/api'));
    assert.deepEqual((await catalog(berth, '?n=1&last=team/api')).repos, ['team/web'], 'last need not be listed');

    // While stopped: one repository removed by hand, two written as Zot writes them (one nested).
    await berth.stop();
    await rm(join(root, 'zeta'), { recursive: true });
    await placeZotRepo(root, 'zot/written/deep');
    await placeZotRepo(root, 'beta');
    berth = await start({ storage: { rootDirectory: root } });
    const expected = ['alpha', 'alpha-tools', 'alpha/nested', 'beta', 'team/web', 'zot/written/deep'];
    // Right after start the index answers (a reconcile of this root completed before): what berth wrote is
    // there at once, and what changed behind its back while it was stopped may still be missing or listed ...
    const early = (await catalog(berth)).repos;
    for (const repo of ['alpha', 'alpha-tools', 'alpha/nested', 'team/web']) assert.ok(early.includes(repo), `${repo} in ${early.join()}`);
    assert.ok(early.every((repo) => [...expected, 'zeta'].includes(repo)), early.join());
    await reconciled(berth);
    // ... until this start's reconcile ended; then it is exact.
    assert.deepEqual((await walkPages(berth, 2)).repos, expected);
    assert.deepEqual((await catalog(berth, '?n=1&last=beta')).repos, ['team/web']);
  });

  it('a root never indexed (Zot wrote it, or the database is gone): exact answers from the first request', async () => {
    const root = await tempDir('berth-catalog-foreign-');
    let berth = await start({ storage: { rootDirectory: root } });
    for (const repo of ['one', 'two']) await pushBlob(berth.url, repo, Buffer.from(repo));
    await berth.stop();
    // The database removed (a tree restored without it) and a repository written by Zot meanwhile.
    await rm(join(root, '_berth'), { recursive: true });
    await placeZotRepo(root, 'three');
    berth = await start({ storage: { rootDirectory: root } });
    // Concurrent requests while the walk answers all get the whole, exact catalog.
    const answers = await Promise.all(Array.from({ length: 5 }, () => catalog(berth)));
    for (const a of answers) assert.deepEqual(a.repos, ['one', 'three', 'two']);
    await reconciled(berth);
    assert.deepEqual((await catalog(berth)).repos, ['one', 'three', 'two']);
  });

  it('while it runs: a repository found on disk unlisted is listed by its next push, one gone from disk leaves at the next GC', async () => {
    // Both are what a MetaStore failing between a repository's files and its catalog entry leaves (the client's
    // retry finds the files in place; a deletion keeps the entry): no restart is needed to mend either.
    const root = await tempDir('berth-catalog-live-');
    const berth = await start({ storage: { rootDirectory: root, gc: true, gcDelay: '1h', gcInterval: '1s' } });
    await reconciled(berth);
    await pushBlob(berth.url, 'kept', Buffer.from('kept'));
    await placeZotRepo(root, 'appeared');
    assert.deepEqual((await catalog(berth)).repos, ['kept'], 'written behind its back: not listed yet');
    await pushBlob(berth.url, 'appeared', Buffer.from('a blob for a repository that was there'));
    assert.deepEqual((await catalog(berth)).repos, ['appeared', 'kept'], 'listed by the push into it');

    await pushBlob(berth.url, 'vanishing', Buffer.from('soon gone'));
    assert.deepEqual((await catalog(berth)).repos, ['appeared', 'kept', 'vanishing']);
    await rm(join(root, 'vanishing'), { recursive: true });
    const deadline = Date.now() + 20_000;
    while ((await catalog(berth)).repos.includes('vanishing')) {
      assert.ok(Date.now() < deadline, 'GC took the entry of the repository removed from disk');
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual((await catalog(berth)).repos, ['appeared', 'kept']);
  });

  it('storage.maxRepos: a repository past the limit is refused with 429 TOOMANYREQUESTS and nothing written', async () => {
    const root = await tempDir('berth-maxrepos-');
    let berth = await start({ storage: { rootDirectory: root, maxRepos: 2 } });
    await pushBlob(berth.url, 'one', Buffer.from('a'));
    await pushBlob(berth.url, 'two', Buffer.from('b'));
    const refused = async (res: Response) => {
      assert.equal(res.status, 429);
      const body = (await res.json()) as { errors: Array<{ code: string }> };
      assert.equal(body.errors[0].code, 'TOOMANYREQUESTS');
    };
    await refused(await fetch(`${berth.url}/v2/three/blobs/uploads/`, { method: 'POST' }));
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    await refused(await fetch(`${berth.url}/v2/three/manifests/v1`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: manifest }));
    const digest = await pushBlob(berth.url, 'one', Buffer.from('c'));
    await refused(await fetch(`${berth.url}/v2/three/blobs/uploads/?mount=${digest}&from=one`, { method: 'POST' }));
    assert.equal(existsSync(join(root, 'three')), false, 'nothing of the refused repository is on disk');
    assert.deepEqual((await catalog(berth)).repos, ['one', 'two']);
    // Existing repositories keep working.
    await pushBlob(berth.url, 'two', Buffer.from('d'));
    const put = await fetch(`${berth.url}/v2/one/manifests/v1`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: manifest });
    assert.equal(put.status, 201);

    // A restart counts what is on disk even before its reconcile finished (a Zot-written third repository).
    await berth.stop();
    await placeZotRepo(root, 'zot-made');
    berth = await start({ storage: { rootDirectory: root, maxRepos: 3 } });
    await refused(await fetch(`${berth.url}/v2/four/blobs/uploads/`, { method: 'POST' }));
    await reconciled(berth);
    await refused(await fetch(`${berth.url}/v2/four/blobs/uploads/`, { method: 'POST' }));
    assert.equal(existsSync(join(root, 'four')), false);
  });

  it('a generated root of thousands of repositories: serves at once, reconciles, pages in order', async () => {
    const N = 5000;
    const root = await tempDir('berth-catalog-scale-');
    generateRepoRoot(root, N);
    const berth = await start({ storage: { rootDirectory: root } });
    assert.equal((await fetch(`${berth.url}/v2/`)).status, 200);
    await reconciled(berth);
    const page = await catalog(berth, `?n=100&last=${generatedRepo(2499)}`);
    assert.deepEqual(page.repos, Array.from({ length: 100 }, (_, i) => generatedRepo(2500 + i)));
    assert.ok(page.link);
    const all = await walkPages(berth, 1000);
    assert.equal(all.repos.length, N);
    assert.equal(all.pages, 5);
    assert.deepEqual(all.repos, Array.from({ length: N }, (_, i) => generatedRepo(i)));
  });
});
