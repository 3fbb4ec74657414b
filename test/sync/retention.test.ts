// storage.retention (Zot's policies, every gcInterval) over pushed and pulled-through content, with pull times
// that survive a restart.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSqliteMetaStore } from '../../storage-drivers/metadata/sqlite/index.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { skopeoCopy, skopeoInspect, skopeoListTags } from '../helpers/skopeo.js';
import { eventually } from '../helpers/eventually.js';
import { cleanupTempDirs, ensureTools, sleep, tempDir } from '../helpers/tools.js';

const tagsOf = (berth: RunningBerth, repo: string) => skopeoListTags(`${berth.url}/${repo}`).then((t) => t.sort(), () => [] as string[]);
const blobFile = (berth: RunningBerth, repo: string, digest: string) => join(berth.root, ...repo.split('/'), 'blobs', 'sha256', digest.slice(7));
const layerOf = async (berth: RunningBerth, ref: string) => (await skopeoInspect(`${berth.url}/${ref}`)).Layers[0]!;
const layerInLayout = async (img: BuiltImage) => (await skopeoInspect(img.ref)).Layers[0]!;

describe('storage.retention', () => {
  const images: BuiltImage[] = [];
  const berths: RunningBerth[] = [];
  let up: DockerRegistry;

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry']);
    const work = await tempDir('retention');
    for (let i = 0; i < 4; i++) images.push(await buildOciImage(join(work, `img${i}`), { tag: 'x', layers: [{ randomBytes: 50_000 }] }));
    up = await startDockerRegistry();
    for (const [i, tag] of ['a', 'b', 'c'].entries()) await skopeoCopy(images[i]!.ref, `${up.url}/team/app:${tag}`);
  });

  after(async () => {
    for (const b of berths) await b.stop();
    await up?.stop();
    await cleanupTempDirs();
  });

  const retentionBerth = async (retention: object, extra: object = {}) => {
    const berth = await startBerth({ ...extra, storage: { gcInterval: '1s', retention: { delay: '1s', ...retention }, ...((extra as { storage?: object }).storage ?? {}) } });
    berths.push(berth);
    return berth;
  };

  it('keeps the tags keepTags selects (patterns, mostRecentlyPushedCount) and removes the rest with their untagged manifests and blobs', async () => {
    const berth = await retentionBerth({ policies: [{ repositories: ['apps/**'], keepTags: [{ patterns: ['^v'], mostRecentlyPushedCount: 2 }] }] });
    for (const [i, tag] of ['v1', 'v2', 'v3', 'dev-1'].entries()) {
      await skopeoCopy(images[i]!.ref, `${berth.url}/apps/web:${tag}`);
      await sleep(20); // distinct push times
    }
    await skopeoCopy(images[0]!.ref, `${berth.url}/other/web:dev-1`);
    // From the images themselves: retention (every 1 s) may already have removed v1 from berth.
    const [v1Layer, v3Layer] = await Promise.all([layerInLayout(images[0]!), layerInLayout(images[2]!)]);
    await eventually(async () => (await tagsOf(berth, 'apps/web')).join() === 'v2,v3');
    await eventually(async () => !existsSync(blobFile(berth, 'apps/web', v1Layer)));
    assert.ok(!existsSync(blobFile(berth, 'apps/web', images[0]!.descriptor.digest)), 'the untagged manifest stayed');
    assert.ok(existsSync(blobFile(berth, 'apps/web', v3Layer)));
    // A repository no policy names is left alone.
    assert.deepEqual(await tagsOf(berth, 'other/web'), ['dev-1']);
    await skopeoCopy(`${berth.url}/apps/web:v3`, `dir:${await tempDir('retention-v3')}`);
  });

  it('with dryRun, only logs what it would remove', async () => {
    const berth = await retentionBerth({ dryRun: true, policies: [{ repositories: ['**'], keepTags: [{ patterns: ['^nothing$'] }] }] });
    await skopeoCopy(images[0]!.ref, `${berth.url}/apps/web:v1`);
    await eventually(async () => (await readFile(berth.logFile, 'utf8')).includes('retention: removing tag'));
    assert.deepEqual(await tagsOf(berth, 'apps/web'), ['v1']);
  });

  it('applies pulledWithin to pulled-through content without breaking a pull in progress', async () => {
    const berth = await retentionBerth(
      { policies: [{ repositories: ['cache/**'], keepTags: [{ pulledWithin: '3s' }] }] },
      { extensions: { sync: { registries: [{ urls: [up.url], onDemand: true, content: [{ prefix: '**', destination: '/cache' }] }] } } },
    );
    const aLayer = await layerOf(berth, 'cache/team/app:a');
    const bLayer = await layerOf(berth, 'cache/team/app:b');
    for (const tag of ['a', 'b']) await skopeoCopy(`${berth.url}/cache/team/app:${tag}`, `dir:${await tempDir(`retention-${tag}`)}`);
    // `a` is pulled again and again (as a node would): it stays; `b` is not and goes, blobs included.
    const until = Date.now() + 6_000;
    while (Date.now() < until) {
      const res = await fetch(`${berth.url}/v2/cache/team/app/manifests/a`, { headers: { accept: images[0]!.descriptor.mediaType } });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      const blob = await fetch(`${berth.url}/v2/cache/team/app/blobs/${aLayer}`);
      assert.equal(blob.status, 200);
      await blob.arrayBuffer();
      await sleep(300);
    }
    await eventually(async () => (await tagsOf(berth, 'cache/team/app')).join() === 'a');
    await eventually(async () => !existsSync(blobFile(berth, 'cache/team/app', bLayer)));
    assert.ok(existsSync(blobFile(berth, 'cache/team/app', aLayer)));
  });

  it('remembers pull times across a restart (mostRecentlyPulledCount picks the last pulled, not the first listed)', async () => {
    const root = join(await tempDir('retention-restart'), 'root');
    const sync = { extensions: { sync: { registries: [{ urls: [up.url], onDemand: true, content: [{ prefix: '**', destination: '/cache' }] }] } } };
    const first = await startBerth({ ...sync, storage: { rootDirectory: root } });
    for (const tag of ['b', 'a', 'c']) {
      await skopeoCopy(`${first.url}/cache/team/app:${tag}`, `dir:${await tempDir(`restart-${tag}`)}`);
      await sleep(20);
    }
    await first.stop();
    const meta = createSqliteMetaStore({ rootDirectory: root });
    const pulled = await meta.accessTimes.getMany('pulled', [images[0]!.descriptor.digest, images[2]!.descriptor.digest]);
    await meta.close();
    assert.ok(pulled.get(images[2]!.descriptor.digest)! > pulled.get(images[0]!.descriptor.digest)!, 'the pull times are in the MetaStore');
    await up.stop(); // the second berth works from its cache alone
    const second = await retentionBerth(
      { policies: [{ repositories: ['cache/**'], keepTags: [{ mostRecentlyPulledCount: 1 }] }] },
      { ...sync, storage: { rootDirectory: root } },
    );
    await eventually(async () => (await tagsOf(second, 'cache/team/app')).join() === 'c');
  });
});
