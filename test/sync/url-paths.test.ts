// Upstream URLs with a path (`http://host/library` names the `library/` namespace there), content prefixes with
// a leading slash (lank8s's guide), a catch-all entry, the source's blob size from one HEAD, and periodic sync
// through a URL path with a `platforms` allowlist. Real Distribution upstreams, skopeo and containerd.
// (A dockerd pull is left to the dockerd helper another change brings.)
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { parseConfig } from '../../core/config/load';
import { RegistryRouter } from '../../extensions/sync/routing';
import { createSyncSource } from '../../extensions/sync/sync-source';
import { UpstreamClient, UpstreamUnavailable } from '../../extensions/sync/upstream-client';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { BERTH_BIN, REPO_ROOT } from '../helpers/berth-process.js';
import { startContainerd, writeHostsToml, type Containerd } from '../helpers/containerd.js';
import { accessLogEntries, startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { eventually } from '../helpers/eventually.js';
import { buildMultiArchIndex, buildOciImage, type BuiltImage, type BuiltIndex } from '../helpers/images.js';
import { skopeoCopy, skopeoInspect, skopeoListTags } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, freePort, run, tempDir } from '../helpers/tools.js';

/** A scenario config from test/fixtures/<name>/config.json with `{{name}}` replaced by an upstream's host:port. */
async function fixture(name: string, hosts: Record<string, string>): Promise<Record<string, unknown>> {
  const text = await readFile(join(REPO_ROOT, 'test', 'fixtures', name, 'config.json'), 'utf8');
  return JSON.parse(text.replace(/\{\{(\w+)\}\}/g, (_, k: string) => hosts[k] ?? `{{${k}}}`)) as Record<string, unknown>;
}

const fromBerth = async (up: DockerRegistry) => (await accessLogEntries(up.logFile)).filter((e) => e.userAgent === 'berth-sync');

describe('sync: upstream URL paths, leading-slash prefixes, platforms', () => {
  let library: DockerRegistry; // holds library/alpine (and the periodic-sync images)
  let k8s: DockerRegistry; // holds google-containers/pause
  let hub: DockerRegistry; // holds kube-proxy, reached by the catch-all entry
  let ctd: Containerd;
  let berth: RunningBerth;
  let img: BuiltImage;
  let multi: BuiltIndex;
  let work: string;
  const berths: RunningBerth[] = [];

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'ctr', 'containerd', 'docker-registry']);
    work = await tempDir('sync-url-paths');
    [library, k8s, hub, ctd] = await Promise.all([startDockerRegistry(), startDockerRegistry(), startDockerRegistry(), startContainerd()]);
    img = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ files: { '/etc/os-release': 'ID=tiny\n' } }, { randomBytes: 50_000 }] });
    multi = await buildMultiArchIndex(join(work, 'multi'), {
      tag: 'v1',
      layers: (p) => [{ files: { '/etc/platform': `${p.architecture}\n` } }, { randomBytes: 40_000 }],
    });
    await Promise.all([
      skopeoCopy(img.ref, `${library.url}/library/alpine:3.20`),
      skopeoCopy(img.ref, `${k8s.url}/google-containers/pause:3.9`),
      skopeoCopy(img.ref, `${hub.url}/kube-proxy:v1.30`),
    ]);
    for (const repo of ['library/multi-a', 'library/amd-only', 'multi-b']) await skopeoCopy(multi.ref, `${library.url}/${repo}:v1`, { all: true });
    berth = await startBerth(await fixture('sync-url-paths', { library: library.host, k8s: k8s.host, hub: hub.host }));
    berths.push(berth);
  });

  after(async () => {
    await ctd?.stop();
    for (const b of berths) await b.stop();
    await Promise.all([library?.stop(), k8s?.stop(), hub?.stop()]);
    await cleanupTempDirs();
  });

  it('skopeo: alpine comes from library/alpine below the URL path, pause by a leading-slash prefix, the rest from the catch-all', async () => {
    const alpine = await skopeoInspect(`${berth.url}/alpine:3.20`);
    assert.equal(alpine.Digest, img.descriptor.digest);
    await skopeoCopy(`${berth.url}/alpine:3.20`, `dir:${join(work, 'alpine')}`);
    assert.equal((await skopeoInspect(`${berth.url}/google-containers/pause:3.9`)).Digest, img.descriptor.digest);
    assert.equal((await skopeoInspect(`${berth.url}/kube-proxy:v1.30`)).Digest, img.descriptor.digest);

    const libLog = await fromBerth(library);
    assert.ok(libLog.some((e) => e.method === 'GET' && e.path === '/v2/library/alpine/manifests/3.20' && e.status === 200), 'manifest asked below the path');
    assert.ok(libLog.some((e) => e.path.startsWith('/v2/library/alpine/blobs/') && e.status === 200), 'blobs asked below the path');
    assert.ok(!libLog.some((e) => e.path.startsWith('/library/')), 'the path was put before /v2');
    // The prefix "/google-containers/*" selected its entry: the catch-all was never asked for pause.
    assert.ok((await fromBerth(k8s)).some((e) => e.path === '/v2/google-containers/pause/manifests/3.9' && e.status === 200));
    assert.ok(!(await fromBerth(hub)).some((e) => e.path.includes('google-containers') || e.path.includes('alpine')));
  });

  it('containerd pulls directly (no ?ns=) and through hosts.toml mirrors (?ns= with the upstream name)', async () => {
    await ctd.pull(`${berth.host}/alpine:3.20`, { plainHttp: true, useHostsDir: false });
    for (const up of [library, k8s, hub]) await writeHostsToml(ctd.hostsDir, up.host, berth.url);
    await ctd.pull(`${library.host}/library/alpine:3.20`);
    await ctd.pull(`${k8s.host}/google-containers/pause:3.9`);
    await ctd.pull(`${hub.host}/kube-proxy:v1.30`);
    const { stdout } = await ctd.ctr(['images', 'ls']);
    const digests = new Map(stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)).map((r) => [r[0]!, r[2]!]));
    for (const ref of [`${berth.host}/alpine:3.20`, `${library.host}/library/alpine:3.20`, `${k8s.host}/google-containers/pause:3.9`, `${hub.host}/kube-proxy:v1.30`]) {
      assert.equal(digests.get(ref), img.descriptor.digest, ref);
    }
    // ?ns= content is kept per upstream host; the name is the upstream's.
    const res = await fetch(`${berth.url}/v2/${library.host.replace(':', '-')}/library/alpine/manifests/3.20`, { headers: { accept: img.descriptor.mediaType } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), img.descriptor.digest);
    // A name outside the URL path is not this entry's: with ns it is not found rather than asked as library/<name>.
    const outside = await fetch(`${berth.url}/v2/multi-b/manifests/v1?ns=${library.host}`);
    assert.equal(outside.status, 404);
    assert.ok(!(await fromBerth(library)).some((e) => e.path.includes('multi-b')));
  });

  it('blobSize: one HEAD below the URL path; undefined when absent; UpstreamUnavailable when it cannot be asked', async () => {
    const logger = pino({ level: 'silent' });
    const manifest = JSON.parse(await readFile(join(img.layoutDir, 'blobs', 'sha256', img.descriptor.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string; size: number }> };
    const layer = { Digest: manifest.layers[1]!.digest, Size: manifest.layers[1]!.size };
    const sourceFor = (url: string) => {
      const reg = { urls: [url] };
      const client = new UpstreamClient({ urls: reg.urls, tlsVerify: true, maxIdleConnsPerHost: 2, logger });
      const source = createSyncSource({
        name: 'test', router: new RegistryRouter(reg), client, manifestCheckInterval: 0, onlySigned: false, logger,
        localManifest: async () => undefined, localManifests: async () => [], onCached: () => {},
      });
      return { source, close: () => client.close() };
    };
    const { source, close } = sourceFor(`${library.url}/library`);
    try {
      const before = (await fromBerth(library)).length;
      assert.equal(await source.blobSize!('alpine', layer.Digest, undefined), layer.Size);
      const asked = (await fromBerth(library)).slice(before);
      assert.deepEqual(asked.map((e) => `${e.method} ${e.path}`), [`HEAD /v2/library/alpine/blobs/${layer.Digest}`]);
      assert.equal(await source.blobSize!('alpine', `sha256:${'0'.repeat(64)}`, undefined), undefined);
      assert.equal(await source.blobSize!('nothere', layer.Digest, undefined), undefined);
    } finally {
      close();
    }

    // One upstream answers 503, one never answers (the HEAD's deadline ends it), one is not listening.
    const failing = http.createServer((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const hanging = http.createServer(() => {});
    await Promise.all([failing, hanging].map((srv) => new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))));
    const hostOf = (srv: http.Server) => `127.0.0.1:${(srv.address() as AddressInfo).port}`;
    const down = `127.0.0.1:${await freePort()}`;
    try {
      for (const host of [hostOf(failing), hostOf(hanging), down]) {
        const s = sourceFor(`http://${host}/library`);
        try {
          await assert.rejects(s.source.blobSize!('alpine', layer.Digest, undefined), (err: Error) => {
            assert.ok(err instanceof UpstreamUnavailable, err.message);
            assert.ok(err.message.includes(host), err.message);
            return true;
          });
        } finally {
          s.close();
        }
      }
    } finally {
      hanging.closeAllConnections();
      for (const srv of [failing, hanging]) srv.close();
    }
  });

  it('periodic sync through a URL path: tag lists and _catalog there, only the allowlisted platforms copied', async () => {
    const from = (await accessLogEntries(library.logFile)).length;
    const periodic = await startBerth(await fixture('sync-url-path-periodic', { library: library.host }));
    berths.push(periodic);
    const tags = (repo: string) => skopeoListTags(`${periodic.url}/${repo}`).catch(() => [] as string[]);
    await eventually(async () => (await tags('mirror/alpine')).includes('3.20') && (await tags('mirror/multi-a')).includes('v1') && (await tags('mirror/amd-only')).includes('v1'));
    // Every tag was listed before any was copied, and a tag is written after its tree: nothing more is coming.
    assert.equal((await skopeoInspect(`${periodic.url}/mirror/alpine:3.20`)).Digest, img.descriptor.digest);
    // multi-b sits at the upstream's root, outside the URL path: the glob "multi-*" does not reach it.
    assert.deepEqual(await tags('mirror/multi-b'), []);

    const log = (await accessLogEntries(library.logFile)).slice(from).filter((e) => e.userAgent === 'berth-sync');
    assert.ok(log.some((e) => e.path === '/v2/library/alpine/tags/list?n=1000' && e.status === 200), 'tags listed below the path');
    assert.ok(log.some((e) => e.path === '/v2/library/amd-only/tags/list?n=1000'), 'leading-slash prefix "/amd-only" listed');
    assert.ok(log.some((e) => e.path.startsWith('/v2/_catalog')), 'catalog asked for the glob');
    assert.ok(!log.some((e) => e.path.startsWith('/v2/multi-b/')), 'multi-b asked');

    const byArch = new Map(multi.manifests.map((m) => [m.platform!.architecture, m]));
    const childBlobs = async (digest: string) => {
      const m = JSON.parse(await readFile(join(multi.layoutDir, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
      return [m.config.digest, ...m.layers.map((l) => l.digest)];
    };
    // multi-a inherits the registry's ["arm64"]; amd-only's rule says ["linux/amd64"].
    for (const [repo, kept, left] of [['mirror/multi-a', 'arm64', 'amd64'], ['mirror/amd-only', 'amd64', 'arm64']] as const) {
      const index = await fetch(`${periodic.url}/v2/${repo}/manifests/v1`, { headers: { accept: multi.descriptor.mediaType } });
      assert.equal(index.status, 200);
      assert.equal(index.headers.get('docker-content-digest'), multi.descriptor.digest, `${repo}: the index keeps its upstream digest`);
      const keptDigest = byArch.get(kept)!.digest;
      const leftDigest = byArch.get(left)!.digest;
      const accept = { accept: byArch.get(kept)!.mediaType };
      assert.equal((await fetch(`${periodic.url}/v2/${repo}/manifests/${keptDigest}`, { headers: accept })).status, 200, `${repo} ${kept}`);
      assert.equal((await fetch(`${periodic.url}/v2/${repo}/manifests/${leftDigest}`, { headers: accept })).status, 404, `${repo} ${left}`);
      const keptBlobs = await childBlobs(keptDigest);
      for (const d of keptBlobs) assert.equal((await fetch(`${periodic.url}/v2/${repo}/blobs/${d}`, { method: 'HEAD' })).status, 200);
      const leftBlobs = (await childBlobs(leftDigest)).filter((d) => !keptBlobs.includes(d));
      for (const d of leftBlobs) assert.equal((await fetch(`${periodic.url}/v2/${repo}/blobs/${d}`, { method: 'HEAD' })).status, 404, `${repo}: ${left} blob ${d}`);
      const upstreamRepo = repo.replace('mirror/', 'library/');
      for (const d of [leftDigest, ...leftBlobs]) assert.ok(!log.some((e) => e.path.startsWith(`/v2/${upstreamRepo}/`) && e.path.includes(d)), `${left} content ${d} fetched`);
    }
    // skopeo pulls the kept platform whole from the mirror.
    await skopeoCopy(`${periodic.url}/mirror/multi-a:v1`, `dir:${join(work, 'arm64')}`, { extraArgs: ['--override-arch', 'arm64'] });
  });

  it('berth verify accepts platforms per registry and per content rule, and names the key of a bad one', async () => {
    const dir = await tempDir('verify-platforms');
    const base = await fixture('sync-url-path-periodic', { library: '127.0.0.1:5000' });
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify({ ...base, storage: { rootDirectory: join(dir, 'root') }, http: { address: '127.0.0.1', port: '5000' } }));
    const ok = await run(process.execPath, [BERTH_BIN, 'verify', good], { allowFail: true });
    assert.equal(ok.code, 0, ok.stderr);
    parseConfig(JSON.parse(await readFile(good, 'utf8')), 'test'); // the same schema in-process

    const bad = join(dir, 'bad.json');
    const sync = structuredClone(base.extensions) as { sync: { registries: Array<Record<string, unknown>> } };
    sync.sync.registries[0]!.platforms = ['linux/amd64', 'linux/arm/v7/extra'];
    await writeFile(bad, JSON.stringify({ storage: { rootDirectory: join(dir, 'root') }, extensions: sync }));
    const rejected = await run(process.execPath, [BERTH_BIN, 'verify', bad], { allowFail: true });
    assert.equal(rejected.code, 2);
    assert.match(rejected.stderr, /extensions\.sync\.registries\[0\]\.platforms\[1\]/);
  });
});
