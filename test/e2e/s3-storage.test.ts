// berth with its storage on S3 (the disk-backed @20minutes/s3rver), driven by skopeo: push and pull back an
// image with a layer over two chunks (a multipart upload, moved by a multipart copy), Zot's layout under the
// bucket's rootdirectory with nothing temporary left, mounts (dedupe placeholders), delete, and
// redirectBlobURL: whole-blob GETs answered 307 to a presigned URL, Range requests (and a subPaths store
// without the key) served by berth.
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningBerth } from '../helpers/berth.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { startS3Berth, type S3Berth } from '../helpers/s3-berth.js';
import type { S3Server } from '../helpers/s3-server.js';
import { skopeoCopy, skopeoDelete, skopeoInspect, skopeoListTags, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';
import { sha256, hex } from '../helpers/digests.js';

const MiB = 1024 * 1024;
const BUCKET = 'berth-e2e';
// The default store's rootdirectory is `/registry`: Zot's keys carry it twice (see storage-drivers/s3/options.ts).
const PREFIX = 'registry/registry/';

describe('berth on S3 storage (s3rver) with skopeo', () => {
  let sb: S3Berth;
  let s3: S3Server;
  let client: S3Client;
  let berth: RunningBerth;
  let work: string;
  let image: BuiltImage;
  let manifest: Manifest;
  let big: { digest: string; size: number };

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    work = await tempDir('e2e-s3');
    // The default chunksize (10 MiB) and multipart copy threshold (32 MiB): the 40 MiB layer is uploaded
    // in four parts and moved into place by UploadPartCopy.
    sb = await startS3Berth({
      bucket: BUCKET,
      storage: (s) => ({
        redirectBlobURL: true,
        // A route on the same bucket, under its own prefix, that serves its blobs itself.
        subPaths: { '/direct': { rootDirectory: join(work, 'direct'), redirectBlobURL: false, storageDriver: s.driverParams(BUCKET, { rootdirectory: '/direct' }) } },
      }),
    });
    ({ s3, client, berth } = sb);
    image = await buildOciImage(join(work, 'app'), {
      tag: 'v1',
      layers: [{ files: { '/etc/os-release': 'NAME=berth-s3\n' } }, { randomBytes: 40 * MiB, path: '/data/blob.bin' }],
    });
    const text = await readFile(join(image.layoutDir, 'blobs', 'sha256', hex(image.descriptor.digest)), 'utf8');
    manifest = JSON.parse(text) as Manifest;
    const layer = manifest.layers!.reduce((a, b) => (b.size > a.size ? b : a));
    big = { digest: layer.digest, size: layer.size };
  });

  after(async () => {
    await sb?.stop();
    await cleanupTempDirs();
  });

  it('pushes with skopeo into the bucket in Zot\'s layout, leaving no upload behind', async () => {
    assert.ok(big.size > 2 * 10 * MiB, `the big layer (${big.size} bytes) spans more than two chunks`);
    await skopeoCopy(image.ref, `${berth.url}/team/app:v1`, { format: 'oci' });
    const stored = await sb.keys(PREFIX);
    for (const d of [manifest.config!.digest, ...manifest.layers!.map((l) => l.digest), image.descriptor.digest]) {
      assert.ok(stored.includes(`${PREFIX}team/app/blobs/sha256/${hex(d)}`), `blob ${d} in the bucket`);
    }
    assert.ok(stored.includes(`${PREFIX}team/app/index.json`));
    assert.ok(stored.includes(`${PREFIX}team/app/oci-layout`));
    assert.deepEqual(await sb.temporaryKeys(), [], 'no upload data, upload state or tail objects left');
    const served = await fetch(`${berth.url}/v2/team/app/manifests/v1`, { headers: { accept: manifest.mediaType! } });
    assert.deepEqual(JSON.parse(await served.text()), manifest);
  });

  it('pulls the image back byte-identical through the presigned redirects', async () => {
    const dir = join(work, 'pulled');
    await skopeoCopy(`${berth.url}/team/app:v1`, `dir:${dir}`);
    for (const d of [manifest.config!.digest, ...manifest.layers!.map((l) => l.digest)]) {
      const got = await readFile(join(dir, hex(d)));
      assert.equal(sha256(got), d);
    }
    assert.deepEqual(await skopeoListTags(`${berth.url}/team/app`), ['v1']);
  });

  it('answers a whole-blob GET with 307 to a presigned S3 URL, and a Range GET itself', async () => {
    const url = `${berth.url}/v2/team/app/blobs/${big.digest}`;
    const redirect = await fetch(url, { redirect: 'manual' });
    assert.equal(redirect.status, 307);
    const location = redirect.headers.get('location') ?? '';
    assert.ok(location.startsWith(`${s3.endpoint}/${BUCKET}/${PREFIX}team/app/blobs/sha256/${hex(big.digest)}?`), location);
    assert.match(location, /X-Amz-Signature=/);
    const fromS3 = Buffer.from(await (await fetch(location)).arrayBuffer());
    assert.equal(fromS3.length, big.size);
    assert.equal(sha256(fromS3), big.digest);

    const ranged = await fetch(url, { headers: { range: 'bytes=100-1123' }, redirect: 'manual' });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), `bytes 100-1123/${big.size}`);
    const part = Buffer.from(await ranged.arrayBuffer());
    assert.ok(part.equals(fromS3.subarray(100, 1124)));
  });

  it('mounts the blobs into another repository as Zot\'s zero-byte dedupe placeholders, and serves the bytes there', async () => {
    await skopeoCopy(`${berth.url}/team/app:v1`, `${berth.url}/other/app:v1`);
    const placeholder = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}other/app/blobs/sha256/${hex(big.digest)}` }));
    assert.equal(placeholder.ContentLength, 0);
    const info = await skopeoInspect(`${berth.url}/other/app:v1`);
    assert.equal(info.Digest, image.descriptor.digest);
    const served = await fetch(`${berth.url}/v2/other/app/blobs/${big.digest}`);
    assert.equal(sha256(Buffer.from(await served.arrayBuffer())), big.digest);
  });

  it('serves blobs itself for a subPaths S3 store without redirectBlobURL', async () => {
    await skopeoCopy(`${berth.url}/team/app:v1`, `${berth.url}/direct/app:v1`);
    // Zot's keys: the route's driver prefixes its own rootdirectory to the path the image store built, which
    // Zot roots at the *default* store's rootdirectory for every subPaths store (pkg/storage/storage.go).
    const prefix = 'direct/registry/direct/app/blobs/';
    assert.ok((await sb.keys(prefix)).includes(`${prefix}sha256/${hex(big.digest)}`));
    const res = await fetch(`${berth.url}/v2/direct/app/blobs/${big.digest}`, { redirect: 'manual' });
    assert.equal(res.status, 200);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), big.digest);
  });

  it('deletes a manifest with skopeo delete, then answers 404', async () => {
    await skopeoDelete(`${berth.url}/other/app:v1`);
    const res = await fetch(`${berth.url}/v2/other/app/manifests/v1`, { headers: { accept: manifest.mediaType! } });
    assert.equal(res.status, 404);
    const still = await fetch(`${berth.url}/v2/team/app/manifests/v1`, { headers: { accept: manifest.mediaType! } });
    assert.equal(still.status, 200);
  });
});
