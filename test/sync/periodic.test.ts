// Periodic sync from a real Distribution upstream (content prefix, tag filters, onlySigned, no _catalog for a
// plain prefix) and TTL eviction of pulled-through content.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { spawnBerth, type BerthProcess } from '../helpers/berth-process.js';
import { accessLogEntries, startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { buildOciImage, headManifest, pushArtifactWithSubject, type BuiltImage } from '../helpers/images.js';
import { skopeoCopy, skopeoInspect, skopeoListTags } from '../helpers/skopeo.js';
import { eventually } from '../helpers/eventually.js';
import { cleanupTempDirs, ensureTools, sleep, tempDir } from '../helpers/tools.js';

const tagsOf = (berth: RunningBerth, repo: string) => skopeoListTags(`${berth.url}/${repo}`).catch(() => [] as string[]);

describe('sync: periodic sync and eviction', () => {
  let up: DockerRegistry;
  let img: BuiltImage;
  const berths: RunningBerth[] = [];
  const replicas: BerthProcess[] = [];

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry']);
    const work = await tempDir('sync-periodic');
    up = await startDockerRegistry();
    img = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ randomBytes: 200_000 }] });
    for (const tag of ['v1.0.0', 'v1.1.0', 'v2.0', 'latest', 'dev-7']) await skopeoCopy(img.ref, `${up.url}/team/app:${tag}`);
    const other = await buildOciImage(join(work, 'other'), { tag: 'v1', layers: [{ randomBytes: 100_000 }] });
    await skopeoCopy(other.ref, `${up.url}/team/signed:v1`);
    await skopeoCopy(other.ref, `${up.url}/team/unsigned:v1`);
    const subject = await headManifest(up.url, 'team/signed', 'v1');
    await pushArtifactWithSubject(up.url, 'team/signed', subject, 'application/vnd.dev.cosign.artifact.sig.v1+json', {
      tag: `${subject.digest.replace(':', '-')}.sig`,
    });
  });

  after(async () => {
    for (const b of berths) await b.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    await up?.stop();
    await cleanupTempDirs();
  });

  it('copies the tags a wildcard-free prefix selects (regex, excludeRegex, semver) without the upstream _catalog', async () => {
    const from = (await accessLogEntries(up.logFile)).length;
    const berth = await startBerth({
      extensions: {
        sync: {
          registries: [{
            urls: [up.url], onDemand: false, pollInterval: '1h', maxRetries: 2, retryDelay: '100ms',
            content: [{ prefix: 'team/app', destination: '/mirror', tags: { regex: '^v', excludeRegex: '^v1\\.0', semver: true } }],
          }],
        },
      },
    });
    berths.push(berth);
    await eventually(async () => (await tagsOf(berth, 'mirror/team/app')).length >= 2);
    await sleep(300);
    assert.deepEqual((await tagsOf(berth, 'mirror/team/app')).sort(), ['v1.1.0', 'v2.0']);
    // A whole image, byte for byte: the digest is the upstream's and the blobs are local.
    assert.equal((await skopeoInspect(`${berth.url}/mirror/team/app:v2.0`)).Digest, img.descriptor.digest);
    const log = (await accessLogEntries(up.logFile)).slice(from).filter((e) => e.userAgent === 'berth-sync');
    assert.ok(!log.some((e) => e.path.startsWith('/v2/_catalog')), 'asked the upstream catalog');
  });

  it('with onlySigned, syncs only images that carry a cosign signature (a glob prefix uses the catalog)', async () => {
    const berth = await startBerth({
      extensions: { sync: { registries: [{ urls: [up.url], pollInterval: '1h', onlySigned: true, content: [{ prefix: 'team/*ed', destination: '/trusted' }] }] } },
    });
    berths.push(berth);
    await eventually(async () => (await tagsOf(berth, 'trusted/team/signed')).includes('v1'));
    await sleep(500);
    assert.deepEqual(await tagsOf(berth, 'trusted/team/unsigned'), []);
    // The legacy cosign tag came along (syncLegacyCosignTags defaults to true).
    assert.equal((await tagsOf(berth, 'trusted/team/signed')).length, 2);
  });

  it('two replicas on one MetaStore sync once per interval between them, not once each', async () => {
    const root = join(await tempDir('sync-replicas'), 'root');
    const from = (await accessLogEntries(up.logFile)).length;
    const config = {
      storage: { rootDirectory: root },
      extensions: { sync: { registries: [{ urls: [up.url], onDemand: false, pollInterval: '1h', content: [{ prefix: 'team/app', destination: '/pair', tags: { regex: '^v2' } }] }] } },
    };
    const [a, b] = await Promise.all([spawnBerth(config), spawnBerth(config)]);
    replicas.push(a, b);
    await eventually(async () => (await skopeoListTags(`${a.url}/pair/team/app`).catch(() => [] as string[])).includes('v2.0'));
    assert.deepEqual(await skopeoListTags(`${b.url}/pair/team/app`), ['v2.0'], 'the other replica serves what one synced');
    // Both replicas started their schedules at once; give the second every chance to run a pass of its own.
    await sleep(1500);
    const tagLists = (await accessLogEntries(up.logFile)).slice(from).filter((e) => e.userAgent === 'berth-sync' && e.path.startsWith('/v2/team/app/tags/list'));
    assert.equal(tagLists.length, 1, `one sync pass between the two replicas (${tagLists.length} tag listings)`);
  });

  it('evicts pulled-through content not pulled within the ttl, and pulls it through again when asked', async () => {
    const berth = await startBerth({
      extensions: { sync: { registries: [{ urls: [up.url], onDemand: true, ttl: '1s', content: [{ prefix: '**', destination: '/cache' }] }] } },
    });
    berths.push(berth);
    const layer = (await skopeoInspect(`${berth.url}/cache/team/app:latest`)).Layers[0]!;
    await skopeoCopy(`${berth.url}/cache/team/app:latest`, `dir:${await tempDir('evict-pull')}`);
    const blob = join(berth.root, 'cache', 'team', 'app', 'blobs', 'sha256', layer.slice(7));
    assert.ok(existsSync(blob));
    // Pulled again and again: kept.
    for (let i = 0; i < 6; i++) {
      await fetch(`${berth.url}/v2/cache/team/app/blobs/${layer}`).then((r) => r.arrayBuffer());
      await fetch(`${berth.url}/v2/cache/team/app/manifests/${img.descriptor.digest}`).then((r) => r.arrayBuffer());
      await sleep(300);
    }
    assert.ok(existsSync(blob), 'evicted while being pulled');
    await eventually(async () => !existsSync(blob), 5_000);
    assert.equal(existsSync(join(berth.root, 'cache', 'team', 'app', 'blobs', 'sha256', img.descriptor.digest.slice(7))), false);
    await skopeoCopy(`${berth.url}/cache/team/app:latest`, `dir:${await tempDir('evict-again')}`);
    assert.ok(existsSync(blob), 'pulled through again');
  });
});
