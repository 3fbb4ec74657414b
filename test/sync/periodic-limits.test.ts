// Periodic sync honours reqConcurrent (upstream requests at once, per registry) and syncTimeout (per image copy).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { buildOciImage } from '../helpers/images.js';
import { skopeoCopy, skopeoInspect, skopeoListTags } from '../helpers/skopeo.js';
import { eventually } from '../helpers/eventually.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';

/** A forwarding proxy that holds each request `delayFor(path)` ms and counts how many are open at once. */
async function startCountingProxy(target: string, delayFor: (path: string) => number) {
  const stats = { open: 0, max: 0 };
  const server = http.createServer((req, res) => {
    stats.max = Math.max(stats.max, ++stats.open);
    res.once('close', () => stats.open--);
    setTimeout(() => {
      const { host: _host, ...headers } = req.headers;
      const up = http.request(`${target}${req.url}`, { method: req.method, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    }, delayFor(req.url ?? ''));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe('sync: periodic sync limits', () => {
  let up: DockerRegistry;
  let slowLayer: string;
  const stops: Array<() => Promise<void>> = [];
  const tags = (berth: RunningBerth, repo: string) => skopeoListTags(`${berth.url}/${repo}`).then((t) => t.sort(), () => [] as string[]);

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry']);
    const work = await tempDir('periodic-limits');
    up = await startDockerRegistry();
    for (const tag of ['a', 'b', 'c']) {
      const img = await buildOciImage(join(work, tag), { tag, layers: [{ randomBytes: 20_000 }, { randomBytes: 20_000 }] });
      await skopeoCopy(img.ref, `${up.url}/team/many:${tag}`);
    }
    const fast = await buildOciImage(join(work, 'fast'), { tag: 'x', layers: [{ randomBytes: 20_000 }] });
    await skopeoCopy(fast.ref, `${up.url}/team/two:fast`);
    const slow = await buildOciImage(join(work, 'slow'), { tag: 'x', layers: [{ randomBytes: 20_000 }] });
    await skopeoCopy(slow.ref, `${up.url}/team/two:slow`);
    slowLayer = (await skopeoInspect(`${up.url}/team/two:slow`)).Layers[0]!;
  });

  after(async () => {
    for (const stop of stops.reverse()) await stop();
    await up?.stop();
    await cleanupTempDirs();
  });

  const start = async (proxyUrl: string, registry: object, prefix: string) => {
    const berth = await startBerth({ extensions: { sync: { registries: [{ urls: [proxyUrl], pollInterval: '1h', content: [{ prefix, destination: '/m' }], ...registry }] } } });
    stops.push(() => berth.stop());
    return berth;
  };

  it('never has more than reqConcurrent requests open at the upstream, and uses them all', async () => {
    const proxy = await startCountingProxy(up.url, (path) => (path.includes('/blobs/') || path.includes('/manifests/') ? 300 : 0));
    stops.push(proxy.stop);
    const berth = await start(proxy.url, { reqConcurrent: 2 }, 'team/many');
    await eventually(async () => (await tags(berth, 'm/team/many')).join() === 'a,b,c');
    assert.equal(proxy.stats.max, 2);
  });

  it('gives up an image copy that outlasts syncTimeout, and copies the others', async () => {
    const proxy = await startCountingProxy(up.url, (path) => (path.includes(slowLayer) ? 3_000 : 0));
    stops.push(proxy.stop);
    const bounded = await start(proxy.url, { syncTimeout: '1s' }, 'team/two');
    const patient = await start(proxy.url, {}, 'team/two');
    await eventually(async () => (await tags(patient, 'm/team/two')).join() === 'fast,slow');
    assert.deepEqual(await tags(bounded, 'm/team/two'), ['fast']);
    assert.equal(existsSync(join(bounded.root, 'm', 'team', 'two', 'blobs', 'sha256', slowLayer.slice(7))), false);
  });
});
