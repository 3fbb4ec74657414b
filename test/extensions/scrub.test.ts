// extensions.scrub and `berth scrub`: images pushed with skopeo, then a byte flipped in a layer file and a
// blob file removed under the root; the running server's metrics and the offline CLI's table (Zot's) name
// the affected images and blobs, and the CLI refuses while a server answers on the configured address.
import assert from 'node:assert/strict';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { BERTH_BIN } from '../helpers/berth-process.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { eventually } from '../helpers/eventually.js';
import { startEventReceiver } from '../helpers/event-receiver.js';
import { cleanupTempDirs, ensureTools, run, tempDir } from '../helpers/tools.js';

const hexOf = (digest: string) => digest.split(':')[1];
const blobFile = (root: string, repo: string, digest: string) => join(root, repo, 'blobs', 'sha256', hexOf(digest));
const scrubCli = (configFile: string) => run(process.execPath, [BERTH_BIN, 'scrub', configFile], { allowFail: true, timeoutMs: 60_000 });
const words = (s: string) => s.replace(/\s+/g, ' ').trim();

async function layersOf(img: BuiltImage): Promise<string[]> {
  const manifest = JSON.parse(await readFile(join(img.layoutDir, 'blobs', 'sha256', hexOf(img.descriptor.digest)), 'utf8')) as { layers: Array<{ digest: string }> };
  return manifest.layers.map((l) => l.digest);
}

async function flipByte(file: string, at: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] ^= 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

describe('scrub: blobs re-hashed against their digests', () => {
  let work: string;
  let root: string;
  let v1: BuiltImage;
  let v2: BuiltImage;
  let flipped: string; // a layer of app:v1
  let removed: string; // the layer of other:v1
  const berths: RunningBerth[] = [];

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    work = await tempDir('scrub');
    root = join(work, 'root');
    v1 = await buildOciImage(join(work, 'v1'), { tag: 'v1', layers: [{ randomBytes: 300_000 }, { randomBytes: 100_000 }] });
    v2 = await buildOciImage(join(work, 'v2'), { tag: 'v2', layers: [{ randomBytes: 200_000 }] });
    const other = await buildOciImage(join(work, 'other'), { tag: 'v1', layers: [{ randomBytes: 50_000 }] });
    const writer = await startBerth({ storage: { rootDirectory: root, dedupe: false } });
    await skopeoCopy(v1.ref, `${writer.url}/team/app:v1`);
    await skopeoCopy(v2.ref, `${writer.url}/team/app:v2`);
    await skopeoCopy(other.ref, `${writer.url}/other:v1`);
    await writer.stop();
    flipped = (await layersOf(v1))[1];
    await flipByte(blobFile(root, 'team/app', flipped), 1000);
    removed = (await layersOf(other))[0];
    await rm(blobFile(root, 'other', removed));
  });

  after(async () => {
    for (const b of berths) await b.stop();
    await cleanupTempDirs();
  });

  it('berth scrub <config> prints Zot\'s table: the affected image with its blob and error, the others ok', async () => {
    const configFile = join(work, 'offline.json');
    await writeFile(configFile, JSON.stringify({ storage: { rootDirectory: root, dedupe: false }, http: { address: '127.0.0.1', port: '1' }, extensions: { scrub: {} } }));
    const r = await scrubCli(configFile);
    assert.equal(r.code, 0, r.stderr); // as Zot: affected images are reported, not an error
    const lines = r.stdout.trimEnd().split('\n');
    // Zot's columns: REPOSITORY and TAG as wide as their longest value (up to 32 and 24), STATUS 8, AFFECTED BLOB 64.
    assert.equal(lines[0], `${'REPOSITORY'.padEnd(10)} ${'TAG'} ${'STATUS'.padEnd(8)} ${'AFFECTED BLOB'.padEnd(64)} ERROR`);
    assert.equal(lines.length, 4, r.stdout);
    const table = words(r.stdout);
    assert.ok(table.includes(`team/app v1 affected ${hexOf(flipped)} bad blob digest`), r.stdout);
    assert.ok(table.includes('team/app v2 ok'), r.stdout);
    assert.ok(table.includes(`other v1 affected ${hexOf(removed)} blob not found`), r.stdout);
    assert.ok(lines.includes(`${'team/app'.padEnd(10)} v2  ok`), r.stdout);
  });

  it('refuses while a server answers on the configured address, and says so', async () => {
    const running = await startBerth({ storage: { rootDirectory: root, dedupe: false } });
    berths.push(running);
    const configFile = join(work, 'busy.json');
    const port = running.host.split(':')[1];
    await writeFile(configFile, JSON.stringify({ storage: { rootDirectory: root, dedupe: false }, http: { address: '127.0.0.1', port } }));
    const r = await scrubCli(configFile);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /a server is running on 127\.0\.0\.1:\d+; stop it first/);
    assert.equal(r.stdout, '');
    await running.stop();
  });

  it('extensions.scrub: the running server reports the affected images and blobs in its metrics and as events', async () => {
    const receiver = await startEventReceiver();
    after(() => receiver.close());
    const berth = await startBerth({
      storage: { rootDirectory: root, dedupe: false },
      extensions: { scrub: { interval: '24h' }, events: { enable: true, sinks: [{ type: 'http', address: receiver.url }] } },
    });
    berths.push(berth);
    const metric = async (name: string) => (await berth.app.metrics.getSingleMetric(name)!.get()).values;
    await eventually(async () => (await metric('berth_scrub_passes_total')).some((v) => v.labels.result === 'completed' && v.value === 1), 60_000);
    const affected = (await metric('berth_scrub_affected_images')).map((v) => v.labels).sort((a, b) => String(a.repository).localeCompare(String(b.repository)));
    assert.deepEqual(affected, [
      { repository: 'other', tag: 'v1', blob: hexOf(removed), error: 'blob not found' },
      { repository: 'team/app', tag: 'v1', blob: hexOf(flipped), error: 'bad blob digest' },
    ]);
    const images = Object.fromEntries((await metric('berth_scrub_images')).map((v) => [v.labels.status, v.value]));
    assert.deepEqual(images, { ok: 1, affected: 2 });
    const repos = Object.fromEntries((await metric('berth_scrub_repositories')).map((v) => [v.labels.state, v.value]));
    assert.deepEqual(repos, { total: 2, done: 2 });
    assert.equal((await metric('berth_scrub_running'))[0].value, 0);
    assert.ok((await metric('berth_scrub_hashed_bytes_total'))[0].value >= 500_000); // every layer streamed through
    // One image.scrubbed CloudEvent per image, through the events extension's HTTP sink.
    const scrubbed = () => receiver.received.filter((r) => r.headers['ce-type'] === 'zotregistry.image.scrubbed').map((r) => JSON.parse(r.body.toString()) as Record<string, string>);
    await eventually(async () => scrubbed().length === 3, 20_000);
    const byImage = Object.fromEntries(scrubbed().map((d) => [`${d.name}:${d.reference}`, { status: d.status, blob: d.blob }]));
    assert.deepEqual(byImage, {
      'other:v1': { status: 'affected', blob: removed },
      'team/app:v1': { status: 'affected', blob: flipped },
      'team/app:v2': { status: 'ok', blob: undefined },
    });
  });
});

describe('scrub: a pull-through cache', () => {
  let up: DockerRegistry;
  let work: string;
  let root: string;
  let configFile: string;
  let pulledLayer: string;

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry']);
    work = await tempDir('scrub-cache');
    root = join(work, 'root');
    up = await startDockerRegistry();
    const a = await buildOciImage(join(work, 'a'), { tag: 'v1', layers: [{ randomBytes: 100_000 }, { randomBytes: 100_000 }] });
    const b = await buildOciImage(join(work, 'b'), { tag: 'v1', layers: [{ randomBytes: 100_000 }] });
    await skopeoCopy(a.ref, `${up.url}/team/app:amd64`);
    await skopeoCopy(b.ref, `${up.url}/team/app:arm64`);
    const child = (img: BuiltImage, architecture: string) => ({ mediaType: img.descriptor.mediaType, digest: img.descriptor.digest, size: img.descriptor.size, platform: { architecture, os: 'linux' } });
    const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [child(a, 'amd64'), child(b, 'arm64')] });
    const put = await fetch(`${up.url}/v2/team/app/manifests/multi`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index });
    assert.equal(put.status, 201);

    // A client pulls the index, one platform's manifest, its config and only its first layer.
    const sync = { registries: [{ urls: [up.url], onDemand: true, content: [{ prefix: 'team/**', destination: '/cache' }] }] };
    const cache = await startBerth({ storage: { rootDirectory: root, dedupe: false }, extensions: { sync } });
    const get = async (path: string, accept = '*/*') => {
      const res = await fetch(`${cache.url}/v2/cache/team/app/${path}`, { headers: { accept } });
      assert.equal(res.status, 200, path);
      return Buffer.from(await res.arrayBuffer());
    };
    await get('manifests/multi', 'application/vnd.oci.image.index.v1+json');
    const manifest = JSON.parse((await get(`manifests/${a.descriptor.digest}`, a.descriptor.mediaType)).toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
    await get(`blobs/${manifest.config.digest}`);
    pulledLayer = manifest.layers[0].digest;
    await get(`blobs/${pulledLayer}`);
    await eventually(async () => (await cache.app.registry.hasBlob('cache/team/app', pulledLayer)) !== undefined);
    await cache.stop();
    configFile = join(work, 'config.json');
    await writeFile(configFile, JSON.stringify({ storage: { rootDirectory: root, dedupe: false }, http: { address: '127.0.0.1', port: '1' }, extensions: { sync } }));
  });

  after(async () => {
    await up?.stop();
    await cleanupTempDirs();
  });

  it('content not pulled yet (a platform, a layer) is not damage; a stored blob that no longer hashes is', async () => {
    const clean = await scrubCli(configFile);
    assert.equal(clean.code, 0, clean.stderr);
    const rows = words(clean.stdout);
    assert.ok(rows.includes('cache/team/app multi ok'), clean.stdout);
    assert.ok(!rows.includes('affected'), clean.stdout);

    await flipByte(blobFile(root, 'cache/team/app', pulledLayer), 10);
    const flipped = await scrubCli(configFile);
    assert.equal(flipped.code, 0, flipped.stderr);
    assert.ok(words(flipped.stdout).includes(`cache/team/app multi affected ${hexOf(pulledLayer)} bad blob digest`), flipped.stdout);
  });
});
