// Search updates a repository's record incrementally on each manifest write and delete: after many pushes
// (some at once, tags moved, an index, a referrer, a signature tag, deletes by tag and by digest) it must give
// the same answers as a berth that received the same pushes with search off and then indexed the whole root.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pushBlob, pushManifest, sha256 } from '../../core/testkit';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { eventually } from '../helpers/eventually.js';
import { gqlData } from '../helpers/search-client.js';
import { cleanupTempDirs } from '../helpers/tools.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

interface Pushed {
  digest: string;
  bytes: Buffer;
  mediaType: string;
  blobs: Buffer[];
}

/** Image `n`: its own layer, a config with a creation time, labels and a platform, an annotated manifest. */
function image(n: number, arch = 'amd64'): Pushed {
  const layer = Buffer.from(`layer ${n}\n`);
  const config = Buffer.from(JSON.stringify({
    architecture: arch,
    os: 'linux',
    created: new Date(Date.UTC(2024, 0, 1, 0, n)).toISOString(),
    config: { Labels: { 'org.opencontainers.image.vendor': `vendor${n % 3}` } },
    history: [{ created_by: `step ${n}` }],
    rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
  }));
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
    annotations: { 'org.opencontainers.image.title': `image ${n}` },
  }));
  return { digest: sha256(bytes), bytes, mediaType: OCI_MANIFEST, blobs: [config, layer] };
}

function index(children: Array<{ image: Pushed; arch: string }>): Pushed {
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((c) => ({ mediaType: OCI_MANIFEST, digest: c.image.digest, size: c.image.bytes.length, platform: { os: 'linux', architecture: c.arch } })),
  }));
  return { digest: sha256(bytes), bytes, mediaType: OCI_INDEX, blobs: [] };
}

/** An artifact whose subject is `subject` (a referrer), with an empty config. */
function referrer(subject: Pushed, artifactType: string, n: number): Pushed {
  const empty = Buffer.from('{}');
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: empty.length },
    layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: empty.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length },
    annotations: { n: String(n) },
  }));
  return { digest: sha256(bytes), bytes, mediaType: OCI_MANIFEST, blobs: [empty] };
}

async function push(url: string, repo: string, reference: string, m: Pushed): Promise<void> {
  for (const b of m.blobs) await pushBlob(url, repo, b);
  await pushManifest(url, repo, reference, m.mediaType, m.bytes);
}

async function remove(url: string, repo: string, reference: string): Promise<void> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${reference}`, { method: 'DELETE' });
  await res.arrayBuffer();
  assert.equal(res.status, 202, `DELETE ${repo} ${reference}`);
}

/** The same writes, in the same order, to each berth; `parallel` ones at once. */
async function writes(urls: string[]): Promise<{ signed: Pushed; multi: Pushed }> {
  const each = (work: (url: string) => Promise<void>) => Promise.all(urls.map(work));
  const images = Array.from({ length: 60 }, (_, n) => image(n));
  for (let batch = 0; batch < images.length; batch += 10) {
    await each((url) => Promise.all(images.slice(batch, batch + 10).map((m, i) => push(url, 'ci/app', `t${batch + i}`, m))).then(() => undefined));
  }
  for (const n of [7, 12, 40, 3]) await each((url) => push(url, 'ci/app', 'latest', images[n]!));
  const arm = image(100, 'arm64');
  const amd = image(101, 'amd64');
  const multi = index([{ image: amd, arch: 'amd64' }, { image: arm, arch: 'arm64' }]);
  await each(async (url) => {
    await push(url, 'ci/app', amd.digest, amd);
    await push(url, 'ci/app', arm.digest, arm);
    await push(url, 'ci/app', 'multi', multi);
  });
  const signed = images[20]!;
  const sbom = referrer(signed, 'application/spdx+json', 1);
  const cosign = referrer(signed, 'application/vnd.dev.cosign.artifact.sig.v1+json', 2);
  await each(async (url) => {
    await push(url, 'ci/app', sbom.digest, sbom);
    await push(url, 'ci/app', `${signed.digest.replace(':', '-')}.sig`, cosign);
    await remove(url, 'ci/app', 't3'); // a tag: the manifest stays (also tagged latest)
    await remove(url, 'ci/app', images[5]!.digest); // by digest: the manifest and its tag t5
    await remove(url, 'ci/app', 't9');
    await push(url, 'ci/app', 't9', images[9]!); // deleted and pushed again
  });
  await each((url) => Promise.all(images.slice(0, 5).map((m, i) => push(url, 'ci/other', `o${i}`, m))).then(() => undefined));
  return { signed, multi };
}

/** What zui and zli would be shown, without the times that say when a berth first saw a manifest. */
async function answers(url: string, signed: Pushed, multi: Pushed): Promise<unknown> {
  const image = 'Tag Digest MediaType Size LastUpdated Title Vendor IsSigned ArtifactType PushTimestamp TaggedTimestamp ' +
    'Manifests { Digest ConfigDigest Size LastUpdated Platform { Os Arch } Layers { Digest Size } History { HistoryDescription { CreatedBy } } } ' +
    'Referrers { ArtifactType Digest }';
  const summary = `Name LastUpdated Size Platforms { Os Arch } Vendors NewestImage { ${image} }`;
  const data = await gqlData(url, `{
    app: ExpandedRepoInfo(repo: "ci/app") { Summary { ${summary} } Images { ${image} } }
    other: ExpandedRepoInfo(repo: "ci/other") { Summary { ${summary} } Images { Tag Digest } }
    repos: RepoListWithNewestImage { Results { ${summary} } }
    images: ImageList(repo: "") { Page { TotalCount } Results { RepoName Tag Digest Size } }
    search: GlobalSearch(query: "ci/app:t1") { Images { RepoName Tag Digest } }
    multi: Image(image: "ci/app:multi") { ${image} }
    referrers: Referrers(repo: "ci/app", digest: "${signed.digest}", type: []) { Digest ArtifactType }
    derived: BaseImageList(image: "ci/app@${multi.digest}") { Page { TotalCount } }
  }`);
  return JSON.parse(JSON.stringify(data), (key, value: unknown) => (key === 'PushTimestamp' || key === 'TaggedTimestamp' ? typeof value : value));
}

describe('search: incremental updates against a full rebuild', () => {
  let incremental: RunningBerth;
  let rebuilt: RunningBerth;
  let root: string;

  before(async () => {
    incremental = await startBerth({ extensions: { search: {} } });
    root = join(await mkdtemp(join(tmpdir(), 'berth-search-rebuild-')), 'root');
    rebuilt = await startBerth({ storage: { rootDirectory: root } });
  });

  after(async () => {
    await incremental?.stop();
    await rebuilt?.stop();
    await cleanupTempDirs();
  });

  it('answers after many pushes and deletes as a full index of the same content does', async () => {
    const { signed, multi } = await writes([incremental.url, rebuilt.url]);
    // Written while search was off there: the background index reads it all.
    await rebuilt.stop();
    rebuilt = await startBerth({ storage: { rootDirectory: root }, extensions: { search: {} } });
    // Until everything is indexed, `Image(ci/app:multi)` answers an error (gqlData throws).
    // While the background pass catches up a repository may answer null Images: not ready yet, not a failure.
    const ready = (data: any) => data.app?.Images?.length === 60 && data.other?.Images?.length === 5 && data.referrers?.length === 2;
    const settled = async (url: string, then: (data: any) => boolean = () => true) => {
      const data = await answers(url, signed, multi).catch(() => undefined);
      return data !== undefined && ready(data) && then(data) ? data : undefined;
    };
    let full: any;
    await eventually(async () => (full = await settled(rebuilt.url)) !== undefined, 90_000); // 60 pushes indexed on a loaded machine
    let got: any;
    await eventually(async () => (got = await settled(incremental.url, (d) => JSON.stringify(d) === JSON.stringify(full))) !== undefined, 60_000);
    got ??= await answers(incremental.url, signed, multi);
    assert.deepEqual(got, full);
    assert.equal(full.app.Summary.NewestImage.Tag, 'multi');
    assert.deepEqual(full.multi.Manifests.map((m: any) => m.Platform.Arch).sort(), ['amd64', 'arm64']);
  });
});
