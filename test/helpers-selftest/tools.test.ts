// The test helpers against the real tools: if these fail, every e2e test built on them would mislead.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startContainerd, writeHostsToml, type Containerd } from '../helpers/containerd.js';
import { accessLogEntries, countRequests, logOffset, startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { buildMultiArchIndex, buildOciImage, type BuiltImage } from '../helpers/images.js';
import { headManifest, pushArtifactWithSubject } from '../helpers/artifact-push.js';
import { skopeoCopy, skopeoDelete, skopeoInspect, skopeoListTags, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, freePort, run, tempDir } from '../helpers/tools.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const V2S2_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const sha256 = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function layoutManifest(img: BuiltImage): Promise<Manifest> {
  const hex = img.descriptor.digest.slice('sha256:'.length);
  return JSON.parse(await readFile(join(img.layoutDir, 'blobs', 'sha256', hex), 'utf8')) as Manifest;
}

describe('test helpers with real tools', () => {
  let reg: DockerRegistry;
  let ctd: Containerd;
  let work: string;
  let image: BuiltImage;

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'ctr', 'containerd', 'docker-registry', 'htpasswd']);
    work = await tempDir('selftest');
    [reg, ctd] = await Promise.all([startDockerRegistry(), startContainerd()]);
    image = await buildOciImage(join(work, 'layout'), {
      tag: 'two',
      layers: [{ files: { '/etc/motd': 'hello from berth\n', '/bin/tool': Buffer.from([0, 1, 2]) } }, { randomBytes: 300_000, seed: 7 }],
      config: { labels: { 'org.berth.test': 'yes' }, env: { BERTH: '1' } },
      annotations: { 'org.berth.built': 'selftest' },
    });
  });

  after(async () => {
    await ctd?.stop();
    await reg?.stop();
    await cleanupTempDirs();
  });

  it('run reports stderr on failure and the code with allowFail', async () => {
    await assert.rejects(run('sh', ['-c', 'echo boom >&2; exit 3']), /exited 3\nboom/);
    assert.equal((await run('sh', ['-c', 'exit 4'], { allowFail: true })).code, 4);
    await assert.rejects(run('sleep', ['5'], { timeoutMs: 100 }), /timed out/);
    assert.ok((await freePort()) > 0);
  });

  it('builds well-formed, repeatable layers with umoci', async () => {
    const m = await layoutManifest(image);
    assert.equal(m.layers?.length, 2);
    assert.equal(m.annotations?.['org.berth.built'], 'selftest');
    for (const l of m.layers ?? []) {
      // GNU tar is strict about end-of-archive padding, which `umoci insert` gets wrong.
      await run('tar', ['-tzf', join(image.layoutDir, 'blobs', 'sha256', l.digest.slice(7))]);
    }
    const again = await buildOciImage(join(work, 'layout-again'), {
      layers: [{ files: { '/etc/motd': 'hello from berth\n', '/bin/tool': Buffer.from([0, 1, 2]) } }, { randomBytes: 300_000, seed: 7 }],
    });
    assert.deepEqual((await layoutManifest(again)).layers, m.layers);
  });

  it('pushes with skopeo as OCI and as v2s2 and reads the same layers back', async () => {
    const layers = (await layoutManifest(image)).layers?.map((l) => l.digest);
    await skopeoCopy(image.ref, `${reg.url}/selftest/two:oci`, { format: 'oci' });
    await skopeoCopy(image.ref, `docker://${reg.host}/selftest/two:v2s2`, { format: 'v2s2' });

    const oci = await skopeoInspect(`${reg.url}/selftest/two:oci`, { raw: true });
    // umoci leaves out the optional `mediaType` field; the registry still serves the OCI type.
    assert.equal((await headManifest(reg.url, 'selftest/two', 'oci')).mediaType, OCI_MANIFEST);
    assert.deepEqual(oci.manifest.layers?.map((l) => l.digest), layers);
    assert.equal(sha256(oci.text), image.descriptor.digest);

    const v2 = await skopeoInspect(`${reg.url}/selftest/two:v2s2`, { raw: true });
    assert.equal(v2.manifest.mediaType, V2S2_MANIFEST);
    assert.deepEqual(v2.manifest.layers?.map((l) => l.digest), layers);
    assert.equal(sha256(v2.text), (await headManifest(reg.url, 'selftest/two', 'v2s2')).digest);

    const info = await skopeoInspect(`${reg.url}/selftest/two:oci`);
    assert.deepEqual(info.Layers, layers);
    assert.equal(info.Labels?.['org.berth.test'], 'yes');
    assert.ok(info.Env?.includes('BERTH=1'));
    assert.deepEqual((await skopeoListTags(`${reg.url}/selftest/two`)).sort(), ['oci', 'v2s2']);
    assert.equal(await countRequests(reg.logFile, /^PUT \/v2\/selftest\/two\/manifests\/(oci|v2s2)$/), 2);
  });

  it('deletes a tag with skopeo', async () => {
    await skopeoCopy(image.ref, `${reg.url}/selftest/doomed:1`);
    await skopeoDelete(`${reg.url}/selftest/doomed:1`);
    const res = await fetch(`${reg.url}/v2/selftest/doomed/manifests/${image.descriptor.digest}`);
    assert.equal(res.status, 404);
  });

  it('pushes a two-platform index with --all', async () => {
    const idx = await buildMultiArchIndex(join(work, 'multi'));
    await skopeoCopy(idx.ref, `${reg.url}/selftest/multi:1`, { all: true });
    const { text, manifest } = await skopeoInspect(`${reg.url}/selftest/multi:1`, { raw: true });
    assert.equal(manifest.mediaType, OCI_INDEX);
    assert.equal(sha256(text), idx.descriptor.digest);
    assert.deepEqual(manifest.manifests?.map((m) => `${m.platform?.os}/${m.platform?.architecture}`), ['linux/amd64', 'linux/arm64']);
    for (const m of idx.manifests) assert.equal((await headManifest(reg.url, 'selftest/multi', m.digest)).digest, m.digest);
  });

  it('pushes an OCI 1.1 artifact with a subject', async () => {
    const subject = await headManifest(reg.url, 'selftest/two', 'oci');
    const art = await pushArtifactWithSubject(reg.url, 'selftest/two', subject, 'application/vnd.berth.test.sbom');
    const res = await fetch(`${reg.url}/v2/selftest/two/manifests/${art.descriptor.digest}`, { headers: { accept: OCI_MANIFEST } });
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(sha256(body), art.descriptor.digest);
    const got = JSON.parse(body.toString()) as Manifest;
    assert.equal(got.subject?.digest, subject.digest);
    assert.equal(got.artifactType, 'application/vnd.berth.test.sbom');
  });

  it('starts docker-registry with htpasswd and stops it by PID, twice', async () => {
    const auth = await startDockerRegistry({ htpasswd: { user: 'alice', password: 's3cret' } });
    try {
      assert.equal((await fetch(`${auth.url}/v2/`)).status, 401);
      const anon = await skopeoCopy(image.ref, `${auth.url}/private/img:1`, { allowFail: true });
      assert.notEqual(anon.code, 0);
      await skopeoCopy(image.ref, `${auth.url}/private/img:1`, { creds: auth.creds });
      assert.deepEqual(await skopeoListTags(`${auth.url}/private/img`, { creds: auth.creds }), ['1']);
    } finally {
      await auth.stop();
    }
    await auth.stop();
    assert.equal(isAlive(auth.pid), false);
  });

  it('fails fast with the registry\'s own error on a bad config', async () => {
    const started = Date.now();
    await assert.rejects(startDockerRegistry({ extraConfig: { storage: { inmemory: {} } } }), /must provide exactly one storage type/);
    assert.ok(Date.now() - started < 10_000);
  });

  it('pulls with ctr directly over plain http', async () => {
    const before = await logOffset(reg.logFile);
    await ctd.pull(`${reg.host}/selftest/multi:1`, { plainHttp: true, useHostsDir: false });
    const { stdout } = await ctd.ctr(['images', 'ls', '-q']);
    assert.ok(stdout.split('\n').includes(`${reg.host}/selftest/multi:1`));
    // The index, this platform's manifest, its config and its one layer.
    assert.equal(await countRequests(reg.logFile, /^GET \/v2\/selftest\/multi\/manifests\/sha256:/, before), 2);
    assert.equal(await countRequests(reg.logFile, /^GET \/v2\/selftest\/multi\/blobs\//, before), 2);
  });

  it('pulls with ctr through a hosts.toml mirror, which adds ?ns=<upstream host>', async () => {
    await writeHostsToml(ctd.hostsDir, 'upstream.berth.test', reg.url);
    const before = await logOffset(reg.logFile);
    await ctd.pull('upstream.berth.test/selftest/two:v2s2');
    const seen = await accessLogEntries(reg.logFile, before);
    assert.ok(seen.length > 0);
    for (const e of seen) assert.match(e.path, /\?ns=upstream\.berth\.test$/, `${e.method} ${e.path}`);
    assert.equal(await countRequests(reg.logFile, /^HEAD \/v2\/selftest\/two\/manifests\/v2s2\?ns=/, before), 1);
    // Config and two layers: nothing of this image was in containerd's content store yet.
    assert.equal(await countRequests(reg.logFile, /^GET \/v2\/selftest\/two\/blobs\/sha256:[0-9a-f]{64}\?ns=/, before), 3);
  });
});
