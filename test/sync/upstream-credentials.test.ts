// Upstream credentials from the Docker client's config.json (as Zot), after credentialsFile.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { buildOciImage } from '../helpers/images.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';

describe('sync: upstream credentials from ~/.docker/config.json', () => {
  let priv: DockerRegistry;
  let work: string;
  const berths: RunningBerth[] = [];
  const savedDockerConfig = process.env.DOCKER_CONFIG;

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry']);
    work = await tempDir('docker-config');
    priv = await startDockerRegistry({ htpasswd: { user: 'puller', password: 's3cret' } });
    const img = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ randomBytes: 10_000 }] });
    await skopeoCopy(img.ref, `${priv.url}/lib/app:v1`, { creds: priv.creds });
    const dockerDir = join(work, 'docker');
    await mkdir(dockerDir);
    // The Docker CLI's format: base64 "user:password" under the host (a URL key works too).
    await writeFile(join(dockerDir, 'config.json'), JSON.stringify({ auths: { [`http://${priv.host}/v1/`]: { auth: Buffer.from('puller:s3cret').toString('base64') } } }));
    process.env.DOCKER_CONFIG = dockerDir;
  });

  after(async () => {
    if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = savedDockerConfig;
    for (const b of berths) await b.stop();
    await priv?.stop();
    await cleanupTempDirs();
  });

  const pull = async (sync: object) => {
    const berth = await startBerth({ extensions: { sync } });
    berths.push(berth);
    const res = await fetch(`${berth.url}/v2/lib/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    await res.arrayBuffer();
    return res.status;
  };

  it('pulls from an htpasswd upstream with the credentials in config.json', async () => {
    assert.equal(await pull({ registries: [{ urls: [priv.url], onDemand: true }] }), 200);
  });

  it('prefers credentialsFile for a host it names', async () => {
    const credentialsFile = join(work, 'credentials.json');
    await writeFile(credentialsFile, JSON.stringify({ [priv.host]: { username: 'puller', password: 'wrong' } }));
    assert.equal(await pull({ credentialsFile, registries: [{ urls: [priv.url], onDemand: true }] }), 404);
  });

  it('pulls nothing without credentials', async () => {
    process.env.DOCKER_CONFIG = join(work, 'nowhere');
    assert.equal(await pull({ registries: [{ urls: [priv.url], onDemand: true }] }), 404);
  });
});
