// berth serving, unchanged, a bucket as Zot writes it on S3, pulled with skopeo byte-identical.
//
// The objects below are what Zot writes for `storageDriver: { name: "s3", rootdirectory: "/zot" }`, from its
// sources (project-zot/zot):
// - pkg/api/controller.go / pkg/storage/storage.go (RootDir): the image store's root is the driver's
//   `rootdirectory` ("/zot"), while Distribution's s3-aws driver prefixes every path with it again
//   (registry/storage/driver/s3-aws/s3.go, s3Path): keys are `zot/zot/<repo>/…`.
// - pkg/storage/imagestore/imagestore.go: `oci-layout`, `index.json` and `blobs/sha256/<hex>` joined to that
//   root (BlobPath); the manifest is written as is; a blob upload finishing on a digest the cache already
//   knows goes through DedupeBlob, which calls the driver's Link.
// - pkg/storage/s3/driver.go (Link): an empty object at the duplicate's path (the cache, not the bucket,
//   records the original: the duplicate's path `/zot/<repo>/blobs/sha256/<hex>` is added to the digest's
//   entries). EnsureDir is a no-op: no `.uploads/` object exists until an upload does.
// Zot's cache (cache.db or a remote cache) is not berth's: berth rebuilds its own index from the bucket.
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';
import { skopeoCopy, skopeoListTags, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';
import { zotEntry } from '../helpers/zot-root.js';
import { sha256, hex } from '../helpers/digests.js';

const BUCKET = 'zot-storage';
const PREFIX = 'zot/zot/';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

describe('berth serves a bucket Zot wrote on S3 (doubled rootdirectory, dedupe placeholders)', () => {
  let s3: S3Server;
  let client: S3Client;
  let berth: RunningBerth;
  let work: string;
  let image: BuiltImage;
  let manifest: Manifest;
  let blobs: string[];

  const put = (key: string, body: Buffer | string) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));

  /** A repository as Zot leaves it: the manifest's own bytes, and config and layers real or placeholders. */
  async function writeZotRepo(repo: string, placeholders: boolean): Promise<void> {
    await put(`${PREFIX}${repo}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
    await put(`${PREFIX}${repo}/index.json`, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [zotEntry(image.descriptor, 'v1')] }));
    const dir = join(image.layoutDir, 'blobs', 'sha256');
    await put(`${PREFIX}${repo}/blobs/sha256/${hex(image.descriptor.digest)}`, await readFile(join(dir, hex(image.descriptor.digest))));
    for (const d of blobs) await put(`${PREFIX}${repo}/blobs/sha256/${hex(d)}`, placeholders ? Buffer.alloc(0) : await readFile(join(dir, hex(d))));
  }

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    work = await tempDir('e2e-s3-zot');
    // fauxqs: s3rver's delimiter listings miss prefixes two levels down (shared s3-test-servers.md, T5), so
    // the catalog walk would find no repository there; this test's objects are well under fauxqs's 11 MiB.
    s3 = await startS3Server('fauxqs');
    await s3.createBucket(BUCKET);
    client = s3.client();
    image = await buildOciImage(join(work, 'app'), {
      tag: 'v1',
      layers: [{ files: { '/etc/os-release': 'NAME=zot-bucket\n' } }, { randomBytes: 3 * 1024 * 1024, path: '/data/blob.bin' }],
    });
    manifest = JSON.parse(await readFile(join(image.layoutDir, 'blobs', 'sha256', hex(image.descriptor.digest)), 'utf8')) as Manifest;
    blobs = [manifest.config!.digest, ...manifest.layers!.map((l) => l.digest)];
    await writeZotRepo('team/app', false);
    await writeZotRepo('mirror/app', true);
    berth = await startBerth({
      storage: { rootDirectory: join(work, 'local'), dedupe: true, remoteCache: false, storageDriver: s3.driverParams(BUCKET, { rootdirectory: '/zot' }) },
    });
  });

  after(async () => {
    client?.destroy();
    await berth?.stop();
    await s3?.stop();
    await cleanupTempDirs();
  });

  it('serves a placeholder right after start, before the start-up pass has indexed its original', async () => {
    const last = manifest.layers![manifest.layers!.length - 1]!;
    const res = await fetch(`${berth.url}/v2/mirror/app/blobs/${last.digest}`, { method: 'HEAD', redirect: 'manual' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(last.size));
  });

  it('lists both repositories and their tags', async () => {
    // The catalog reconcile runs in the background after start: poll until it has walked the bucket.
    let repos: string[] = [];
    for (let i = 0; i < 200 && repos.length < 2; i++) {
      repos = ((await (await fetch(`${berth.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;
      if (repos.length < 2) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(repos, ['mirror/app', 'team/app']);
    assert.deepEqual(await skopeoListTags(`${berth.url}/team/app`), ['v1']);
    assert.deepEqual(await skopeoListTags(`${berth.url}/mirror/app`), ['v1']);
  });

  for (const repo of ['team/app', 'mirror/app']) {
    it(`pulls ${repo}:v1 with skopeo byte-identical${repo === 'mirror/app' ? ' through the placeholders' : ''}`, async () => {
      const dir = join(work, `pulled-${repo.replace('/', '-')}`);
      await skopeoCopy(`${berth.url}/${repo}:v1`, `dir:${dir}`);
      assert.ok((await readFile(join(dir, 'manifest.json'))).equals(await readFile(join(image.layoutDir, 'blobs', 'sha256', hex(image.descriptor.digest)))));
      for (const d of blobs) {
        const want = await readFile(join(image.layoutDir, 'blobs', 'sha256', hex(d)));
        const got = await readFile(join(dir, hex(d)));
        assert.equal(sha256(got), d);
        assert.ok(got.equals(want), `${d} byte-identical`);
      }
    });
  }

  it('writes a push into the same doubled prefix, leaving Zot\'s objects as they were', async () => {
    const before = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}team/app/index.json` }));
    const beforeText = await before.Body!.transformToString();
    await skopeoCopy(image.ref, `${berth.url}/new/app:v1`, { format: 'oci' });
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}new/app/` }));
    const keys = (listed.Contents ?? []).map((o) => o.Key);
    assert.ok(keys.includes(`${PREFIX}new/app/index.json`), keys.join(' '));
    const none = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'zot/new/' }));
    assert.equal(none.KeyCount ?? 0, 0, 'nothing under the single prefix');
    const after = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}team/app/index.json` }));
    assert.equal(await after.Body!.transformToString(), beforeText);
    const placeholder = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}mirror/app/blobs/sha256/${hex(blobs[blobs.length - 1]!)}` }));
    assert.equal(placeholder.ContentLength, 0, 'a placeholder stays a placeholder with dedupe on');
  });
});
