// One berth mirroring two real Distribution upstreams (one behind htpasswd): containerd routes by ?ns= through
// hosts.toml, skopeo by Zot's content prefix/destination rules; bytes and digests are the upstream's.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startContainerd, writeHostsToml, type Containerd } from '../helpers/containerd.js';
import { accessLogEntries, startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { buildMultiArchIndex, buildOciImage, type BuiltIndex } from '../helpers/images.js';
import { skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';

const sha256 = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Every file of a skopeo `dir:` copy, name → bytes (manifest.json is the raw manifest, blobs by hex). */
async function dirFiles(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of await readdir(dir)) out.set(name, await readFile(join(dir, name)));
  return out;
}

async function assertSameCopy(a: string, b: string): Promise<void> {
  const [x, y] = [await dirFiles(a), await dirFiles(b)];
  assert.deepEqual([...x.keys()].sort(), [...y.keys()].sort());
  for (const [name, bytes] of x) assert.ok(bytes.equals(y.get(name)!), `${name} differs`);
}

describe('sync: one berth mirrors several upstreams', () => {
  let open: DockerRegistry;
  let priv: DockerRegistry;
  let berth: RunningBerth;
  let ctd: Containerd;
  let work: string;
  let multi: BuiltIndex;

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'ctr', 'containerd', 'docker-registry', 'htpasswd']);
    work = await tempDir('sync-mirror');
    [open, priv, ctd] = await Promise.all([
      startDockerRegistry(),
      startDockerRegistry({ htpasswd: { user: 'puller', password: 's3cret' } }),
      startContainerd(),
    ]);
    // The same repository name on both upstreams with different content: routing must keep them apart.
    const a = await buildOciImage(join(work, 'a'), { tag: 'v1', layers: [{ files: { '/etc/who': 'open upstream\n' } }, { randomBytes: 300_000 }] });
    const b = await buildOciImage(join(work, 'b'), { tag: 'v1', layers: [{ files: { '/etc/who': 'private upstream\n' } }, { randomBytes: 200_000 }] });
    multi = await buildMultiArchIndex(join(work, 'multi'), {
      tag: 'v1',
      layers: (p) => [{ files: { '/etc/platform': `${p.architecture}\n` } }, { randomBytes: 100_000 }],
    });
    await skopeoCopy(a.ref, `${open.url}/lib/app:v1`);
    await skopeoCopy(a.ref, `${open.url}/lib/docker:v1`, { format: 'v2s2' });
    await skopeoCopy(multi.ref, `${open.url}/lib/multi:v1`, { all: true });
    await skopeoCopy(b.ref, `${priv.url}/lib/app:v1`, { creds: priv.creds });

    const credentialsFile = join(work, 'credentials.json');
    await writeFile(credentialsFile, JSON.stringify({ [priv.host]: { username: 'puller', password: 's3cret' } }));
    berth = await startBerth({
      extensions: {
        sync: {
          credentialsFile,
          registries: [
            { urls: [open.url], onDemand: true, content: [{ prefix: '**', destination: '/open' }] },
            { urls: [priv.url], onDemand: true, content: [{ prefix: '**', destination: '/priv' }] },
          ],
        },
      },
    });
    await writeHostsToml(ctd.hostsDir, open.host, berth.url);
    await writeHostsToml(ctd.hostsDir, priv.host, berth.url);
  });

  after(async () => {
    await ctd?.stop();
    await berth?.stop();
    await Promise.all([open?.stop(), priv?.stop()]);
    await cleanupTempDirs();
  });

  it('containerd pulls the same name from two upstreams through one berth, routed by ?ns=', async () => {
    await ctd.pull(`${open.host}/lib/app:v1`);
    await ctd.pull(`${priv.host}/lib/app:v1`);
    const { stdout } = await ctd.ctr(['images', 'ls']);
    const digests = new Map(stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)).map((r) => [r[0]!, r[2]!]));
    const fromOpen = (await skopeoInspect(`${open.url}/lib/app:v1`)).Digest;
    const fromPriv = (await skopeoInspect(`${priv.url}/lib/app:v1`, { creds: priv.creds })).Digest;
    assert.notEqual(fromOpen, fromPriv);
    assert.equal(digests.get(`${open.host}/lib/app:v1`), fromOpen);
    assert.equal(digests.get(`${priv.host}/lib/app:v1`), fromPriv);
    // Stored per upstream (the rule's destination), so the two never collide.
    assert.equal((await skopeoInspect(`${berth.url}/open/lib/app:v1`)).Digest, fromOpen);
    assert.equal((await skopeoInspect(`${berth.url}/priv/lib/app:v1`)).Digest, fromPriv);
    // The private upstream saw berth's credentials (its log has authenticated 200s for the pull).
    const privLog = await accessLogEntries(priv.logFile);
    assert.ok(privLog.some((e) => e.userAgent === 'berth-sync' && e.status === 200 && e.path.startsWith('/v2/lib/app/blobs/')));
  });

  it('skopeo without ?ns gets byte-identical content by the content rules, Docker v2s2 digests preserved', async () => {
    for (const repo of ['lib/app:v1', 'lib/docker:v1']) {
      const direct = join(work, `direct-${repo.replace(/\W/g, '-')}`);
      const mirrored = join(work, `mirrored-${repo.replace(/\W/g, '-')}`);
      await skopeoCopy(`${open.url}/${repo}`, `dir:${direct}`);
      await skopeoCopy(`${berth.url}/open/${repo}`, `dir:${mirrored}`);
      await assertSameCopy(direct, mirrored);
    }
    const raw = await skopeoInspect(`${berth.url}/open/lib/docker:v1`, { raw: true });
    assert.match(raw.text, /application\/vnd\.docker\.distribution\.manifest\.v2\+json/);
    const res = await fetch(`${berth.url}/v2/open/lib/docker/manifests/v1`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(res.headers.get('docker-content-digest'), sha256(raw.text));
    assert.equal(res.headers.get('content-type'), 'application/vnd.docker.distribution.manifest.v2+json');
  });

  it('pulling linux/amd64 of an index never fetches the arm64 manifest or blobs', async () => {
    await ctd.pull(`${open.host}/lib/multi:v1`, { platform: 'linux/amd64' });
    const arm = multi.manifests.find((m) => m.platform?.architecture === 'arm64')!;
    const armManifest = JSON.parse(await readFile(join(multi.layoutDir, 'blobs', 'sha256', arm.digest.slice(7)), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const armDigests = [arm.digest, armManifest.config.digest, ...armManifest.layers.map((l) => l.digest)];
    const log = (await accessLogEntries(open.logFile)).filter((e) => e.userAgent === 'berth-sync');
    assert.ok(log.some((e) => e.path === '/v2/lib/multi/manifests/v1' && e.method === 'GET'), 'index fetched');
    for (const d of armDigests) assert.ok(!log.some((e) => e.path.includes(d)), `arm64 content ${d} was fetched upstream`);
    // The index is cached whole; the arm64 child is not.
    const stored = await readdir(join(berth.root, 'open', 'lib', 'multi', 'blobs', 'sha256'));
    for (const d of armDigests) assert.ok(!stored.includes(d.slice(7)), `arm64 ${d} stored`);
  });

  it('keeps serving cached images with the upstream stopped, and says so for what is not cached', async () => {
    await open.stop();
    const again = join(work, 'offline');
    await skopeoCopy(`${berth.url}/open/lib/app:v1`, `dir:${again}`);
    await assertSameCopy(join(work, 'direct-lib-app-v1'), again);
    await ctd.ctr(['images', 'rm', `${open.host}/lib/app:v1`]);
    await ctd.ctr(['content', 'prune', 'references'], { allowFail: true });
    await ctd.pull(`${open.host}/lib/app:v1`);
    // Uncached content with the upstream down: an error that says so, not a "does not exist".
    const missing = await fetch(`${berth.url}/v2/open/lib/nothere/manifests/v1`);
    assert.equal(missing.status, 503);
    assert.ok(Number(missing.headers.get('retry-after')) > 0);
    const [error] = ((await missing.json()) as { errors: Array<{ code: string; message: string }> }).errors;
    assert.equal(error!.code, 'UNAVAILABLE');
    assert.match(error!.message, new RegExp(`upstream ${open.host.replace(/\./g, '\\.')} could not be reached`));
    // Nothing half-written was left in the spool.
    assert.deepEqual(await readdir(join(berth.root, '_berth', 'spool')).catch(() => []), []);
  });
});
