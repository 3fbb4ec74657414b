// extensions.lint against real clients: skopeo pushes refused and accepted, what is not linted (indexes,
// signatures, Docker schema 2), and images written by periodic sync and pull-through from a real Distribution.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { buildOciImage, pushArtifactWithSubject, type BuiltImage } from '../helpers/images.js';
import { skopeoCopy, skopeoInspect, skopeoListTags } from '../helpers/skopeo.js';
import { eventually } from '../helpers/eventually.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';

const TITLE = 'org.opencontainers.image.title';
const VENDOR = 'org.opencontainers.image.vendor';
const LINT = { lint: { enable: true, mandatoryAnnotations: [TITLE, VENDOR] } };

const manifestBytes = (img: BuiltImage) => readFile(join(img.layoutDir, 'blobs', 'sha256', img.descriptor.digest.slice('sha256:'.length)));
const tagsOf = (url: string) => skopeoListTags(url).catch(() => [] as string[]);

async function putManifest(berth: RunningBerth, repo: string, reference: string, mediaType: string, body: Buffer): Promise<{ status: number; json: any }> {
  const res = await fetch(`${berth.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': mediaType }, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

describe('lint: mandatory annotations', () => {
  let bare: BuiltImage; // neither key
  let good: BuiltImage; // title as an annotation, vendor as a config label
  let half: BuiltImage; // title only
  let up: DockerRegistry;
  const berths: RunningBerth[] = [];
  const start = async (config: Record<string, unknown>) => {
    const b = await startBerth(config);
    berths.push(b);
    return b;
  };

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry']);
    const work = await tempDir('lint');
    bare = await buildOciImage(join(work, 'bare'), { tag: 'v1', layers: [{ randomBytes: 50_000 }] });
    good = await buildOciImage(join(work, 'good'), { tag: 'v1', layers: [{ randomBytes: 50_000 }], annotations: { [TITLE]: 'app' }, config: { labels: { [VENDOR]: 'berth' } } });
    half = await buildOciImage(join(work, 'half'), { tag: 'v1', layers: [{ randomBytes: 50_000 }], annotations: { [TITLE]: 'app' } });
    up = await startDockerRegistry();
    await skopeoCopy(bare.ref, `${up.url}/team/app:bare`);
    await skopeoCopy(good.ref, `${up.url}/team/app:good`);
  });

  after(async () => {
    for (const b of berths) await b.stop();
    await up?.stop();
    await cleanupTempDirs();
  });

  it('refuses a push missing keys with 400 MANIFEST_INVALID naming them, and changes nothing', async () => {
    const berth = await start({ extensions: LINT });
    const pushed = await skopeoCopy(bare.ref, `${berth.url}/app:bare`, { allowFail: true });
    assert.notEqual(pushed.code, 0, 'skopeo push of an unannotated image succeeded');
    assert.match(pushed.stderr, /manifest invalid/i);
    // Refused as OCI, skopeo retries the image converted to Docker schema 2: that is linted as well.
    assert.notEqual((await skopeoCopy(bare.ref, `${berth.url}/app:bare`, { allowFail: true, format: 'v2s2' })).code, 0);
    assert.equal((await fetch(`${berth.url}/v2/app/manifests/bare`, { method: 'HEAD' })).status, 404);

    // skopeo uploads the blobs before the manifest: the manifest PUT is what is refused, naming each missing key.
    assert.notEqual((await skopeoCopy(half.ref, `${berth.url}/app:half`, { allowFail: true })).code, 0);
    const again = await putManifest(berth, 'app', 'half', half.descriptor.mediaType, await manifestBytes(half));
    assert.equal(again.status, 400);
    assert.equal(again.json.errors[0].code, 'MANIFEST_INVALID');
    assert.deepEqual(again.json.errors[0].detail.missingAnnotations, [VENDOR]);
    assert.match(again.json.errors[0].detail.reason, new RegExp(`${VENDOR.replace(/\./g, '\\.')}`));
    assert.deepEqual(await tagsOf(`${berth.url}/app`), []);
  });

  it('accepts keys found in the annotations or the config labels; indexes and signatures are not linted', async () => {
    const berth = await start({ extensions: LINT });
    await skopeoCopy(good.ref, `${berth.url}/app:good`);
    assert.equal((await skopeoInspect(`${berth.url}/app:good`)).Digest, good.descriptor.digest);

    const child = { mediaType: good.descriptor.mediaType, digest: good.descriptor.digest, size: good.descriptor.size, platform: { architecture: 'amd64', os: 'linux' } };
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [child] }));
    assert.equal((await putManifest(berth, 'app', 'multi', 'application/vnd.oci.image.index.v1+json', index)).status, 201);

    await pushArtifactWithSubject(berth.url, 'app', good.descriptor, 'application/vnd.dev.cosign.artifact.sig.v1+json');
    await pushArtifactWithSubject(berth.url, 'app', good.descriptor, 'application/vnd.cncf.notary.signature');
    await assert.rejects(pushArtifactWithSubject(berth.url, 'app', good.descriptor, 'application/vnd.example.sbom'), /400/);

    // Docker schema 2 has no annotations: its config labels must hold every key.
    const labelled = await buildOciImage(join(await tempDir('lint-docker'), 'img'), { tag: 'v1', layers: [{ randomBytes: 1000 }], config: { labels: { [TITLE]: 'app', [VENDOR]: 'berth' } } });
    await skopeoCopy(labelled.ref, `${berth.url}/app:docker`, { format: 'v2s2' });
    assert.deepEqual((await tagsOf(`${berth.url}/app`)).sort(), ['docker', 'good', 'multi']);
  });

  it('is off unless enable is true, as in Zot', async () => {
    const berth = await start({ extensions: { lint: { mandatoryAnnotations: [TITLE] } } });
    await skopeoCopy(bare.ref, `${berth.url}/app:bare`);
    assert.deepEqual(await tagsOf(`${berth.url}/app`), ['bare']);
  });

  it('refuses an image periodic sync copies without the keys, and keeps syncing the others', async () => {
    const berth = await start({
      extensions: {
        ...LINT,
        // One image at a time, in the upstream's tag order: "bare" is judged before "good" appears.
        sync: { registries: [{ urls: [up.url], onDemand: false, pollInterval: '1h', reqConcurrent: 1, content: [{ prefix: 'team/app', destination: '/mirror' }] }] },
      },
    });
    await eventually(async () => (await tagsOf(`${berth.url}/mirror/team/app`)).includes('good'));
    assert.deepEqual(await tagsOf(`${berth.url}/mirror/team/app`), ['good']);
  });

  it('refuses to pull through an image without the keys (the client gets the reason) and serves one with them', async () => {
    const berth = await start({
      extensions: { ...LINT, sync: { registries: [{ urls: [up.url], onDemand: true, content: [{ prefix: 'team/**', destination: '/cache' }] }] } },
    });
    const res = await fetch(`${berth.url}/v2/cache/team/app/manifests/bare`, { headers: { accept: bare.descriptor.mediaType } });
    assert.equal(res.status, 400);
    const body = (await res.json()) as any;
    assert.equal(body.errors[0].code, 'MANIFEST_INVALID');
    assert.deepEqual(body.errors[0].detail.missingAnnotations, [TITLE, VENDOR]);
    assert.equal((await skopeoInspect(`${berth.url}/cache/team/app:good`)).Digest, good.descriptor.digest);
  });
});
