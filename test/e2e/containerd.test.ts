// containerd (ctr 1.6) pulling from berth: as the registry itself, as a hosts.toml mirror of a made-up
// upstream (which adds ?ns=<upstream>), and one platform of a multi-arch index; berth's access log records it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { berthAccessLog, startBerth, type BerthAccessEntry, type RunningBerth } from '../helpers/berth.js';
import { contentSha256, startContainerd, writeHostsToml, type Containerd } from '../helpers/containerd.js';
import { buildMultiArchIndex, buildOciImage, type BuiltImage, type BuiltIndex } from '../helpers/images.js';
import { skopeoCopy, skopeoInspect, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';
import { sha256 } from '../helpers/digests.js';

const UPSTREAM = 'upstream.example.test';
const blobPath = (layoutDir: string, digest: string) => join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length));

async function layoutManifest(layoutDir: string, digest: string): Promise<Manifest> {
  return JSON.parse(await readFile(blobPath(layoutDir, digest), 'utf8')) as Manifest;
}

const blobsOf = (m: Manifest) => [m.config!.digest, ...(m.layers ?? []).map((l) => l.digest)];

describe('containerd pulling from berth', () => {
  let berth: RunningBerth;
  let ctd: Containerd;
  let work: string;
  let hello: BuiltImage;
  let mirrored: BuiltImage;
  let multi: BuiltIndex;

  /** `ctr images ls` as ref → target digest. */
  async function imageDigests(): Promise<Map<string, string>> {
    const { stdout } = await ctd.ctr(['images', 'ls']);
    const rows = stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/));
    return new Map(rows.map((r) => [r[0]!, r[2]!]));
  }

  /** Digests in containerd's content store (`ctr content ls`). */
  async function contentDigests(): Promise<Set<string>> {
    const { stdout } = await ctd.ctr(['content', 'ls', '-q']);
    return new Set(stdout.split('\n').filter(Boolean));
  }

  /** containerd's stored bytes for `digest` hash to the source layout's bytes (`ctr content get`, raw). */
  async function assertContentBytes(layoutDir: string, digest: string): Promise<void> {
    const stored = await contentSha256(ctd, digest);
    assert.equal(stored, sha256(await readFile(blobPath(layoutDir, digest))), `content ${digest}`);
    assert.equal(stored, digest);
  }

  const entriesFor = (es: BerthAccessEntry[], prefix: string) => es.filter((e) => e.path.startsWith(prefix));

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'ctr', 'containerd']);
    work = await tempDir('e2e-containerd');
    [berth, ctd] = await Promise.all([startBerth(), startContainerd()]);
    hello = await buildOciImage(join(work, 'hello'), {
      tag: '1.0',
      layers: [{ files: { '/etc/hello': 'hello from berth\n' } }, { randomBytes: 512 * 1024, path: '/data/hello.bin' }],
    });
    mirrored = await buildOciImage(join(work, 'mirrored'), {
      tag: '2.0',
      layers: [{ files: { '/etc/mirrored': 'served by the mirror\n' } }, { randomBytes: 256 * 1024, path: '/data/m.bin' }],
    });
    multi = await buildMultiArchIndex(join(work, 'multi'), {
      tag: 'idx',
      layers: (p) => [{ files: { '/etc/platform': `${p.os}/${p.architecture} ${Date.now()}\n` } }],
    });
    await skopeoCopy(hello.ref, `${berth.url}/library/hello:1.0`);
    await skopeoCopy(mirrored.ref, `${berth.url}/library/mirrored:2.0`);
    await skopeoCopy(multi.ref, `${berth.url}/multi:idx`, { all: true });
  });

  after(async () => {
    await ctd?.stop();
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('pulls from berth as the registry over plain http', async () => {
    const ref = `${berth.host}/library/hello:1.0`;
    await ctd.pull(ref, { plainHttp: true, useHostsDir: false });

    const served = await skopeoInspect(`${berth.url}/library/hello:1.0`, { raw: true });
    assert.equal(sha256(served.text), hello.descriptor.digest);
    assert.equal((await imageDigests()).get(ref), hello.descriptor.digest);

    const content = await contentDigests();
    const manifest = await layoutManifest(hello.layoutDir, hello.descriptor.digest);
    for (const d of [hello.descriptor.digest, ...blobsOf(manifest)]) assert.ok(content.has(d), `content store lacks ${d}`);
    await assertContentBytes(hello.layoutDir, hello.descriptor.digest);
    for (const d of blobsOf(manifest)) await assertContentBytes(hello.layoutDir, d);

    // Every request of the pull is in berth's access log with the fields operators rely on.
    const want = blobsOf(manifest).map((d) => `/v2/library/hello/blobs/${d}`);
    const pulled = (es: BerthAccessEntry[]) => want.every((p) => es.some((e) => e.method === 'GET' && e.path === p && e.status === 200));
    const log = entriesFor(await berthAccessLog(berth.logFile, pulled), '/v2/library/hello/');
    assert.ok(pulled(log), 'config and layer GETs logged with 200');
    assert.ok(log.some((e) => (e.method === 'HEAD' || e.method === 'GET') && e.path === '/v2/library/hello/manifests/1.0' && e.status === 200));
    for (const e of log) {
      assert.equal(typeof e.method, 'string');
      assert.equal(typeof e.status, 'number');
      assert.match(e.reqId, /^[A-Za-z0-9._:-]{1,128}$/);
      assert.ok(typeof e.durationMs === 'number' && e.durationMs >= 0, `durationMs of ${e.method} ${e.path}`);
    }
    assert.equal(new Set(log.map((e) => e.reqId)).size, log.length, 'a request id per request');
  });

  it('serves as a hosts.toml mirror for a made-up upstream, accepting ?ns=', async () => {
    await writeHostsToml(ctd.hostsDir, UPSTREAM, berth.url);
    const ref = `${UPSTREAM}/library/mirrored:2.0`;
    await ctd.pull(ref);
    assert.equal((await imageDigests()).get(ref), mirrored.descriptor.digest);

    const manifest = await layoutManifest(mirrored.layoutDir, mirrored.descriptor.digest);
    const content = await contentDigests();
    for (const d of [mirrored.descriptor.digest, ...blobsOf(manifest)]) assert.ok(content.has(d), `content store lacks ${d}`);

    const want = blobsOf(manifest).map((d) => `/v2/library/mirrored/blobs/${d}`);
    const pulled = (es: BerthAccessEntry[]) => want.every((p) => es.some((e) => e.method === 'GET' && e.path === p && e.status === 200));
    const log = entriesFor(await berthAccessLog(berth.logFile, pulled), '/v2/library/mirrored/');
    assert.ok(pulled(log), 'config and layer GETs logged with 200');
    // The pushes came from skopeo without ?ns; everything containerd sent carries it and succeeded.
    const fromContainerd = log.filter((e) => e.method === 'GET' || e.method === 'HEAD').filter((e) => e.query);
    assert.ok(fromContainerd.length >= 1 + want.length);
    for (const e of fromContainerd) {
      assert.equal(new URLSearchParams(e.query).get('ns'), UPSTREAM, `${e.method} ${e.path}?${e.query}`);
      assert.equal(e.status, 200, `${e.method} ${e.path}?${e.query}`);
    }
    assert.ok(fromContainerd.some((e) => e.path === '/v2/library/mirrored/manifests/2.0'));
  });

  it('pulls one platform of a multi-arch index with --platform linux/arm64', async () => {
    const ref = `${berth.host}/multi:idx`;
    await ctd.pull(ref, { plainHttp: true, useHostsDir: false, platform: 'linux/arm64' });

    const info = await skopeoInspect(`${berth.url}/multi:idx`, { extraArgs: ['--override-arch', 'arm64'] });
    assert.equal(info.Digest, multi.descriptor.digest);
    assert.equal(info.Architecture, 'arm64');
    assert.equal((await imageDigests()).get(ref), info.Digest);

    const arm = multi.manifests.find((m) => m.platform?.architecture === 'arm64')!;
    const amd = multi.manifests.find((m) => m.platform?.architecture === 'amd64')!;
    const armManifest = await layoutManifest(multi.layoutDir, arm.digest);
    const amdManifest = await layoutManifest(multi.layoutDir, amd.digest);
    assert.deepEqual(info.Layers, armManifest.layers?.map((l) => l.digest));

    const content = await contentDigests();
    for (const d of [multi.descriptor.digest, arm.digest, ...blobsOf(armManifest)]) assert.ok(content.has(d), `content store lacks ${d}`);
    // Only the arm64 image was fetched: the amd64 platform's own layer never reached containerd.
    for (const l of amdManifest.layers ?? []) assert.ok(!content.has(l.digest), `amd64 layer ${l.digest} was fetched`);
    await assertContentBytes(multi.layoutDir, multi.descriptor.digest);
    await assertContentBytes(multi.layoutDir, arm.digest);

    const log = await berthAccessLog(berth.logFile, (es) =>
      es.some((e) => e.method === 'GET' && e.path === `/v2/multi/manifests/${arm.digest}` && e.status === 200));
    assert.ok(log.some((e) => e.method === 'GET' && e.path === `/v2/multi/manifests/${arm.digest}` && e.status === 200));
    assert.ok(!log.some((e) => e.method === 'GET' && e.path === `/v2/multi/manifests/${amd.digest}`), 'amd64 manifest fetched');
  });
});
