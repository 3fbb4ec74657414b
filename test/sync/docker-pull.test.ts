// docker (Debian's dockerd) pulling through the cache, as operators set it up: a node's dockerd with berth as
// its registry mirror (docker asks for `library/alpine`), and a pull by berth's own name through an entry whose
// URL has a path (`alpine` → `<upstream>/v2/library/alpine/...`).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { accessLogEntries, startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildOciImage } from '../helpers/images.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';

describe('sync: docker pulls through berth', () => {
  let up: DockerRegistry;
  let berth: RunningBerth;
  let dockerd: Dockerd;
  let digest: string;

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry', 'dockerd', 'docker']);
    const work = await tempDir('sync-docker');
    up = await startDockerRegistry();
    const image = await buildOciImage(join(work, 'alpine'), { tag: '3.20', layers: [{ files: { '/etc/os-release': 'ID=alpine\n' } }, { randomBytes: 500_000 }] });
    await skopeoCopy(image.ref, `${up.url}/library/alpine:3.20`, { format: 'v2s2' });
    digest = (await (await fetch(`${up.url}/v2/library/alpine/manifests/3.20`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).headers.get('docker-content-digest'))!;
    berth = await startBerth({
      extensions: {
        sync: {
          registries: [
            // What a Docker Hub mirror receives: names with library/.
            { urls: [up.url], onDemand: true, content: [{ prefix: 'library/**' }] },
            // A guide's `"urls": ["https://docker.io/library"]`, pointed at the local upstream.
            { urls: [`${up.url}/library`], onDemand: true },
          ],
        },
      },
    });
    dockerd = await startDockerd({ args: ['--registry-mirror', berth.url] });
  });

  after(async () => {
    await dockerd?.stop();
    await berth?.stop();
    await up?.stop();
    await cleanupTempDirs();
  });

  const repoDigests = async (ref: string) => (await dockerd.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', ref])).stdout;

  it('pulls by berth name through an upstream URL with a path', async () => {
    await dockerd.docker(['pull', `${berth.host}/alpine:3.20`]);
    assert.match(await repoDigests(`${berth.host}/alpine:3.20`), new RegExp(digest));
    const paths = (await accessLogEntries(up.logFile)).filter((e) => e.userAgent === 'berth-sync').map((e) => e.path);
    assert.ok(paths.includes('/v2/library/alpine/manifests/3.20'), paths.join('\n'));
    assert.ok(!paths.some((p) => p.startsWith('/library/')), 'the URL path goes after /v2/, not before it');
  });

  it('serves docker as its registry mirror for Docker Hub names', async () => {
    await dockerd.docker(['pull', 'alpine:3.20'], { timeoutMs: 120_000 });
    assert.match(await repoDigests('alpine:3.20'), new RegExp(digest));
    const mirrored = (await fetch(`${berth.url}/v2/library/alpine/tags/list`).then((r) => r.json())) as { tags: string[] };
    assert.deepEqual(mirrored.tags, ['3.20'], 'the mirror pull was served, and cached, by berth');
  });
});
