// onlySigned on demand: by tag and by digest, a signed index's platforms, and the signatures themselves.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { buildMultiArchIndex, buildOciImage, headManifest, pushArtifactWithSubject, type BuiltIndex, type Descriptor } from '../helpers/images.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';

const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';

describe('sync: onlySigned on demand', () => {
  let up: DockerRegistry;
  let berth: RunningBerth;
  let multi: BuiltIndex;
  let unsigned: Descriptor;
  let signedImage: Descriptor;

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry']);
    const work = await tempDir('only-signed');
    up = await startDockerRegistry();
    multi = await buildMultiArchIndex(join(work, 'multi'), { tag: 'v1' });
    await skopeoCopy(multi.ref, `${up.url}/team/multi:v1`, { all: true });
    const index = await headManifest(up.url, 'team/multi', 'v1');
    // Distribution has no referrers API: cosign's legacy tag is how its signatures are found.
    await pushArtifactWithSubject(up.url, 'team/multi', index, 'application/vnd.dev.cosign.artifact.sig.v1+json', { tag: `${index.digest.replace(':', '-')}.sig` });
    const img = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ randomBytes: 10_000 }] });
    await skopeoCopy(img.ref, `${up.url}/team/unsigned:v1`);
    unsigned = await headManifest(up.url, 'team/unsigned', 'v1');
    await skopeoCopy(img.ref, `${up.url}/team/image:v1`);
    signedImage = await headManifest(up.url, 'team/image', 'v1');
    await pushArtifactWithSubject(up.url, 'team/image', signedImage, 'application/vnd.cncf.notary.signature', { tag: `${signedImage.digest.replace(':', '-')}.sig` });
    berth = await startBerth({ extensions: { sync: { registries: [{ urls: [up.url], onDemand: true, onlySigned: true }] } } });
  });

  after(async () => {
    await berth?.stop();
    await up?.stop();
    await cleanupTempDirs();
  });

  const get = (repo: string, ref: string) => fetch(`${berth.url}/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT } }).then(async (r) => ({ status: r.status, body: await r.arrayBuffer() }));

  it('refuses an unsigned image by tag and by digest', async () => {
    assert.equal((await get('team/unsigned', 'v1')).status, 404);
    assert.equal((await get('team/unsigned', unsigned.digest)).status, 404);
  });

  it('serves a signed image by digest, and its legacy signature tag', async () => {
    assert.equal((await get('team/image', signedImage.digest)).status, 200);
    assert.equal((await get('team/image', `${signedImage.digest.replace(':', '-')}.sig`)).status, 200);
  });

  it("refuses a signed index's platform by digest until the index is pulled, then serves it", async () => {
    const child = multi.manifests[0]!.digest;
    assert.equal((await get('team/multi', child)).status, 404, 'a child of an index not cached yet is judged by its own signature');
    assert.equal((await get('team/multi', 'v1')).status, 200);
    for (const m of multi.manifests) assert.equal((await get('team/multi', m.digest)).status, 200);
  });
});
