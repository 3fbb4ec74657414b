// berth started on a root directory laid out exactly as Zot writes it: it must list, serve and extend those
// repositories, and leave index.json in a shape Zot still reads.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { headManifest } from '../helpers/artifact-push.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { buildMultiArchIndex, buildOciImage, layerDigests, type BuiltImage, type BuiltIndex, type Descriptor } from '../helpers/images.js';
import { skopeoCopy, skopeoInspect, skopeoListTags, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, run, tempDir } from '../helpers/tools.js';
import { placeZotRepo, zotEntry } from '../helpers/zot-root.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const REF_NAME = 'org.opencontainers.image.ref.name';
const sha256 = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (digest: string) => digest.slice('sha256:'.length);
const blobPath = (layoutDir: string, digest: string) => join(layoutDir, 'blobs', 'sha256', hex(digest));

async function readManifest(layoutDir: string, digest: string): Promise<{ text: string; manifest: Manifest }> {
  const text = await readFile(blobPath(layoutDir, digest), 'utf8');
  return { text, manifest: JSON.parse(text) as Manifest };
}

const blobsOf = (m: Manifest) => [m.config!.digest, ...(m.layers ?? []).map((l) => l.digest)];

describe('berth on a root directory written by Zot', () => {
  let berth: RunningBerth;
  let root: string;
  let work: string;
  let web1: BuiltImage;
  let web2: BuiltImage;
  let appLatest: BuiltImage;
  let appMulti: BuiltIndex;
  let web3: BuiltImage;
  const trivyMeta = '{"Version":2,"NextUpdate":"2020-01-02T00:00:00Z","UpdatedAt":"2020-01-01T00:00:00Z"}';
  let webIndexBefore: Manifest;

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    work = await tempDir('e2e-zot-layout');
    root = join(work, 'zot-root');
    const base = { files: { '/etc/os-release': 'NAME=zot-written\n', '/bin/sh': 'not really a shell\n' } };

    const webDir = join(work, 'web');
    web1 = await buildOciImage(webDir, { tag: '1.0', layers: [base, { randomBytes: 1 << 20, seed: 1, path: '/srv/web.bin' }] });
    web2 = await buildOciImage(webDir, { tag: '2.0', layers: [base, { files: { '/srv/version': '2.0\n' } }] });
    await run('umoci', ['gc', '--layout', webDir]);

    const appDir = join(work, 'app');
    appLatest = await buildOciImage(appDir, { tag: 'latest', layers: [base, { randomBytes: 300_000, seed: 3 }] });
    appMulti = await buildMultiArchIndex(appDir, { tag: 'multi' });
    await run('umoci', ['gc', '--layout', appDir]);

    web3 = await buildOciImage(join(work, 'web3'), { tag: '3.0', layers: [base, { files: { '/srv/version': '3.0\n' } }] });

    await mkdir(root, { mode: 0o700 });
    await placeZotRepo(root, 'library/web', webDir, [zotEntry(web1.descriptor, '1.0'), zotEntry(web2.descriptor, '2.0')]);
    // A multi-arch push leaves the platform manifests in index.json untagged, then the tagged index.
    await placeZotRepo(root, 'team/app', appDir, [
      zotEntry(appLatest.descriptor, 'latest'),
      ...appMulti.manifests.map((m) => zotEntry(m)),
      zotEntry(appMulti.descriptor, 'multi'),
    ], 'library/web');
    // Zot's own top-level files: the dedupe cache DB and the trivy DB directory.
    await writeFile(join(root, 'cache.db'), '', { mode: 0o600 });
    await mkdir(join(root, '_trivy', 'db'), { recursive: true, mode: 0o700 });
    await writeFile(join(root, '_trivy', 'db', 'metadata.json'), trivyMeta, { mode: 0o600 });
    webIndexBefore = JSON.parse(await readFile(join(root, 'library/web', 'index.json'), 'utf8')) as Manifest;

    berth = await startBerth({ storage: { rootDirectory: root } });
  });

  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('the prepared root shares a deduped base layer between repositories (as Zot does)', async () => {
    const baseLayer = (await readManifest(web1.layoutDir, web1.descriptor.digest)).manifest.layers![0]!.digest;
    const a = await stat(blobPath(join(root, 'library/web'), baseLayer));
    const b = await stat(blobPath(join(root, 'team/app'), baseLayer));
    assert.equal(a.ino, b.ino);
  });

  it('lists exactly the repositories in _catalog', async () => {
    const res = await fetch(`${berth.url}/v2/_catalog`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { repositories: ['library/web', 'team/app'] });
  });

  it('lists the tags of each repository, not the untagged platform manifests', async () => {
    for (const [repo, tags] of [['library/web', ['1.0', '2.0']], ['team/app', ['latest', 'multi']]] as const) {
      const res = await fetch(`${berth.url}/v2/${repo}/tags/list`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { name: repo, tags });
      assert.deepEqual(await skopeoListTags(`${berth.url}/${repo}`), tags);
    }
  });

  it('copies every image out with skopeo with identical digests and bytes', async () => {
    await mkdir(join(work, 'out'));
    for (const [repo, img] of [['library/web', web1], ['library/web', web2], ['team/app', appLatest]] as const) {
      const src = `${berth.url}/${repo}:${img.tag}`;
      const { text, manifest } = await readManifest(img.layoutDir, img.descriptor.digest);
      const served = await skopeoInspect(src, { raw: true });
      assert.equal(served.text, text, `${src} manifest bytes`);
      assert.deepEqual(await headManifest(berth.url, repo, img.tag), { mediaType: OCI_MANIFEST, digest: img.descriptor.digest, size: Buffer.byteLength(text) });

      const out = join(work, 'out', `${repo.replace('/', '_')}-${img.tag}`);
      await skopeoCopy(src, `dir:${out}`);
      assert.equal(sha256(await readFile(join(out, 'manifest.json'))), img.descriptor.digest);
      assert.deepEqual(await layerDigests(out), manifest.layers?.map((l) => l.digest));
      for (const d of blobsOf(manifest)) {
        assert.ok((await readFile(join(out, hex(d)))).equals(await readFile(blobPath(img.layoutDir, d))), `${src} blob ${d}`);
      }
    }

    const out = join(work, 'out', 'team_app-multi');
    await skopeoCopy(`${berth.url}/team/app:multi`, `dir:${out}`, { all: true });
    assert.equal(sha256(await readFile(join(out, 'manifest.json'))), appMulti.descriptor.digest);
    for (const m of appMulti.manifests) {
      assert.equal(sha256(await readFile(join(out, `${hex(m.digest)}.manifest.json`))), m.digest);
      for (const d of blobsOf((await readManifest(appMulti.layoutDir, m.digest)).manifest)) {
        assert.equal(sha256(await readFile(join(out, hex(d)))), d);
      }
    }
  });

  it('pushes a new tag and a re-tag into the Zot repository, keeping index.json an OCI index Zot reads', async () => {
    await skopeoCopy(web3.ref, `${berth.url}/library/web:3.0`);
    await skopeoCopy(`${berth.url}/library/web:2.0`, `${berth.url}/library/web:stable`);
    assert.deepEqual(await skopeoListTags(`${berth.url}/library/web`), ['1.0', '2.0', '3.0', 'stable']);

    const dir = join(root, 'library/web');
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Manifest;
    assert.equal(index.schemaVersion, 2);
    if (index.mediaType !== undefined) assert.equal(index.mediaType, OCI_INDEX);
    const byTag = new Map(index.manifests!.map((m) => [m.annotations?.[REF_NAME], m]));
    // The entries Zot wrote are still there, byte-for-byte the same descriptors.
    for (const old of webIndexBefore.manifests!) assert.deepEqual(byTag.get(old.annotations?.[REF_NAME]), old);
    // One descriptor per tag, as Zot keeps them: the re-tag is its own entry with the same digest.
    assert.deepEqual(byTag.get('3.0'), zotEntry(web3.descriptor, '3.0'));
    assert.deepEqual(byTag.get('stable'), zotEntry(web2.descriptor, 'stable'));
    assert.equal(index.manifests!.length, 4);
    for (const m of index.manifests!) {
      assert.equal(m.mediaType, OCI_MANIFEST);
      assert.match(m.digest, /^sha256:[0-9a-f]{64}$/);
      assert.equal(typeof m.size, 'number');
      assert.equal((await stat(blobPath(dir, m.digest))).size, m.size, `blob of ${m.annotations?.[REF_NAME]}`);
    }
    for (const d of blobsOf((await readManifest(web3.layoutDir, web3.descriptor.digest)).manifest)) {
      assert.equal(sha256(await readFile(blobPath(dir, d))), d);
    }
    assert.equal(await readFile(join(dir, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');

    const newFiles = [join(dir, 'index.json'), blobPath(dir, web3.descriptor.digest)];
    for (const f of newFiles) assert.equal((await stat(f)).mode & 0o777, 0o600, f);
    const leftovers = (await readdir(dir, { recursive: true })).filter((n) => String(n).includes('.tmp-'));
    assert.deepEqual(leftovers, []);
    assert.deepEqual(await readdir(join(dir, '.uploads')).catch(() => []), []);

    // The other repository's index.json, untagged entries included, is untouched.
    const app = JSON.parse(await readFile(join(root, 'team/app', 'index.json'), 'utf8')) as Manifest;
    assert.equal(app.manifests?.length, 4);
    assert.equal(sha256((await skopeoInspect(`${berth.url}/library/web:3.0`, { raw: true })).text), web3.descriptor.digest);
  });

  it('leaves Zot\'s own files alone and keeps them out of the catalog', async () => {
    assert.equal((await stat(join(root, 'cache.db'))).size, 0);
    assert.equal(await readFile(join(root, '_trivy', 'db', 'metadata.json'), 'utf8'), trivyMeta);
    const res = await fetch(`${berth.url}/v2/_catalog`);
    assert.deepEqual(await res.json(), { repositories: ['library/web', 'team/app'] });
  });
});
