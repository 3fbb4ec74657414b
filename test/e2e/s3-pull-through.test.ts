// Pull-through onto S3 storage (the disk-backed @20minutes/s3rver) from a real Distribution upstream behind the
// counting, throttling test proxy: 32 concurrent cold pulls of an image with a layer over two chunks cost one
// upstream GET per blob, every pull is byte-identical, the spool is on the local disk (rootDirectory/_berth/spool,
// never in the bucket), followers get bytes before the blob is in the bucket, the verified blobs are committed
// to the bucket, and a second round is served from S3 without the upstream.
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { buildOciImage } from '../helpers/images.js';
import { listKeys, startS3Server, type S3Server } from '../helpers/s3-server.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';
import { startUpstreamProxy, type UpstreamProxy } from '../helpers/upstream-proxy.js';
import { hex } from '../helpers/digests.js';

const MiB = 1024 * 1024;
const BUCKET = 'berth-pull';
// rootdirectory `/registry`: Zot's keys carry it twice (see storage-drivers/s3/options.ts).
const ROOTDIR = 'registry';
const PREFIX = `${ROOTDIR}/${ROOTDIR}/`;
const CHUNK = 5 * MiB; // the S3 driver's multipart part size (Zot's chunksize; S3's minimum part)
const BIG = 3 * CHUNK + 123_457; // a layer over more than two chunks
// The upstream blob bodies are throttled so the fill of the big layer takes seconds: the window in which
// followers must already be getting bytes while nothing is in the bucket yet.
const RATE = 6 * MiB;
const CLIENTS = 32;

interface Pulled {
  digest: string;
  firstByteAt: number;
}

async function pullBlob(url: string): Promise<Pulled> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  const hash = createHash('sha256');
  let firstByteAt = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    firstByteAt ||= Date.now();
    hash.update(chunk);
  }
  return { digest: `sha256:${hash.digest('hex')}`, firstByteAt };
}

interface Manifest {
  config: { digest: string };
  layers: Array<{ digest: string; size: number }>;
}

/** One node's pull: manifest by tag, then config and layers by digest, each hashed as it arrives. */
async function pullImage(base: string, repo: string, tag: string): Promise<{ manifest: string; blobs: Map<string, Pulled> }> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(res.status, 200);
  const manifest = await res.text();
  const m = JSON.parse(manifest) as Manifest;
  const blobs = new Map<string, Pulled>();
  for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) blobs.set(d, await pullBlob(`${base}/v2/${repo}/blobs/${d}`));
  return { manifest, blobs };
}

const keys = (client: S3Client, prefix: string) => listKeys(client, BUCKET, prefix);

describe('pull-through onto S3 storage (s3rver) from a Distribution upstream', () => {
  let s3: S3Server;
  let client: S3Client;
  let up: DockerRegistry;
  let proxy: UpstreamProxy;
  let berth: RunningBerth;
  let manifest: Manifest;
  let manifestText: string;
  let big: { digest: string; size: number };

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry']);
    const work = await tempDir('e2e-s3-pull');
    s3 = await startS3Server('s3rver');
    await s3.createBucket(BUCKET);
    client = s3.client();
    up = await startDockerRegistry();
    proxy = await startUpstreamProxy(up.url, { bytesPerSecond: RATE });
    const img = await buildOciImage(join(work, 'img'), {
      tag: 'v1',
      layers: [{ files: { '/etc/os-release': 'NAME=berth-s3-pull\n' } }, { randomBytes: 1_500_000, path: '/data/small.bin' }, { randomBytes: BIG, path: '/data/big.bin' }],
    });
    await skopeoCopy(img.ref, `${up.url}/lib/app:v1`, { format: 'oci' });
    berth = await startBerth({
      storage: {
        remoteCache: false,
        storageDriver: s3.driverParams(BUCKET, { rootdirectory: `/${ROOTDIR}/`, chunksize: CHUNK }),
      },
      extensions: { sync: { registries: [{ urls: [proxy.url], onDemand: true, content: [{ prefix: '**', destination: '/mirror' }] }] } },
    });
    const res = await fetch(`${up.url}/v2/lib/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    manifestText = await res.text();
    manifest = JSON.parse(manifestText) as Manifest;
    const layer = manifest.layers.reduce((a, b) => (b.size > a.size ? b : a));
    big = { digest: layer.digest, size: layer.size };
  });

  after(async () => {
    client?.destroy();
    await berth?.stop();
    await proxy?.stop();
    await up?.stop();
    await s3?.stop();
    await cleanupTempDirs();
  });

  const blobGets = () => proxy.requests.filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.path));
  const bigKey = () => `${PREFIX}mirror/lib/app/blobs/sha256/${hex(big.digest)}`;

  it('32 concurrent cold pulls: one upstream GET per blob, local spool, followers ahead of the S3 upload', async () => {
    assert.ok(big.size > 2 * CHUNK, `the big layer (${big.size} bytes) spans more than two chunks`);
    // Watch, while the pulls run, when the big layer shows up in the bucket and what the spool holds.
    let inBucketAt = 0;
    const spoolSeen = new Set<string>();
    let watching = true;
    const watch = (async () => {
      while (watching && !inBucketAt) {
        for (const name of await readdir(join(berth.root, '_berth', 'spool')).catch(() => [] as string[])) spoolSeen.add(name);
        const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: bigKey() })).catch(() => undefined);
        if (head) inBucketAt = Date.now();
        else await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const pulls = await Promise.all(Array.from({ length: CLIENTS }, () => pullImage(berth.url, 'mirror/lib/app', 'v1')));
    for (let i = 0; i < 300 && !inBucketAt; i++) await new Promise((r) => setTimeout(r, 100));
    watching = false;
    await watch;

    for (const [i, p] of pulls.entries()) {
      assert.equal(p.manifest, manifestText, `client ${i}: manifest`);
      for (const [d, got] of p.blobs) assert.equal(got.digest, d, `client ${i}: blob ${d}`);
    }
    const perBlob = new Map<string, number>();
    for (const r of blobGets()) perBlob.set(r.path, (perBlob.get(r.path) ?? 0) + 1);
    assert.equal(perBlob.size, 1 + manifest.layers.length, `config and every layer went upstream: ${[...perBlob.keys()].join(' ')}`);
    for (const [path, n] of perBlob) assert.equal(n, 1, `${n} upstream GETs of ${path}`);

    assert.ok(spoolSeen.size > 0, 'fills spooled under rootDirectory/_berth/spool on the local disk');
    assert.ok(inBucketAt > 0, 'the big layer reached the bucket');
    const firsts = pulls.map((p) => p.blobs.get(big.digest)!.firstByteAt);
    const last = Math.max(...firsts);
    assert.ok(last < inBucketAt, `every client had bytes of the big layer ${inBucketAt - last} ms before it was in the bucket`);

    const stored = await keys(client, '');
    for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      for (let i = 0; i < 100 && !stored.includes(`${PREFIX}mirror/lib/app/blobs/sha256/${hex(d)}`); i++) {
        await new Promise((r) => setTimeout(r, 100));
        stored.splice(0, stored.length, ...(await keys(client, '')));
      }
      assert.ok(stored.includes(`${PREFIX}mirror/lib/app/blobs/sha256/${hex(d)}`), `blob ${d} committed to the bucket`);
    }
    assert.deepEqual(stored.filter((k) => k.includes('spool') || k.split('/').some((s) => s.startsWith('.'))), [], 'no spool or upload data in the bucket');
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: bigKey() }));
    assert.equal(head.ContentLength, big.size);
    let left: string[] = [];
    for (let i = 0; i < 100; i++) {
      left = await readdir(join(berth.root, '_berth', 'spool')).catch(() => []);
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(left, [], 'spools removed once the blobs were committed');
  });

  it('a second round of 32 pulls is served from S3 without one upstream GET', async () => {
    const before = blobGets().length;
    const pulls = await Promise.all(Array.from({ length: CLIENTS }, () => pullImage(berth.url, 'mirror/lib/app', 'v1')));
    for (const [i, p] of pulls.entries()) {
      assert.equal(p.manifest, manifestText, `client ${i}: manifest`);
      for (const [d, got] of p.blobs) assert.equal(got.digest, d, `client ${i}: blob ${d}`);
    }
    assert.equal(blobGets().length - before, 0, 'no upstream blob GET');
  });
});
