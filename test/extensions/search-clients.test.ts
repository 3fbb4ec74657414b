// The search extension against what zui and zli send (test/fixtures/search/client-queries.json), over content
// pushed with skopeo, pulled through sync on demand and copied by periodic sync from a real Distribution.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pushArtifactWithSubject } from '../helpers/artifact-push.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { eventually } from '../helpers/eventually.js';
import { buildMultiArchIndex, buildOciImage, type BuiltImage, type BuiltIndex } from '../helpers/images.js';
import { clientQueries, gqlData, gqlPost, zliGet, zuiGet } from '../helpers/search-client.js';
import { skopeoCopy, skopeoDelete, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';
import { hex } from '../helpers/digests.js';

const COSIGN = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const NOTATION = 'application/vnd.cncf.notary.signature';

async function layoutJson<T>(layoutDir: string, digest: string): Promise<{ json: T; size: number }> {
  const bytes = await readFile(join(layoutDir, 'blobs', 'sha256', hex(digest)));
  return { json: JSON.parse(bytes.toString('utf8')) as T, size: bytes.length };
}

/** What Zot reports as an image's Size: manifest + config + layers. */
async function imageSize(layoutDir: string, digest: string): Promise<number> {
  const { json, size } = await layoutJson<Manifest>(layoutDir, digest);
  return size + json.config!.size + (json.layers ?? []).reduce((n, l) => n + l.size, 0);
}

const ANNOTATIONS = {
  'org.opencontainers.image.title': 'Web frontend',
  'org.opencontainers.image.description': 'serves the berth test pages',
  'org.opencontainers.image.vendor': 'Berth Test Co',
  'org.opencontainers.image.licenses': 'Apache-2.0',
  'org.opencontainers.image.source': 'https://example.test/web',
  'org.opencontainers.image.documentation': 'https://example.test/web/docs',
};

describe('search: what zui and zli ask, answered for pushed and synced content', () => {
  let upstream: DockerRegistry;
  let berth: RunningBerth;
  let base: BuiltImage;
  let web: BuiltImage;
  let multi: BuiltIndex;
  let upstreamImage: BuiltImage;
  let signatureDigest: string;

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry']);
    const work = await tempDir('search-clients');
    upstream = await startDockerRegistry();
    const baseLayer = { randomBytes: 50_000, seed: 7, path: '/base.bin' };
    base = await buildOciImage(join(work, 'base'), { tag: '1', layers: [baseLayer], arch: 'amd64', os: 'linux' });
    web = await buildOciImage(join(work, 'web'), {
      tag: '1.0',
      layers: [baseLayer, { files: { '/srv/index.html': '<h1>berth</h1>\n' } }],
      arch: 'amd64',
      os: 'linux',
      annotations: ANNOTATIONS,
      config: { labels: { 'org.label-schema.labels': 'web,frontend' } },
    });
    multi = await buildMultiArchIndex(join(work, 'multi'), { tag: 'idx' });
    upstreamImage = await buildOciImage(join(work, 'up'), { tag: '3', layers: [{ files: { '/etc/alpine-release': '3.0\n' } }] });
    await skopeoCopy(upstreamImage.ref, `${upstream.url}/lib/alpine:3`);
    await skopeoCopy(upstreamImage.ref, `${upstream.url}/per/tool:v1`);

    berth = await startBerth({
      extensions: {
        search: {},
        sync: {
          registries: [
            { urls: [upstream.url], onDemand: true, content: [{ prefix: 'lib/**', destination: '/mirror' }] },
            { urls: [upstream.url], pollInterval: '1h', content: [{ prefix: 'per/**', destination: '/synced' }] },
          ],
        },
      },
    });
    await skopeoCopy(base.ref, `${berth.url}/library/base:1`);
    await skopeoCopy(web.ref, `${berth.url}/apps/web:1.0`);
    await skopeoCopy(web.ref, `${berth.url}/apps/web:latest`);
    await skopeoCopy(multi.ref, `${berth.url}/apps/multi:idx`, { all: true });
    signatureDigest = (await pushArtifactWithSubject(berth.url, 'apps/web', web.descriptor, COSIGN)).descriptor.digest;
    await pushArtifactWithSubject(berth.url, 'apps/web', web.descriptor, NOTATION);
    // Pull-through: skopeo pulls the upstream image through berth, which caches it under mirror/.
    await skopeoCopy(`${berth.url}/mirror/lib/alpine:3`, `dir:${join(work, 'pulled')}`);
    await eventually(async () => {
      const data = await gqlData(berth.url, '{ RepoListWithNewestImage { Results { Name } } }');
      const names = data.RepoListWithNewestImage.Results.map((r: { Name: string }) => r.Name);
      return ['apps/multi', 'apps/web', 'library/base', 'mirror/lib/alpine', 'synced/per/tool'].every((n) => names.includes(n));
    });
  });

  after(async () => {
    await berth?.stop();
    await upstream?.stop();
    await cleanupTempDirs();
  });

  it('answers every document zui and zli send, as the client sends it', async () => {
    const queries = await clientQueries({ repo: 'apps/web', tag: '1.0', digest: web.descriptor.digest, text: 'web' });
    assert.ok(queries.length >= 20);
    for (const q of queries) {
      const res = q.client === 'zui' ? await zuiGet(berth.url, q.url!) : await zliGet(berth.url, q.query!);
      if (q.expect === 'data') {
        assert.equal(res.status, 200, `${q.client} ${q.name}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.errors, undefined, `${q.client} ${q.name}: ${JSON.stringify(res.body.errors)}`);
        assert.ok(res.body.data && Object.values(res.body.data).every((v) => v !== null), `${q.client} ${q.name}`);
      } else {
        assert.equal(res.status, 200, `${q.client} ${q.name}`);
        assert.match(res.body.errors?.[0]?.message ?? '', /cve search is disabled/, `${q.client} ${q.name}`);
      }
    }
  });

  it('lists zli\'s queries with the arguments zli checks, in order', async () => {
    const res = await zliGet(berth.url, '{ __schema { queryType { fields { name args { name } } } } }');
    const fields = (res.body.data as any).__schema.queryType.fields as Array<{ name: string; args: Array<{ name: string }> }>;
    const args = (name: string) => fields.find((f) => f.name === name)?.args.map((a) => a.name);
    assert.deepEqual(args('GlobalSearch'), ['query', 'filter', 'requestedPage']);
    assert.deepEqual(args('ImageList'), ['repo', 'requestedPage']);
    assert.deepEqual(args('Referrers'), ['repo', 'digest', 'type']);
    assert.deepEqual(args('CVEDiffListForImages'), ['minuend', 'subtrahend', 'requestedPage', 'searchedCVE', 'excludedCVE']);
    assert.deepEqual(args('DerivedImageList'), ['image', 'digest', 'requestedPage']);
  });

  it('lists repositories with their newest image, sizes, platforms and annotations', async () => {
    const res = await zuiGet(berth.url, (await clientQueries({ repo: 'x', tag: 'x', digest: 'x', text: 'x' })).find((q) => q.name === 'repoList')!.url!);
    const repos = (res.body.data as any).RepoListWithNewestImage.Results as any[];
    const webRepo = repos.find((r) => r.Name === 'apps/web');
    assert.equal(webRepo.NewestImage.Title, 'Web frontend');
    assert.equal(webRepo.NewestImage.Description, 'serves the berth test pages');
    assert.equal(webRepo.NewestImage.Vendor, 'Berth Test Co');
    assert.equal(webRepo.NewestImage.Licenses, 'Apache-2.0');
    assert.equal(webRepo.NewestImage.Source, 'https://example.test/web');
    assert.equal(webRepo.NewestImage.Documentation, 'https://example.test/web/docs');
    assert.equal(webRepo.NewestImage.Labels, 'web,frontend');
    assert.equal(webRepo.NewestImage.IsSigned, true);
    assert.deepEqual(webRepo.NewestImage.SignatureInfo.map((s: any) => s.Tool), ['cosign', 'notation']);
    assert.deepEqual(webRepo.Platforms, [{ Os: 'linux', Arch: 'amd64' }]);
    const multiRepo = repos.find((r) => r.Name === 'apps/multi');
    assert.deepEqual(multiRepo.Platforms.map((p: any) => `${p.Os}/${p.Arch}`).sort(), ['linux/amd64', 'linux/arm64']);
    const baseRepo = repos.find((r) => r.Name === 'library/base');
    assert.equal(baseRepo.Size, String(await imageSize(base.layoutDir, base.descriptor.digest)));
    assert.equal(baseRepo.NewestImage.IsSigned, false);
    const mirrored = repos.find((r) => r.Name === 'mirror/lib/alpine');
    assert.equal(mirrored.NewestImage.Tag, '3');
    assert.equal(repos.find((r) => r.Name === 'synced/per/tool').NewestImage.Tag, 'v1');
  });

  it('shows a repository\'s tags, an image\'s layers, history and referrers', async () => {
    const info = (await gqlData(berth.url, `{ ExpandedRepoInfo(repo: "apps/web") { Images { Tag Digest Size IsDeletable } Summary { Name Vendors } } }`)).ExpandedRepoInfo;
    assert.deepEqual(info.Images.map((i: any) => i.Tag).sort(), ['1.0', 'latest']);
    assert.ok(info.Images.every((i: any) => i.Digest === web.descriptor.digest && i.Size === info.Images[0].Size));
    assert.equal(info.Images[0].Size, String(await imageSize(web.layoutDir, web.descriptor.digest)));
    assert.equal(info.Images[0].IsDeletable, true); // no access control: everyone may delete
    assert.deepEqual(info.Summary.Vendors, ['Berth Test Co']);

    const { json: manifest } = await layoutJson<Manifest>(web.layoutDir, web.descriptor.digest);
    const image = (await gqlData(berth.url, `{ Image(image: "apps/web:1.0") { Tag Digest Manifests { ConfigDigest Platform { Os Arch } Layers { Digest Size } History { Layer { Digest } HistoryDescription { CreatedBy EmptyLayer } } } Referrers { ArtifactType Digest } } }`)).Image;
    assert.equal(image.Digest, web.descriptor.digest);
    assert.equal(image.Manifests[0].ConfigDigest, manifest.config!.digest);
    assert.deepEqual(image.Manifests[0].Layers, manifest.layers!.map((l) => ({ Digest: l.digest, Size: String(l.size) })));
    assert.deepEqual(image.Manifests[0].History.filter((h: any) => h.Layer).map((h: any) => h.Layer.Digest), manifest.layers!.map((l) => l.digest));
    assert.deepEqual(image.Referrers.map((r: any) => r.ArtifactType).sort(), [COSIGN, NOTATION].sort());

    const referrers = (await gqlData(berth.url, `{ Referrers(repo: "apps/web", digest: "${web.descriptor.digest}", type: ["${COSIGN}"]) { Digest ArtifactType } }`)).Referrers;
    assert.deepEqual(referrers, [{ Digest: signatureDigest, ArtifactType: COSIGN }]);
  });

  it('finds derived and base images by their layers', async () => {
    const derived = (await gqlData(berth.url, '{ DerivedImageList(image: "library/base:1") { Page { TotalCount } Results { RepoName Tag } } }')).DerivedImageList;
    assert.deepEqual(derived.Results.map((r: any) => `${r.RepoName}:${r.Tag}`).sort(), ['apps/web:1.0', 'apps/web:latest']);
    const bases = (await gqlData(berth.url, '{ BaseImageList(image: "apps/web:1.0") { Results { RepoName Tag } } }')).BaseImageList;
    assert.deepEqual(bases.Results.map((r: any) => `${r.RepoName}:${r.Tag}`), ['library/base:1']);
  });

  it('searches repository names by rank, tags, digests, with filters and paging', async () => {
    const search = async (query: string, extra = '') =>
      (await gqlData(berth.url, `{ GlobalSearch(query: "${query}"${extra}) { Page { TotalCount ItemCount } Repos { Name } Images { RepoName Tag } } }`)).GlobalSearch;
    assert.deepEqual((await search('web')).Repos.map((r: any) => r.Name), ['apps/web']);
    assert.deepEqual((await search('apps')).Repos.map((r: any) => r.Name), ['apps/multi', 'apps/web']);
    const tagged = await search(':1.');
    assert.deepEqual(tagged.Images.map((i: any) => `${i.RepoName}:${i.Tag}`), ['apps/web:1.0']);
    assert.deepEqual((await search('apps/web:l')).Images.map((i: any) => i.Tag), ['latest']);
    const byDigest = await search(base.descriptor.digest);
    assert.deepEqual(byDigest.Images.map((i: any) => i.RepoName), ['library/base']);
    assert.deepEqual((await search('', ', filter: { Arch: "arm64" }')).Repos.map((r: any) => r.Name), ['apps/multi']);
    assert.deepEqual((await search('', ', filter: { HasToBeSigned: true }')).Repos.map((r: any) => r.Name), ['apps/web']);
    const page = await search('', ', requestedPage: { limit: 2, offset: 1, sortBy: ALPHABETIC_ASC }');
    assert.deepEqual(page.Page, { TotalCount: 5, ItemCount: 2 });
    assert.deepEqual(page.Repos.map((r: any) => r.Name), ['apps/web', 'library/base']);
  });

  it('counts downloads and the last pull', async () => {
    const out = await tempDir('search-pull');
    await skopeoCopy(`${berth.url}/library/base:1`, `dir:${out}`);
    await eventually(async () => {
      const list = (await gqlData(berth.url, '{ ImageList(repo: "library/base") { Results { Tag DownloadCount LastPullTimestamp } } }')).ImageList.Results;
      return list[0].DownloadCount >= 1 && list[0].LastPullTimestamp !== null;
    });
    const repo = (await gqlData(berth.url, '{ GlobalSearch(query: "library/base") { Repos { Name DownloadCount } } }')).GlobalSearch.Repos[0];
    assert.ok(repo.DownloadCount >= 1);
  });

  it('forgets a deleted tag and a deleted repository', async () => {
    await skopeoCopy(base.ref, `${berth.url}/tmp/gone:1`);
    await eventually(async () => (await gqlData(berth.url, '{ ImageList(repo: "tmp/gone") { Page { TotalCount } } }')).ImageList.Page.TotalCount === 1);
    await skopeoDelete(`${berth.url}/tmp/gone:1`);
    await eventually(async () => (await gqlData(berth.url, '{ ImageList(repo: "tmp/gone") { Page { TotalCount } } }')).ImageList.Page.TotalCount === 0);
    const info = await gqlData(berth.url, '{ ExpandedRepoInfo(repo: "tmp/gone") { Summary { Name } } }');
    assert.equal(info.ExpandedRepoInfo.Summary, null);
  });

  it('takes POST JSON with variables', async () => {
    const data = await gqlData(berth.url, 'query($r: String!) { ExpandedRepoInfo(repo: $r) { Summary { Name } } }', { r: 'library/base' });
    assert.equal(data.ExpandedRepoInfo.Summary.Name, 'library/base');
  });

  it('answers bad documents with GraphQL errors as Zot does', async () => {
    const missing = await zuiGet(berth.url, '/v2/_zot/ext/search');
    assert.equal(missing.status, 422);
    assert.ok(missing.body.errors?.length);
    const syntax = await zuiGet(berth.url, '/v2/_zot/ext/search?query={ImageList(repo:"x"){');
    assert.equal(syntax.status, 422);
    assert.match(syntax.body.errors![0]!.message, /Syntax Error/);
    const unknownField = await zliGet(berth.url, '{ ImageList(repo: "x") { Results { NoSuchField } } }');
    assert.equal(unknownField.status, 422);
    assert.match(unknownField.body.errors![0]!.message, /NoSuchField/);
    const negative = await gqlPost(berth.url, '{ RepoListWithNewestImage(requestedPage: {limit: -1}) { Results { Name } } }');
    assert.equal(negative.status, 200);
    assert.match(negative.body.errors![0]!.message, /can't be negative/);
    const badDigest = await gqlPost(berth.url, '{ Referrers(repo: "apps/web", digest: "nope") { Digest } }');
    assert.match(badDigest.body.errors![0]!.message, /bad digest/);
    const json = await fetch(`${berth.url}/v2/_zot/ext/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    assert.equal(json.status, 422);
  });
});
