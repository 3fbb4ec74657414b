// Pull-through onto S3 with redirectBlobURL true and lazy platforms: containerd pulls one platform of a
// multi-arch index through berth as a hosts.toml mirror of a Distribution upstream (behind the counting,
// throttling test proxy). Only that platform's manifest and blobs are fetched upstream, once each; the cold pull
// gets the bytes from berth (a redirect would point at an object not yet in S3), a warm pull gets 307s to the
// presigned S3 URLs, and the other platform is fetched on demand when it is asked for.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { berthAccessLog, type BerthAccessEntry } from '../helpers/berth.js';
import { contentSha256, startContainerd, writeHostsToml, type Containerd } from '../helpers/containerd.js';
import { startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { buildMultiArchIndex, type BuiltIndex, type Descriptor } from '../helpers/images.js';
import { startS3Berth, type S3Berth } from '../helpers/s3-berth.js';
import { skopeoCopy, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';
import { startUpstreamProxy, type UpstreamProxy } from '../helpers/upstream-proxy.js';
import { sha256, hex } from '../helpers/digests.js';

const MiB = 1024 * 1024;

describe('pull-through onto S3 with lazy platforms and redirectBlobURL (containerd via a hosts.toml mirror)', () => {
  let up: DockerRegistry;
  let proxy: UpstreamProxy;
  let sb: S3Berth;
  let work: string;
  let multi: BuiltIndex;
  let local: string; // the repository berth caches it under
  const clients: Containerd[] = [];
  const platforms: Record<string, { desc: Descriptor; manifest: Manifest; blobs: string[] }> = {};

  const layoutBytes = (d: string) => readFile(join(multi.layoutDir, 'blobs', 'sha256', hex(d)));

  /** A fresh containerd (its own content store) whose hosts.toml sends the upstream's names to berth only. */
  async function freshContainerd(): Promise<Containerd> {
    const c = await startContainerd();
    clients.push(c);
    // The fallback server refuses connections: a pull that berth did not serve fails.
    await writeHostsToml(c.hostsDir, proxy.host, sb.berth.url, { server: 'http://127.0.0.1:1' });
    return c;
  }

  async function pull(c: Containerd, platform: string): Promise<void> {
    await c.pull(`${proxy.host}/lib/multi:idx`, { platform, timeoutMs: 120_000 });
    const info = platforms[platform]!;
    for (const d of [multi.descriptor.digest, info.desc.digest, ...info.blobs]) {
      assert.equal(await contentSha256(c, d), sha256(await layoutBytes(d)), `${platform}: containerd's bytes of ${d}`);
    }
  }

  const upstreamGets = (what: string) => proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/${what}`)).length;
  const logMark = async () => (await berthAccessLog(sb.berth.logFile)).length;

  /** containerd's blob GETs for the platform since `mark`, all answered with `status`. */
  async function assertBlobGets(mark: number, platform: string, status: number): Promise<BerthAccessEntry[]> {
    const paths = new Set(platforms[platform]!.blobs.map((d) => `/v2/lib/multi/blobs/${d}`));
    const done = (es: BerthAccessEntry[]) => [...paths].every((p) => es.some((e) => e.method === 'GET' && e.path === p));
    const log = (await berthAccessLog(sb.berth.logFile, (es) => done(es.slice(mark)))).slice(mark);
    const gets = log.filter((e) => e.method === 'GET' && paths.has(e.path));
    assert.ok(done(gets), `every ${platform} blob asked for: ${log.map((e) => `${e.method} ${e.path} ${e.status}`).join('\n')}`);
    assert.deepEqual(gets.filter((e) => e.status !== status).map((e) => `${e.path} ${e.status}`), [], `${platform} blob GETs answered ${status}`);
    for (const e of gets) assert.equal(new URLSearchParams(e.query).get('ns'), proxy.host);
    return gets;
  }

  /** Polls until the bucket holds exactly the blobs of the platforms pulled so far (commits finish after the bytes went out). */
  async function assertInBucket(present: string[], absent: string[]): Promise<void> {
    const key = (d: string) => `${sb.prefix}${local}/blobs/sha256/${hex(d)}`;
    let keys = new Set<string>();
    for (let i = 0; i < 100; i++) {
      keys = new Set(await sb.keys(sb.prefix));
      if (present.every((d) => keys.has(key(d)))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const d of present) assert.ok(keys.has(key(d)), `${d} committed to the bucket`);
    for (const d of absent) assert.ok(!keys.has(key(d)), `${d} not fetched`);
    assert.deepEqual(await sb.temporaryKeys(), [], 'no upload data in the bucket');
  }

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry', 'containerd', 'ctr']);
    work = await tempDir('e2e-s3-lazy');
    up = await startDockerRegistry();
    // Throttled: the layers' fills are still running while containerd reads them.
    proxy = await startUpstreamProxy(up.url, { bytesPerSecond: 4 * MiB });
    multi = await buildMultiArchIndex(join(work, 'multi'), {
      tag: 'idx',
      layers: (p) => [{ files: { '/etc/platform': `${p.os}/${p.architecture}\n` } }, { randomBytes: 3 * MiB, path: `/data/${p.architecture}.bin` }],
    });
    for (const desc of multi.manifests) {
      const manifest = JSON.parse((await layoutBytes(desc.digest)).toString('utf8')) as Manifest;
      platforms[`linux/${desc.platform!.architecture}`] = { desc, manifest, blobs: [manifest.config!.digest, ...manifest.layers!.map((l) => l.digest)] };
    }
    await skopeoCopy(multi.ref, `${up.url}/lib/multi:idx`, { all: true });
    sb = await startS3Berth({
      bucket: 'berth-lazy',
      driver: { chunksize: 5 * MiB },
      storage: () => ({ redirectBlobURL: true }),
      config: { extensions: { sync: { registries: [{ urls: [proxy.url], onDemand: true }] } } },
    });
    // An ?ns= pull of an upstream without content rules is cached under the upstream's host (sync/routing.ts).
    local = `${proxy.host.replace(':', '-')}/lib/multi`;
  });

  after(async () => {
    for (const c of clients) await c.stop();
    await sb?.stop();
    await proxy?.stop();
    await up?.stop();
    await cleanupTempDirs();
  });

  it('a cold pull of linux/arm64 gets the bytes from berth and fetches only that platform, once per blob', async () => {
    const mark = await logMark();
    await pull(await freshContainerd(), 'linux/arm64');
    await assertBlobGets(mark, 'linux/arm64', 200);
    const arm = platforms['linux/arm64']!;
    const amd = platforms['linux/amd64']!;
    assert.equal(upstreamGets(arm.desc.digest), 1, 'the arm64 manifest fetched once');
    for (const d of arm.blobs) assert.equal(upstreamGets(d), 1, `arm64 blob ${d} fetched once`);
    assert.equal(upstreamGets(amd.desc.digest), 0, 'the amd64 manifest not fetched');
    for (const d of amd.blobs) assert.equal(upstreamGets(d), 0, `amd64 blob ${d} not fetched`);
    await assertInBucket(arm.blobs, amd.blobs);
  });

  it('a warm pull of linux/arm64 is redirected to S3 for every blob, with no upstream GET', async () => {
    const before = proxy.requests.filter((r) => r.method === 'GET' && /\/blobs\//.test(r.path)).length;
    const mark = await logMark();
    await pull(await freshContainerd(), 'linux/arm64');
    await assertBlobGets(mark, 'linux/arm64', 307);
    assert.equal(proxy.requests.filter((r) => r.method === 'GET' && /\/blobs\//.test(r.path)).length, before, 'no upstream blob GET');
  });

  it('linux/amd64 is fetched on demand when asked for: bytes cold, once per blob, then redirected warm', async () => {
    const amd = platforms['linux/amd64']!;
    // A HEAD before the pull is a question answered from upstream: the size, never a redirect (nothing is in S3).
    const layer = amd.manifest.layers!.at(-1)!;
    const head = await fetch(`${sb.berth.url}/v2/lib/multi/blobs/${layer.digest}?ns=${encodeURIComponent(proxy.host)}`, { method: 'HEAD', redirect: 'manual' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(layer.size));
    let mark = await logMark();
    await pull(await freshContainerd(), 'linux/amd64');
    await assertBlobGets(mark, 'linux/amd64', 200);
    assert.equal(upstreamGets(amd.desc.digest), 1, 'the amd64 manifest fetched once');
    for (const d of amd.blobs) assert.equal(upstreamGets(d), 1, `amd64 blob ${d} fetched once`);
    await assertInBucket([...platforms['linux/arm64']!.blobs, ...amd.blobs], []);
    mark = await logMark();
    await pull(await freshContainerd(), 'linux/amd64');
    await assertBlobGets(mark, 'linux/amd64', 307);
    for (const d of amd.blobs) assert.equal(upstreamGets(d), 1, `amd64 blob ${d} still fetched once`);
  });
});
