// containerd (ctr) and docker (dockerd) pushing to and pulling from one S3-backed berth (the disk-backed
// @20minutes/s3rver), with a multi-layer image whose big layer spans several chunks: once into the default
// store with redirectBlobURL true (clients follow the 307 to the presigned S3 URL) and once into a subPaths
// store on the same bucket with it false (berth streams the bytes). What each pulled is byte-identical to what
// was pushed (digests; docker's uncompressed layer ids), and no upload is left under a dot-named key.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { berthAccessLog } from '../helpers/berth.js';
import { contentSha256, startContainerd, type Containerd } from '../helpers/containerd.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { startS3Berth, type S3Berth } from '../helpers/s3-berth.js';
import { skopeoCopy, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';
import { sha256, hex } from '../helpers/digests.js';

const MiB = 1024 * 1024;
const CHUNK = 5 * MiB;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

// The two stores: the default one redirects whole-blob GETs, the subPaths one serves them itself.
const MODES = [
  { name: 'redirectBlobURL true', ns: 'team', redirect: true },
  { name: 'redirectBlobURL false', ns: 'direct', redirect: false },
] as const;

describe('containerd and docker against an S3-backed berth', () => {
  let sb: S3Berth;
  let work: string;
  let image: BuiltImage;
  let manifest: Manifest;

  /**
   * The bucket key of a blob of `repo`: the subPaths store's driver prefixes its own rootdirectory (`/direct`) to
   * the path Zot's image store roots at the default store's rootdirectory (`/registry`).
   */
  const blobKey = (repo: string, digest: string) =>
    repo.startsWith('direct/') ? `direct/registry/${repo}/blobs/sha256/${hex(digest)}` : `${sb.prefix}${repo}/blobs/sha256/${hex(digest)}`;

  /** The manifest berth serves for `repo:tag` and its digest. */
  async function served(repo: string, tag: string, accept: string): Promise<{ digest: string; manifest: Manifest }> {
    const res = await fetch(`${sb.berth.url}/v2/${repo}/manifests/${tag}`, { headers: { accept } });
    assert.equal(res.status, 200, `${repo}:${tag}`);
    const text = await res.text();
    assert.equal(res.headers.get('docker-content-digest'), sha256(text));
    return { digest: sha256(text), manifest: JSON.parse(text) as Manifest };
  }

  /** Every blob of the manifest is in the bucket, berth answers a whole-blob GET as the store says, and the bytes hash right. */
  async function assertStored(repo: string, m: Manifest, redirect: boolean): Promise<void> {
    const stored = new Set(await sb.keys());
    for (const d of [m.config!.digest, ...m.layers!.map((l) => l.digest)]) {
      assert.ok(stored.has(blobKey(repo, d)), `blob ${d} of ${repo} in the bucket`);
      const res = await fetch(`${sb.berth.url}/v2/${repo}/blobs/${d}`, { redirect: 'manual' });
      assert.equal(res.status, redirect ? 307 : 200, `GET blob ${d} of ${repo}`);
      const body = redirect ? await fetch(res.headers.get('location')!) : res;
      if (redirect) assert.ok(res.headers.get('location')!.startsWith(`${sb.s3.endpoint}/${sb.bucket}/`), res.headers.get('location')!);
      assert.equal(sha256(Buffer.from(await body.arrayBuffer())), d, `bytes of ${d} of ${repo}`);
    }
    assert.deepEqual(await sb.temporaryKeys(), [], 'no upload data, upload state or tail objects left');
  }

  /** How many access-log lines berth has written so far: what a client sends later comes after them. */
  const logMark = async () => (await berthAccessLog(sb.berth.logFile)).length;

  /**
   * The blob GETs a client sent for `repo` since `mark` were answered as the store says: 307 (and the client,
   * having got its bytes, followed it to S3) or 200.
   */
  async function assertClientBlobGets(mark: number, repo: string, digests: string[], redirect: boolean): Promise<void> {
    const want = redirect ? 307 : 200;
    const paths = new Set(digests.map((d) => `/v2/${repo}/blobs/${d}`));
    const answered = (es: Awaited<ReturnType<typeof berthAccessLog>>) =>
      [...paths].every((p) => es.some((e) => e.method === 'GET' && e.path === p && e.status === want));
    const log = (await berthAccessLog(sb.berth.logFile, (es) => answered(es.slice(mark)))).slice(mark);
    const seen = log.filter((e) => e.path.startsWith(`/v2/${repo}/`)).map((e) => `${e.method} ${e.path} ${e.status}`);
    assert.ok(answered(log), `every blob GET of ${repo} answered ${want}; seen:\n${seen.join('\n')}`);
    const wrong = log.filter((e) => e.method === 'GET' && paths.has(e.path) && e.status !== want);
    assert.deepEqual(wrong.map((e) => `${e.path} ${e.status}`), []);
  }

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'containerd', 'ctr', 'dockerd', 'docker']);
    work = await tempDir('e2e-s3-clients');
    sb = await startS3Berth({
      bucket: 'berth-clients',
      // S3's minimum part: the 12 MiB layer is a multipart upload of three parts.
      driver: { chunksize: CHUNK },
      storage: (s3) => ({
        redirectBlobURL: true,
        subPaths: { '/direct': { rootDirectory: join(work, 'direct'), redirectBlobURL: false, storageDriver: s3.driverParams('berth-clients', { rootdirectory: '/direct', chunksize: CHUNK }) } },
      }),
    });
    image = await buildOciImage(join(work, 'app'), {
      tag: 'v1',
      layers: [
        { files: { '/etc/os-release': 'NAME=berth-s3-clients\n' } },
        { randomBytes: 12 * MiB + 4321, path: '/data/big.bin' },
        { randomBytes: 700_000, path: '/data/small.bin' },
      ],
    });
    manifest = JSON.parse(await readFile(join(image.layoutDir, 'blobs', 'sha256', hex(image.descriptor.digest)), 'utf8')) as Manifest;
  });

  after(async () => {
    await sb?.stop();
    await cleanupTempDirs();
  });

  describe('containerd (ctr)', () => {
    let pusher: Containerd;
    const pullers: Containerd[] = [];

    before(async () => {
      pusher = await startContainerd();
      const archive = join(work, 'app-oci.tar');
      await skopeoCopy(image.ref, `oci-archive:${archive}:v1`);
      // The tag annotation is `v1`; --base-name makes it `berth.test/app:v1`.
      await pusher.ctr(['images', 'import', '--base-name', 'berth.test/app', archive], { timeoutMs: 120_000 });
    });

    after(async () => {
      for (const c of pullers) await c.stop();
      await pusher?.stop();
    });

    for (const mode of MODES) {
      it(`pushes and pulls a multi-layer image, ${mode.name}`, async () => {
        const repo = `${mode.ns}/ctr-app`;
        const ref = `${sb.berth.host}/${repo}:v1`;
        await pusher.ctr(['images', 'tag', 'berth.test/app:v1', ref]);
        await pusher.ctr(['images', 'push', '--plain-http', ref], { timeoutMs: 120_000 });
        const pushed = await served(repo, 'v1', OCI_MANIFEST);
        assert.equal(pushed.digest, image.descriptor.digest, 'the manifest as pushed');
        await assertStored(repo, manifest, mode.redirect);

        // A fresh containerd (its own content store) pulls it back.
        const puller = await startContainerd();
        pullers.push(puller);
        const mark = await logMark();
        await puller.pull(ref, { plainHttp: true, useHostsDir: false, timeoutMs: 120_000 });
        const { stdout } = await puller.ctr(['images', 'ls']);
        const row = stdout.split('\n').find((l) => l.startsWith(`${ref} `));
        assert.ok(row?.split(/\s+/).includes(image.descriptor.digest), `ctr images ls: ${stdout}`);
        const blobs = [manifest.config!.digest, ...manifest.layers!.map((l) => l.digest)];
        for (const d of [image.descriptor.digest, ...blobs]) {
          const source = await readFile(join(image.layoutDir, 'blobs', 'sha256', hex(d)));
          assert.equal(await contentSha256(puller, d), sha256(source), `containerd's bytes of ${d}`);
        }
        await assertClientBlobGets(mark, repo, blobs, mode.redirect);
      });
    }
  });

  describe('docker (dockerd)', () => {
    let dockerd: Dockerd;
    let archive: string;
    let diffIds: string;
    const layerIds = async (ref: string) => (await dockerd.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref])).stdout.trim();

    before(async () => {
      dockerd = await startDockerd();
      archive = join(work, 'app-docker.tar');
      await skopeoCopy(image.ref, `docker-archive:${archive}:berth.test/app:v1`);
    });

    after(async () => dockerd?.stop());

    for (const mode of MODES) {
      it(`pushes and pulls a multi-layer image, ${mode.name}`, async () => {
        const repo = `${mode.ns}/docker-app`;
        const ref = `${sb.berth.host}/${repo}:v1`;
        await dockerd.docker(['load', '-i', archive], { timeoutMs: 120_000 });
        diffIds = await layerIds('berth.test/app:v1');
        assert.equal(JSON.parse(diffIds).length, 3);
        await dockerd.docker(['tag', 'berth.test/app:v1', ref]);
        const push = await dockerd.docker(['push', ref], { timeoutMs: 180_000 });
        const pushed = await served(repo, 'v1', DOCKER_MANIFEST);
        assert.match(push.stdout, new RegExp(`digest: ${pushed.digest}`), 'docker reports the digest berth serves');
        assert.equal(pushed.manifest.layers!.length, 3);
        await assertStored(repo, pushed.manifest, mode.redirect);

        // Both names go, and with them the layers: the pull fetches every blob from berth, docker checks each
        // digest, and the layer ids (the uncompressed tars' digests) are those loaded.
        await dockerd.docker(['rmi', ref, 'berth.test/app:v1']);
        const mark = await logMark();
        await dockerd.docker(['pull', ref], { timeoutMs: 180_000 });
        assert.equal(await layerIds(ref), diffIds, 'the same uncompressed layers');
        const repoDigests = (await dockerd.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', ref])).stdout;
        assert.match(repoDigests, new RegExp(`${repo}@${pushed.digest}`));
        await assertClientBlobGets(mark, repo, [pushed.manifest.config!.digest, ...pushed.manifest.layers!.map((l) => l.digest)], mode.redirect);
        await dockerd.docker(['rmi', ref]);
      });
    }
  });
});
