// The pull-through spool is separate from the final store: a fill spools under the default root's
// `_berth/spool/` while clients follow it, and the verified blob is then copied into the repository's own store
// (here a subPaths route on another root, which a move cannot reach) and the spool removed.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { eventually } from '../helpers/eventually.js';
import { buildOciImage, skopeoCopy } from '../helpers/images.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';
import { startUpstreamProxy, type UpstreamProxy } from '../helpers/upstream-proxy.js';

const LAYER = 6 * 1024 * 1024;
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function getBytes(url: string): Promise<Buffer> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}

describe('sync: pull-through spool separate from the final store', () => {
  let up: DockerRegistry;
  let slow: UpstreamProxy;
  let berth: RunningBerth;
  let work: string;
  let subRoot: string;
  let layers: Array<{ digest: string; size: number }>;

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry']);
    work = await tempDir('sync-spool');
    up = await startDockerRegistry();
    slow = await startUpstreamProxy(up.url, { bytesPerSecond: 3 * 1024 * 1024 });
    const img = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ randomBytes: LAYER }, { randomBytes: 200_000 }] });
    await skopeoCopy(img.ref, `${up.url}/lib/app:v1`);
    subRoot = join(work, 'cache-root');
    berth = await startBerth({
      storage: { subPaths: { '/cache': { rootDirectory: subRoot } } },
      extensions: { sync: { registries: [{ urls: [slow.url], onDemand: true, content: [{ prefix: '**', destination: '/cache' }] }] } },
    });
    const res = await fetch(`${berth.url}/v2/cache/lib/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.status, 200);
    layers = ((await res.json()) as { layers: Array<{ digest: string; size: number }> }).layers;
  });

  after(async () => {
    await berth?.stop();
    await slow?.stop();
    await up?.stop();
    await cleanupTempDirs();
  });

  it('spools under the default root while concurrent followers stream, then copies into the route\'s root and removes the spool', async () => {
    const big = layers.find((l) => l.size > LAYER)!;
    const spoolRoot = join(berth.root, '_berth', 'spool');
    const finalFile = join(subRoot, 'cache', 'lib', 'app', 'blobs', 'sha256', big.digest.slice(7));
    const pulls = Promise.all(Array.from({ length: 8 }, () => getBytes(`${berth.url}/v2/cache/lib/app/blobs/${big.digest}`)));
    // While the upstream trickles the blob in, its bytes grow in a spool under the default root, not in the route's store.
    await eventually(async () => (await readdir(spoolRoot).catch(() => [])).length === 1, 10_000);
    const [id] = await readdir(spoolRoot);
    assert.ok(existsSync(join(spoolRoot, id!, 'data')), 'the spool file');
    assert.ok(!existsSync(finalFile), 'nothing in the final store before the blob verified');
    const got = await pulls;
    for (const [i, bytes] of got.entries()) assert.equal(sha256(bytes), big.digest, `follower ${i}`);
    assert.equal(slow.requests.filter((r) => r.method === 'GET' && r.path.endsWith(big.digest)).length, 1, 'one upstream GET for 8 followers');
    // The verified copy lands in the route's root (a copy: another directory tree than the spool) and the spool goes.
    await eventually(async () => existsSync(finalFile) && (await readdir(spoolRoot)).length === 0, 10_000);
    assert.ok((await readFile(finalFile)).equals(got[0]!), 'the stored blob is the bytes the followers got');
    assert.ok(!existsSync(join(berth.root, 'cache')), 'nothing of the route in the default root');
    assert.ok(!existsSync(join(subRoot, 'cache', 'lib', 'app', '.sync')), 'no spool beside the repository');
    // Served from the final store from now on, with no further upstream request.
    assert.equal(sha256(await getBytes(`${berth.url}/v2/cache/lib/app/blobs/${big.digest}`)), big.digest);
    assert.equal(slow.requests.filter((r) => r.method === 'GET' && r.path.endsWith(big.digest)).length, 1);
  });
});
