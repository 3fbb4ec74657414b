// skopeo 1.9 against berth: push (OCI and v2s2), inspect, pull back, list tags, deep names, multi-arch,
// cross-repository copy, delete, referrers, and the Zot layout berth leaves on disk.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { headManifest, pushArtifactWithSubject } from '../helpers/artifact-push.js';
import { berthAccessLog, startBerth, type RunningBerth } from '../helpers/berth.js';
import { buildMultiArchIndex, buildOciImage, layerDigests, type BuiltImage, type BuiltIndex } from '../helpers/images.js';
import { skopeoCopy, skopeoDelete, skopeoInspect, skopeoListTags, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const V2S2_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const V2S2_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const REF_NAME = 'org.opencontainers.image.ref.name';
const ACCEPT = [OCI_MANIFEST, OCI_INDEX, V2S2_MANIFEST, 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');

const sha256 = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (digest: string) => digest.slice('sha256:'.length);
const blobPath = (layoutDir: string, digest: string) => join(layoutDir, 'blobs', 'sha256', hex(digest));

async function layoutManifest(layoutDir: string, digest: string): Promise<{ text: string; manifest: Manifest }> {
  const text = await readFile(blobPath(layoutDir, digest), 'utf8');
  return { text, manifest: JSON.parse(text) as Manifest };
}

/** Config + layer digests a manifest references. */
const blobsOf = (m: Manifest) => [m.config!.digest, ...(m.layers ?? []).map((l) => l.digest)];

/** A `dir:` copy holds every blob under its hex name with the source layout's exact bytes. */
async function assertDirHasBlobs(dir: string, layoutDir: string, digests: string[]): Promise<void> {
  for (const d of digests) {
    const got = await readFile(join(dir, hex(d)));
    assert.equal(sha256(got), d, `dir copy blob ${d}`);
    assert.ok(got.equals(await readFile(blobPath(layoutDir, d))), `dir copy blob ${d} differs from the source`);
  }
}

interface WalkEntry {
  path: string;
  isDir: boolean;
  mode: number;
}

async function walk(dir: string, out: WalkEntry[] = []): Promise<WalkEntry[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push({ path: p, isDir: e.isDirectory(), mode: (await stat(p)).mode & 0o777 });
    if (e.isDirectory()) await walk(p, out);
  }
  return out;
}

async function getJson<T>(url: string): Promise<{ status: number; type: string | null; body: T }> {
  const res = await fetch(url, { headers: { accept: ACCEPT } });
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as T };
}

describe('skopeo against berth', () => {
  let berth: RunningBerth;
  let work: string;
  let image: BuiltImage;
  let source: Manifest;
  let sourceText: string;
  let multi: BuiltIndex;

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    work = await tempDir('e2e-skopeo');
    berth = await startBerth();
    image = await buildOciImage(join(work, 'app'), {
      tag: 'v1',
      layers: [
        { files: { '/etc/os-release': 'NAME=berth-test\n', '/usr/bin/hello': Buffer.from([0x7f, 0x45, 0x4c, 0x46]) } },
        // Unseeded: new bytes every run, so no client-side blob cache from an earlier run can skip the upload.
        { randomBytes: 20 * 1024 * 1024, path: '/data/blob.bin' },
        { files: { '/etc/motd': 'welcome to berth\n' } },
      ],
      config: { labels: { 'org.berth.test': 'skopeo' }, env: { BERTH: '1' } },
    });
    ({ text: sourceText, manifest: source } = await layoutManifest(image.layoutDir, image.descriptor.digest));
    multi = await buildMultiArchIndex(join(work, 'multi'), { tag: 'idx' });
  });

  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('pushes an OCI image and serves the identical manifest bytes', async () => {
    assert.equal(source.layers?.length, 3);
    await skopeoCopy(image.ref, `${berth.url}/library/app:v1`, { format: 'oci' });

    const raw = await skopeoInspect(`${berth.url}/library/app:v1`, { raw: true });
    assert.equal(raw.text, sourceText);
    assert.equal(sha256(raw.text), image.descriptor.digest);

    const head = await headManifest(berth.url, 'library/app', 'v1');
    assert.deepEqual(head, { mediaType: OCI_MANIFEST, digest: image.descriptor.digest, size: Buffer.byteLength(sourceText) });

    const info = await skopeoInspect(`${berth.url}/library/app:v1`);
    assert.equal(info.Digest, image.descriptor.digest);
    assert.deepEqual(info.Layers, source.layers?.map((l) => l.digest));
    assert.equal(info.Labels?.['org.berth.test'], 'skopeo');
    assert.ok(info.Env?.includes('BERTH=1'));
  });

  it('pulls the OCI image back to dir: with the same layer digests and bytes', async () => {
    const out = join(work, 'pull-oci');
    await skopeoCopy(`${berth.url}/library/app:v1`, `dir:${out}`);
    assert.equal(await readFile(join(out, 'manifest.json'), 'utf8'), sourceText);
    assert.deepEqual(await layerDigests(out), source.layers?.map((l) => l.digest));
    await assertDirHasBlobs(out, image.layoutDir, blobsOf(source));
  });

  it('pushes as Docker v2s2 and pulls the same layers back', async () => {
    await skopeoCopy(image.ref, `${berth.url}/library/app:v1-docker`, { format: 'v2s2' });
    const raw = await skopeoInspect(`${berth.url}/library/app:v1-docker`, { raw: true });
    assert.equal(raw.manifest.mediaType, V2S2_MANIFEST);
    assert.deepEqual(raw.manifest.layers?.map((l) => l.digest), source.layers?.map((l) => l.digest));
    assert.ok(raw.manifest.layers?.every((l) => l.mediaType === V2S2_LAYER));
    assert.equal(raw.manifest.config?.digest, source.config?.digest);

    const head = await headManifest(berth.url, 'library/app', 'v1-docker');
    assert.equal(head.mediaType, V2S2_MANIFEST);
    assert.equal(head.digest, sha256(raw.text));
    assert.notEqual(head.digest, image.descriptor.digest);

    const out = join(work, 'pull-v2s2');
    await skopeoCopy(`${berth.url}/library/app:v1-docker`, `dir:${out}`);
    assert.equal(sha256(await readFile(join(out, 'manifest.json'))), head.digest);
    assert.deepEqual(await layerDigests(out), source.layers?.map((l) => l.digest));
    await assertDirHasBlobs(out, image.layoutDir, blobsOf(source));
  });

  it('lists tags', async () => {
    assert.deepEqual(await skopeoListTags(`${berth.url}/library/app`), ['v1', 'v1-docker']);
  });

  it('handles a four-segment repository name', async () => {
    await skopeoCopy(image.ref, `${berth.url}/a/b/c/d:deep`);
    assert.equal(sha256((await skopeoInspect(`${berth.url}/a/b/c/d:deep`, { raw: true })).text), image.descriptor.digest);
    assert.deepEqual(await skopeoListTags(`${berth.url}/a/b/c/d`), ['deep']);
    const out = join(work, 'pull-deep');
    await skopeoCopy(`${berth.url}/a/b/c/d:deep`, `dir:${out}`);
    assert.deepEqual(await layerDigests(out), source.layers?.map((l) => l.digest));
    const catalog = await getJson<{ repositories: string[] }>(`${berth.url}/v2/_catalog`);
    assert.equal(catalog.status, 200);
    assert.deepEqual(catalog.body.repositories, ['a/b/c/d', 'library/app']);
  });

  it('pushes a multi-arch index with --all and pulls one platform or all of them', async () => {
    await skopeoCopy(multi.ref, `${berth.url}/multi:idx`, { all: true });
    const indexText = await readFile(blobPath(multi.layoutDir, multi.descriptor.digest), 'utf8');
    const raw = await skopeoInspect(`${berth.url}/multi:idx`, { raw: true });
    assert.equal(raw.text, indexText);
    assert.equal(raw.manifest.mediaType, OCI_INDEX);
    assert.equal((await headManifest(berth.url, 'multi', 'idx')).digest, multi.descriptor.digest);

    const arm = multi.manifests.find((m) => m.platform?.architecture === 'arm64')!;
    const armManifest = (await layoutManifest(multi.layoutDir, arm.digest)).manifest;
    const one = join(work, 'pull-arm64');
    await skopeoCopy(`${berth.url}/multi:idx`, `dir:${one}`, { extraArgs: ['--override-arch', 'arm64'] });
    assert.equal(sha256(await readFile(join(one, 'manifest.json'))), arm.digest);
    await assertDirHasBlobs(one, multi.layoutDir, blobsOf(armManifest));

    const all = join(work, 'pull-all');
    await skopeoCopy(`${berth.url}/multi:idx`, `dir:${all}`, { all: true });
    assert.equal(await readFile(join(all, 'manifest.json'), 'utf8'), indexText);
    for (const m of multi.manifests) {
      const { text, manifest } = await layoutManifest(multi.layoutDir, m.digest);
      assert.equal(await readFile(join(all, `${hex(m.digest)}.manifest.json`), 'utf8'), text, `${m.platform?.architecture} manifest`);
      await assertDirHasBlobs(all, multi.layoutDir, blobsOf(manifest));
    }
  });

  it('copies between two berth repositories by mounting the blobs', async () => {
    await skopeoCopy(`${berth.url}/library/app:v1`, `${berth.url}/copy/app:v1`);
    assert.equal(sha256((await skopeoInspect(`${berth.url}/copy/app:v1`, { raw: true })).text), image.descriptor.digest);
    for (const d of blobsOf(source)) {
      const res = await fetch(`${berth.url}/v2/copy/app/blobs/${d}`, { method: 'HEAD' });
      assert.equal(res.status, 200, `HEAD copy/app blob ${d}`);
      assert.equal(res.headers.get('docker-content-digest'), d);
    }
    // skopeo's blob cache knows which berth repositories hold the layers (it pushed and pulled them), so it
    // asks for a mount from one of them (the one it saw last): berth must answer 201 and no bytes move.
    const layers = source.layers!.map((l) => l.digest);
    const holders = new Set(['library/app', 'a/b/c/d']);
    const mountedOk = (es: Awaited<ReturnType<typeof berthAccessLog>>) =>
      layers.every((d) => es.some((e) => {
        const q = new URLSearchParams(e.query ?? '');
        return e.method === 'POST' && e.path === '/v2/copy/app/blobs/uploads/' && e.status === 201 &&
          q.get('mount') === d && holders.has(q.get('from') ?? '');
      }));
    const entries = await berthAccessLog(berth.logFile, mountedOk);
    assert.ok(mountedOk(entries), `every layer mounted with 201; copy/app requests:\n${entries
      .filter((e) => e.path.startsWith('/v2/copy/app/')).map((e) => `${e.method} ${e.path}?${e.query ?? ''} ${e.status}`).join('\n')}`);
    const bigLayer = source.layers![1]!.digest;
    assert.ok(!entries.some((e) => e.path.startsWith('/v2/copy/app/blobs/uploads/') && e.method !== 'POST' &&
      new URLSearchParams(e.query ?? '').get('digest') === bigLayer), 'the 20 MB layer was not uploaded again');

    // The same mount by hand: 201 with Location and the digest, and the bytes are there.
    const d = source.layers![0]!.digest;
    const post = await fetch(`${berth.url}/v2/mounted/blobs/uploads/?mount=${d}&from=library/app`, { method: 'POST' });
    assert.equal(post.status, 201);
    assert.equal(post.headers.get('docker-content-digest'), d);
    assert.match(post.headers.get('location') ?? '', new RegExp(`/v2/mounted/blobs/${d}$`));
    const got = Buffer.from(await (await fetch(`${berth.url}/v2/mounted/blobs/${d}`)).arrayBuffer());
    assert.ok(got.equals(await readFile(blobPath(image.layoutDir, d))));
  });

  it('lists an artifact with a subject under GET /v2/<repo>/referrers/<digest>', async () => {
    const subject = await headManifest(berth.url, 'library/app', 'v1');
    const art = await pushArtifactWithSubject(berth.url, 'library/app', subject, 'application/vnd.berth.test.sbom', {
      annotations: { 'org.berth.kind': 'sbom' },
    });
    const res = await getJson<Manifest>(`${berth.url}/v2/library/app/referrers/${subject.digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.type, OCI_INDEX);
    assert.equal(res.body.schemaVersion, 2);
    assert.deepEqual(res.body.manifests, [{
      mediaType: OCI_MANIFEST,
      digest: art.descriptor.digest,
      size: art.bytes.length,
      artifactType: 'application/vnd.berth.test.sbom',
      annotations: { 'org.berth.kind': 'sbom' },
    }]);
    const none = await getJson<Manifest>(`${berth.url}/v2/library/app/referrers/${source.layers![0]!.digest}`);
    assert.equal(none.status, 200);
    assert.deepEqual(none.body.manifests, []);
  });

  it('leaves Zot\'s layout on disk: oci-layout, tagged index.json, blobs, 0600/0700, no temp files', async () => {
    const root = berth.root;
    const expectTagged = async (repo: string, tag: string, digest: string, mediaType: string, blobs: string[]) => {
      const dir = join(root, repo);
      assert.deepEqual(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
      const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Manifest;
      assert.equal(index.schemaVersion, 2);
      const entry = index.manifests?.find((m) => m.annotations?.[REF_NAME] === tag);
      assert.ok(entry, `${repo}/index.json has no entry named ${tag}`);
      assert.equal(entry.digest, digest);
      assert.equal(entry.mediaType, mediaType);
      for (const b of [digest, ...blobs]) assert.equal(sha256(await readFile(blobPath(dir, b))), b, `${repo} blob ${b}`);
    };
    await expectTagged('library/app', 'v1', image.descriptor.digest, OCI_MANIFEST, blobsOf(source));
    await expectTagged('a/b/c/d', 'deep', image.descriptor.digest, OCI_MANIFEST, blobsOf(source));
    await expectTagged('copy/app', 'v1', image.descriptor.digest, OCI_MANIFEST, blobsOf(source));
    const platformBlobs: string[] = [];
    for (const m of multi.manifests) platformBlobs.push(m.digest, ...blobsOf((await layoutManifest(multi.layoutDir, m.digest)).manifest));
    await expectTagged('multi', 'idx', multi.descriptor.digest, OCI_INDEX, platformBlobs);
    const v2s2Digest = (await headManifest(berth.url, 'library/app', 'v1-docker')).digest;
    await expectTagged('library/app', 'v1-docker', v2s2Digest, V2S2_MANIFEST, []);

    const entries = await walk(root);
    const wrongModes = [{ path: root, isDir: true, mode: (await stat(root)).mode & 0o777 }, ...entries]
      .filter((e) => e.mode !== (e.isDir ? 0o700 : 0o600))
      .map((e) => `${e.path} ${e.mode.toString(8)}`);
    assert.deepEqual(wrongModes, []);
    assert.deepEqual(entries.filter((e) => e.path.includes('.tmp-')).map((e) => e.path), []);
    for (const repo of ['library/app', 'a/b/c/d', 'copy/app', 'multi', 'mounted']) {
      const uploads = await readdir(join(root, repo, '.uploads')).catch(() => []);
      assert.deepEqual(uploads, [], `${repo}/.uploads`);
    }
  });

  it('deletes a manifest by digest with skopeo delete, then serves 404', async () => {
    const digest = (await headManifest(berth.url, 'library/app', 'v1-docker')).digest;
    await skopeoDelete(`${berth.url}/library/app:v1-docker`);
    for (const ref of [digest, 'v1-docker']) {
      const res = await fetch(`${berth.url}/v2/library/app/manifests/${ref}`, { headers: { accept: ACCEPT } });
      assert.equal(res.status, 404, `GET manifests/${ref}`);
      assert.equal(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'MANIFEST_UNKNOWN');
    }
    const pull = await skopeoCopy(`${berth.url}/library/app@${digest}`, `dir:${join(work, 'gone')}`, { allowFail: true });
    assert.notEqual(pull.code, 0);
    assert.deepEqual(await skopeoListTags(`${berth.url}/library/app`), ['v1']);
    // The OCI manifest sharing the same layers is untouched.
    assert.equal(sha256((await skopeoInspect(`${berth.url}/library/app:v1`, { raw: true })).text), image.descriptor.digest);
    const index = JSON.parse(await readFile(join(berth.root, 'library/app', 'index.json'), 'utf8')) as Manifest;
    assert.ok(!index.manifests?.some((m) => m.digest === digest), 'index.json still lists the deleted manifest');
  });
});
