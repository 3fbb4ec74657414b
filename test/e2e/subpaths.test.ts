// storage.subPaths with real skopeo pushes and pulls: a route's repositories land under its own root by their
// full names (as Zot lays them out), one-segment and unrouted names in the default root, _catalog pages
// across all stores in one order, a Zot-written subPaths tree is served, mounts cross stores by copy, and
// maxRepos counts per store, and each store runs its own retention policies.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createApp } from '../../core/app';
import { parseConfig } from '../../core/config/load';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { pushBlob } from '../helpers/artifact-push.js';
import { skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';
import { eventually } from '../helpers/eventually.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';

const repoDir = (root: string, repo: string) => join(root, ...repo.split('/'));
const isRepo = (root: string, repo: string) => existsSync(join(repoDir(root, repo), 'index.json')) && existsSync(join(repoDir(root, repo), 'oci-layout'));

/** A repository as Zot leaves it, holding nothing yet. */
async function placeZotRepo(root: string, repo: string): Promise<void> {
  await mkdir(join(repoDir(root, repo), 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(repoDir(root, repo), 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(repoDir(root, repo), 'index.json'), '{"schemaVersion":2,"manifests":[]}');
}

/** Every repository through `?n=` pages and their Link headers. */
async function catalogPages(berth: RunningBerth, n: number): Promise<string[][]> {
  const pages: string[][] = [];
  for (let path: string | undefined = `/v2/_catalog?n=${n}`; path !== undefined;) {
    const res = await fetch(`${berth.url}${path}`);
    assert.equal(res.status, 200);
    pages.push(((await res.json()) as { repositories: string[] }).repositories);
    const link = res.headers.get('link');
    path = link ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined;
    if (link) assert.ok(path, `Link header ${link}`);
  }
  return pages;
}

describe('storage.subPaths', () => {
  let work: string;
  let roots: { main: string; a: string; b: string };
  let berth: RunningBerth;
  let image: BuiltImage;

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    work = await tempDir('subpaths');
    roots = { main: join(work, 'main'), a: join(work, 'sub-a'), b: join(work, 'sub-b') };
    // What Zot wrote before: a/old under the /a root; c/q there too (no route /c: never served from it);
    // a/hidden under the default root (routed to /a, so unreachable there).
    await placeZotRepo(roots.a, 'a/old');
    await placeZotRepo(roots.a, 'c/q');
    await placeZotRepo(roots.main, 'a/hidden');
    image = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ randomBytes: 300_000 }, { files: { 'etc/motd': 'subpaths\n' } }] });
    berth = await startBerth({
      storage: {
        rootDirectory: roots.main,
        // '/x/y' can never match (a route is one name segment): ignored, as Zot does, with nothing opened.
        subPaths: { '/a': { rootDirectory: roots.a }, '/b': { rootDirectory: roots.b, maxRepos: 2 }, '/x/y': { rootDirectory: join(work, 'never') } },
      },
    });
    for (const repo of ['a/x', 'b/y', 'z', 'a', 'x/y/q']) await skopeoCopy(image.ref, `${berth.url}/${repo}:v1`);
  });

  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('stores each repository under its route\'s root by its full name, the rest in the default root', () => {
    assert.ok(isRepo(roots.a, 'a/x'), 'a/x under the /a root as <root>/a/x');
    assert.ok(isRepo(roots.b, 'b/y'), 'b/y under the /b root as <root>/b/y');
    assert.ok(isRepo(roots.main, 'z'), 'z in the default root');
    assert.ok(isRepo(roots.main, 'a'), 'the one-segment name a is the default store\'s, not the route\'s');
    assert.ok(isRepo(roots.main, 'x/y/q') && !existsSync(join(work, 'never')), 'the route /x/y serves nothing');
    assert.ok(!existsSync(repoDir(roots.main, 'a/x')) && !existsSync(repoDir(roots.main, 'b')), 'nothing routed lands in the default root');
    assert.ok(!existsSync(join(roots.a, 'z')) && !existsSync(join(roots.a, 'a', 'index.json')), 'the /a root holds only its routed names');
  });

  it('serves pulls from every store byte for byte', async () => {
    for (const repo of ['a/x', 'b/y', 'z', 'a']) {
      const info = await skopeoInspect(`${berth.url}/${repo}:v1`);
      assert.equal(info.Digest, image.descriptor.digest, repo);
      const out = join(work, `pull-${repo.replace('/', '-')}`);
      await skopeoCopy(`${berth.url}/${repo}:v1`, `dir:${out}`);
      const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { layers: Array<{ digest: string }> };
      for (const layer of manifest.layers) {
        const hex = layer.digest.slice('sha256:'.length);
        const stored = join(repoDir(repo.includes('/') ? roots[repo.split('/')[0] as 'a' | 'b'] : roots.main, repo), 'blobs', 'sha256', hex);
        assert.ok((await readFile(join(out, hex))).equals(await readFile(stored)), `${repo} layer ${layer.digest}`);
      }
    }
  });

  it('pages _catalog across all stores in one sorted order, a Zot-written subPaths tree included', async () => {
    await berth.app.registry.repos.catalog.whenReconciled();
    const expected = ['a', 'a/old', 'a/x', 'b/y', 'x/y/q', 'z'];
    assert.deepEqual(((await (await fetch(`${berth.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories, expected);
    for (const n of [1, 2, 3]) {
      const pages = await catalogPages(berth, n);
      assert.deepEqual(pages.flat(), expected, `n=${n}`);
      assert.equal(pages.length, Math.ceil(expected.length / n), `n=${n} pages`);
    }
    const res = await fetch(`${berth.url}/v2/_catalog?n=2&last=a/old`);
    assert.deepEqual(((await res.json()) as { repositories: string[] }).repositories, ['a/x', 'b/y']);
  });

  it('mounts a blob across stores as a copy in the target store', async () => {
    const digest = await pushBlob(berth.url, 'a/x', Buffer.from('mounted across stores'));
    const res = await fetch(`${berth.url}/v2/b/m/blobs/uploads/?mount=${digest}&from=a/x`, { method: 'POST' });
    assert.equal(res.status, 201);
    const stored = join(repoDir(roots.b, 'b/m'), 'blobs', 'sha256', digest.slice('sha256:'.length));
    assert.equal(await readFile(stored, 'utf8'), 'mounted across stores');
    const got = await fetch(`${berth.url}/v2/b/m/blobs/${digest}`);
    assert.equal(got.status, 200);
    assert.equal(await got.text(), 'mounted across stores');
  });

  it('counts maxRepos per store: /b is full at two, the default store is not', async () => {
    const refused = await fetch(`${berth.url}/v2/b/third/blobs/uploads/`, { method: 'POST' });
    assert.equal(refused.status, 429);
    assert.equal(((await refused.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'TOOMANYREQUESTS');
    assert.ok(!existsSync(repoDir(roots.b, 'b/third')), 'nothing written for the refused repository');
    assert.equal((await fetch(`${berth.url}/v2/another/blobs/uploads/`, { method: 'POST' })).status, 202);
  });

  it('refuses to start when a route names a storage driver this build lacks, creating nothing', async () => {
    const subRoot = join(work, 'refused-sub');
    const config = parseConfig({
      storage: { rootDirectory: join(work, 'refused-main'), subPaths: { '/gcs': { rootDirectory: subRoot, storageDriver: { name: 'gcs', bucket: 'b' } } } },
      http: { address: '127.0.0.1', port: '0' },
      log: { level: 'error', output: join(work, 'refused.log') },
    });
    await assert.rejects(createApp(config), /storage\.subPaths\["\/gcs"\]\.storageDriver\.name: "gcs" is not available in this build/);
    assert.ok(!existsSync(subRoot) && !existsSync(join(work, 'refused-main')), 'no root was created');
  });

  it('runs each store\'s own retention policies over its own repositories only', async () => {
    // gc on: as in Zot, retention runs only as part of GC, and a subPaths store starts from gc off.
    const onlyTag = (tag: string) => ({ gc: true, gcDelay: '1s', gcInterval: '1s', retention: { delay: '1s', policies: [{ repositories: ['**'], keepTags: [{ patterns: [`^${tag}$`] }] }] } });
    const own = await startBerth({ storage: { ...onlyTag('main'), subPaths: { '/a': { rootDirectory: join(work, 'retention-a'), ...onlyTag('sub') } } } });
    try {
      for (const repo of ['a/x', 'z']) for (const tag of ['main', 'sub']) await skopeoCopy(image.ref, `${own.url}/${repo}:${tag}`);
      const tags = async (repo: string) => ((await (await fetch(`${own.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags.sort();
      await eventually(async () => (await tags('a/x')).join() === 'sub' && (await tags('z')).join() === 'main');
    } finally {
      await own.stop();
    }
  });
});
