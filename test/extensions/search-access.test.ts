// Search results by the caller's read access (htpasswd + accessControl), stars and bookmarks through
// userprefs, mgmt as zui reads it, CVE answers with search.cve configured, and the background index of content
// written while search was off.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basicAuth, writeHtpasswd } from '../helpers/auth.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { eventually } from '../helpers/eventually.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { clientQueries, gqlData, gqlPost, zuiGet } from '../helpers/search-client.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';

const ALICE = basicAuth('alice', 'alicepw');
const BOB = basicAuth('bob', 'bobpw');
const REPO_LIST = '{ RepoListWithNewestImage { Results { Name IsStarred IsBookmarked StarCount } } }';

const names = (data: any) => (data.RepoListWithNewestImage.Results as Array<{ Name: string }>).map((r) => r.Name).sort();

async function toggle(berth: RunningBerth, action: string, repo: string | undefined, headers: Record<string, string> = {}): Promise<number> {
  const query = new URLSearchParams({ ...(action ? { action } : {}), ...(repo !== undefined ? { repo } : {}) });
  const res = await fetch(`${berth.url}/v2/_zot/ext/userprefs?${query}`, { method: 'PUT', headers });
  await res.arrayBuffer();
  return res.status;
}

describe('search: access, userprefs and mgmt with htpasswd and accessControl', () => {
  let berth: RunningBerth;

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'htpasswd']);
    const work = await tempDir('search-access');
    const htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }, { user: 'bob', password: 'bobpw' }]);
    berth = await startBerth({
      http: {
        auth: { htpasswd: { path: htpasswd } },
        accessControl: {
          repositories: {
            'public/**': { anonymousPolicy: ['read'], defaultPolicy: ['read'], policies: [{ users: ['alice'], actions: ['read', 'create', 'update'] }] },
            'team/**': { policies: [{ users: ['alice'], actions: ['read', 'create', 'update', 'delete'] }] },
            'bob/**': { policies: [{ users: ['bob'], actions: ['read', 'create', 'update', 'delete'] }] },
          },
        },
      },
      extensions: { search: {} },
    });
    const image = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ files: { '/hello': 'hi\n' } }] });
    await skopeoCopy(image.ref, `${berth.url}/public/base:v1`, { creds: 'alice:alicepw' });
    await skopeoCopy(image.ref, `${berth.url}/team/app:v1`, { creds: 'alice:alicepw' });
    await skopeoCopy(image.ref, `${berth.url}/bob/tool:v1`, { creds: 'bob:bobpw' });
    // Indexing follows each push asynchronously.
    await eventually(async () => names(await gqlData(berth.url, REPO_LIST, undefined, ALICE)).length === 2);
    await eventually(async () => names(await gqlData(berth.url, REPO_LIST, undefined, BOB)).length === 2);
  });

  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('answers mgmt without credentials, naming the sign-in method', async () => {
    const res = await fetch(`${berth.url}/v2/_zot/ext/mgmt`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    assert.equal(body.distSpecVersion, '1.1.1');
    assert.deepEqual(body.http, { auth: { htpasswd: {} } });
    assert.doesNotMatch(JSON.stringify(body), /htpasswd"?:\s*\{\s*"path/);
  });

  it('challenges zui\'s requests without WWW-Authenticate (a browser would open its own login dialog)', async () => {
    const url = `${berth.url}/v2/_zot/ext/search?query=${encodeURIComponent(REPO_LIST)}`;
    const wrong = basicAuth('alice', 'nope');
    const fromUi = await fetch(url, { headers: { ...wrong, 'X-ZOT-API-CLIENT': 'zot-ui' } });
    assert.equal(fromUi.status, 401);
    assert.equal(fromUi.headers.get('www-authenticate'), null);
    const fromCli = await fetch(url, { headers: wrong });
    assert.equal(fromCli.status, 401);
    assert.match(fromCli.headers.get('www-authenticate') ?? '', /realm=/); // Bearer here: berth's token service (anonymous and signed-in rules mix)
    const signIn = await fetch(`${berth.url}/v2/`, { headers: { ...ALICE, 'X-ZOT-API-CLIENT': 'zot-ui' } });
    assert.equal(signIn.status, 200); // what zui's sign-in form asks
  });

  it('lists only what each caller may read', async () => {
    assert.deepEqual(names(await gqlData(berth.url, REPO_LIST, undefined, ALICE)), ['public/base', 'team/app']);
    assert.deepEqual(names(await gqlData(berth.url, REPO_LIST, undefined, BOB)), ['bob/tool', 'public/base']);
    assert.deepEqual(names(await gqlData(berth.url, REPO_LIST)), ['public/base']); // anonymous: public/** only
    const search = await gqlData(berth.url, '{ GlobalSearch(query: "") { Page { TotalCount } Repos { Name } } }', undefined, BOB);
    assert.equal(search.GlobalSearch.Page.TotalCount, 2);
    const images = await gqlData(berth.url, '{ ImageList(repo: "") { Results { RepoName } } }', undefined, ALICE);
    assert.deepEqual(images.ImageList.Results.map((r: any) => r.RepoName).sort(), ['public/base', 'team/app']);
  });

  it('tells nothing about a repository the caller may not read', async () => {
    const info = await gqlData(berth.url, '{ ExpandedRepoInfo(repo: "bob/tool") { Summary { Name } Images { Tag } } }', undefined, ALICE);
    assert.deepEqual(info.ExpandedRepoInfo, { Summary: null, Images: null });
    const refs = await gqlData(berth.url, '{ Referrers(repo: "bob/tool", digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000") { Digest } }', undefined, ALICE);
    assert.deepEqual(refs.Referrers, []);
    const image = await gqlPost(berth.url, '{ Image(image: "bob/tool:v1") { Digest } }', undefined, ALICE);
    assert.match(image.body.errors![0]!.message, /not found/);
    const wrong = await gqlPost(berth.url, REPO_LIST, undefined, basicAuth('alice', 'nope'));
    assert.equal(wrong.status, 401);
  });

  it('says which images the caller may delete', async () => {
    const deletable = async (repo: string) =>
      (await gqlData(berth.url, `{ ExpandedRepoInfo(repo: "${repo}") { Images { IsDeletable } } }`, undefined, ALICE)).ExpandedRepoInfo.Images[0].IsDeletable;
    assert.equal(await deletable('team/app'), true);
    assert.equal(await deletable('public/base'), false);
  });

  it('keeps stars and bookmarks per user and counts stars per repository', async () => {
    assert.equal(await toggle(berth, 'toggleStar', 'public/base', ALICE), 200);
    assert.equal(await toggle(berth, 'toggleStar', 'public/base', BOB), 200);
    assert.equal(await toggle(berth, 'toggleBookmark', 'team/app', ALICE), 200);
    const forAlice = (await gqlData(berth.url, REPO_LIST, undefined, ALICE)).RepoListWithNewestImage.Results;
    assert.deepEqual(forAlice.find((r: any) => r.Name === 'public/base'), { Name: 'public/base', IsStarred: true, IsBookmarked: false, StarCount: 2 });
    assert.deepEqual(forAlice.find((r: any) => r.Name === 'team/app'), { Name: 'team/app', IsStarred: false, IsBookmarked: true, StarCount: 0 });
    const starred = await gqlData(berth.url, '{ StarredRepos { Results { Name } } BookmarkedRepos { Results { Name } } }', undefined, ALICE);
    assert.deepEqual(starred.StarredRepos.Results, [{ Name: 'public/base' }]);
    assert.deepEqual(starred.BookmarkedRepos.Results, [{ Name: 'team/app' }]);
    const filtered = await gqlData(berth.url, '{ GlobalSearch(query: "", filter: { IsBookmarked: true }) { Repos { Name } } }', undefined, ALICE);
    assert.deepEqual(filtered.GlobalSearch.Repos, [{ Name: 'team/app' }]);

    assert.equal(await toggle(berth, 'toggleStar', 'public/base', ALICE), 200); // toggled off again
    const after = (await gqlData(berth.url, REPO_LIST, undefined, ALICE)).RepoListWithNewestImage.Results;
    assert.deepEqual(after.find((r: any) => r.Name === 'public/base'), { Name: 'public/base', IsStarred: false, IsBookmarked: false, StarCount: 1 });
  });

  it('answers userprefs with Zot\'s statuses', async () => {
    assert.equal(await toggle(berth, '', 'public/base', ALICE), 400);
    assert.equal(await toggle(berth, 'toggleNothing', 'public/base', ALICE), 400);
    assert.equal(await toggle(berth, 'toggleStar', undefined, ALICE), 400);
    assert.equal(await toggle(berth, 'toggleStar', '', ALICE), 404);
    assert.equal(await toggle(berth, 'toggleStar', 'team/none', ALICE), 404);
    assert.equal(await toggle(berth, 'toggleStar', 'public/base'), 403); // anonymous may read, but has no preferences
    assert.equal(await toggle(berth, 'toggleStar', 'bob/tool', ALICE), 403);
  });
});

describe('search: CVE answers and the background index of existing content', () => {
  let berth: RunningBerth;
  let image: BuiltImage;

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    const work = await tempDir('search-rebuild');
    const root = join(await mkdtemp(join(tmpdir(), 'berth-search-root-')), 'root');
    image = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ files: { '/a': 'a\n' } }] });
    // Written while search is off: no event ever announces it to search.
    const before = await startBerth({ storage: { rootDirectory: root } });
    await skopeoCopy(image.ref, `${before.url}/old/app:v1`);
    await before.stop();
    berth = await startBerth({ storage: { rootDirectory: root }, extensions: { search: { cve: { updateInterval: '2h' } } } });
  });

  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('indexes content written before search was on', async () => {
    await eventually(async () => names(await gqlData(berth.url, REPO_LIST)).includes('old/app'));
    const info = await gqlData(berth.url, '{ ExpandedRepoInfo(repo: "old/app") { Images { Tag Digest } } }');
    assert.deepEqual(info.ExpandedRepoInfo.Images, [{ Tag: 'v1', Digest: image.descriptor.digest }]);
  });

  it('answers CVE queries and fields with "not available in this deployment", and the rest with data', async () => {
    const queries = await clientQueries({ repo: 'old/app', tag: 'v1', digest: image.descriptor.digest, text: 'app' });
    for (const q of queries.filter((x) => x.expect === 'cve-error' && x.client === 'zui')) {
      const res = await zuiGet(berth.url, q.url!);
      assert.equal(res.status, 200);
      assert.match(res.body.errors![0]!.message, /CVE scanning is not available in this deployment/, q.name);
      assert.doesNotMatch(JSON.stringify(res.body), /cve-db is not present/);
    }
    const home = await zuiGet(berth.url, queries.find((q) => q.name === 'repoList')!.url!);
    assert.equal(home.status, 200);
    const repos = (home.body.data as any).RepoListWithNewestImage.Results;
    assert.equal(repos[0].Name, 'old/app');
    assert.equal(repos[0].NewestImage.Tag, 'v1');
    assert.equal(repos[0].NewestImage.Vulnerabilities, null);
    assert.ok(home.body.errors!.every((e) => e.path?.includes('Vulnerabilities') && /not available/.test(e.message)));
  });

  it('answers mgmt with no sign-in method when no authentication is configured (zui opens its home page)', async () => {
    const body = (await (await fetch(`${berth.url}/v2/_zot/ext/mgmt`)).json()) as any;
    assert.deepEqual(body.http, { auth: {} });
    const discover = (await (await fetch(`${berth.url}/v2/_oci/ext/discover`)).json()) as any;
    assert.ok(discover.extensions[0].endpoints.includes('/v2/_zot/ext/search'));
  });
});

describe('search: two berths on one root and MetaStore', () => {
  let a: RunningBerth;
  let b: RunningBerth;

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    const root = join(await mkdtemp(join(tmpdir(), 'berth-search-shared-')), 'root');
    a = await startBerth({ storage: { rootDirectory: root }, extensions: { search: {} } });
    b = await startBerth({ storage: { rootDirectory: root }, extensions: { search: {} } });
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await cleanupTempDirs();
  });

  it('shows on one what was pushed through the other, and what changed after it first answered', async () => {
    const work = await tempDir('search-shared');
    const image = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ files: { '/s': 's\n' } }] });
    await skopeoCopy(image.ref, `${a.url}/shared/one:v1`);
    await eventually(async () => names(await gqlData(b.url, REPO_LIST)).includes('shared/one'));
    // b now holds the summaries in memory: a later push through a must still reach it.
    await skopeoCopy(image.ref, `${a.url}/shared/two:v1`);
    await eventually(async () => names(await gqlData(b.url, REPO_LIST)).includes('shared/two'));
    await skopeoCopy(image.ref, `${a.url}/shared/one:v2`);
    await eventually(async () => {
      const info = await gqlData(b.url, '{ ExpandedRepoInfo(repo: "shared/one") { Images { Tag } } }');
      return info.ExpandedRepoInfo.Images.length === 2;
    });
    const out = await tempDir('search-shared-pull');
    await skopeoCopy(`${b.url}/shared/two:v1`, `dir:${out}`);
    await eventually(async () => {
      const repo = (await gqlData(a.url, '{ GlobalSearch(query: "shared/two") { Repos { Name DownloadCount } } }')).GlobalSearch.Repos[0];
      return repo?.DownloadCount === 1;
    });
  });
});
