// What a client and an operator see of an upstream: a HEAD of an uncached blob answered from an upstream HEAD
// (nothing downloaded or stored), and an outage told once, plainly, with cached content still served and
// uncached content refused with an error that names the upstream.
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { accessLogEntries, logOffset, startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { buildOciImage } from '../helpers/images.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { eventually } from '../helpers/eventually.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';

interface LogLine {
  msg: string;
  level: number;
  upstream?: string;
  cause?: string;
  err?: unknown;
  [key: string]: unknown;
}

async function logLines(file: string, msg: string): Promise<LogLine[]> {
  const text = await readFile(file, 'utf8');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine).filter((l) => l.msg === msg);
}

/** The lines with `msg`, once the logger (asynchronous) has written at least `n` of them (or 5 s passed). */
async function waitForLog(file: string, msg: string, n = 1): Promise<LogLine[]> {
  let lines: LogLine[] = [];
  await eventually(async () => (lines = await logLines(file, msg)).length >= n, 5_000).catch(() => undefined);
  return lines;
}

describe('sync: blob HEADs and upstream outages', () => {
  let up: DockerRegistry;
  let berth: RunningBerth;
  let layer: { digest: string; size: number };
  let config: string;
  let imageRef: string;

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry']);
    const work = await tempDir('sync-outage');
    up = await startDockerRegistry();
    const image = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ randomBytes: 2_000_000 }] });
    await skopeoCopy(image.ref, `${up.url}/lib/app:v1`);
    imageRef = image.ref;
    const manifest = JSON.parse(await readFile(join(image.layoutDir, 'blobs', 'sha256', image.descriptor.digest.slice(7)), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string; size: number }> };
    layer = manifest.layers[0]!;
    config = manifest.config.digest;
    berth = await startBerth({ extensions: { sync: { registries: [{ urls: [up.url], onDemand: true }] } } });
  });

  after(async () => {
    await berth?.stop();
    await up?.stop();
    await cleanupTempDirs();
  });

  it('answers a HEAD of an uncached blob from one upstream HEAD, and fetches only on GET', async () => {
    const from = await logOffset(up.logFile); // after the push, whose client HEADs blobs too
    const head = await fetch(`${berth.url}/v2/lib/app/blobs/${layer.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(layer.size));
    assert.equal(head.headers.get('docker-content-digest'), layer.digest);
    const blobPath = `/v2/lib/app/blobs/${layer.digest}`;
    let upstreamLog = (await accessLogEntries(up.logFile, from)).filter((e) => e.path === blobPath);
    assert.deepEqual(upstreamLog.map((e) => e.method), ['HEAD'], 'the upstream saw one HEAD and no GET');
    const stored = await readdir(join(berth.root, 'lib', 'app', 'blobs', 'sha256')).catch(() => [] as string[]);
    assert.ok(!stored.includes(layer.digest.slice(7)), 'a HEAD stored nothing');

    const missing = await fetch(`${berth.url}/v2/lib/app/blobs/sha256:${'0'.repeat(64)}`, { method: 'HEAD' });
    assert.equal(missing.status, 404);

    const get = await fetch(`${berth.url}${blobPath}`);
    assert.equal(get.status, 200);
    assert.equal((await get.arrayBuffer()).byteLength, layer.size);
    upstreamLog = (await accessLogEntries(up.logFile, from)).filter((e) => e.path === blobPath);
    assert.deepEqual(upstreamLog.map((e) => e.method), ['HEAD', 'GET']);
  });

  it('stores the blobs of a push that skipped them because a HEAD said berth has them', async () => {
    // The same image pushed into a repository the upstream also has: skopeo HEADs each blob, hears 200 (from
    // the upstream), uploads nothing, and PUTs the manifest, which must then find its blobs here.
    // (The layer was fetched by the test above; the config blob only the upstream holds.)
    assert.equal((await fetch(`${berth.url}/v2/lib/app/blobs/${config}`, { method: 'HEAD' })).status, 200);
    const pushed = await skopeoCopy(imageRef, `${berth.url}/lib/app:pushed`);
    assert.doesNotMatch(pushed.stderr, /error/i);
    const stored = await readdir(join(berth.root, 'lib', 'app', 'blobs', 'sha256'));
    assert.ok(stored.includes(config.slice(7)), 'the config blob is held locally after the push');
    const tags = (await (await fetch(`${berth.url}/v2/lib/app/tags/list`)).json()) as { tags: string[] };
    assert.ok(tags.tags.includes('pushed'));
  });

  it('tells an outage once, serves what is cached, and names the upstream to clients asking for the rest', async () => {
    const work = await tempDir('sync-outage-copy');
    await skopeoCopy(`${berth.url}/lib/app:v1`, `dir:${join(work, 'warm')}`);
    await up.stop();

    for (let i = 0; i < 3; i++) {
      const cached = await fetch(`${berth.url}/v2/lib/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(cached.status, 200, 'the cached tag is served');
      await cached.arrayBuffer();
      const uncached = await fetch(`${berth.url}/v2/lib/other/manifests/v1`);
      assert.equal(uncached.status, 503);
      const [error] = ((await uncached.json()) as { errors: Array<{ code: string; message: string }> }).errors;
      assert.equal(error!.code, 'UNAVAILABLE');
      assert.match(error!.message, new RegExp(`^upstream ${up.host.replace(/\./g, '\\.')} could not be reached and the content is not cached$`));
      assert.doesNotMatch(error!.message, /ECONNREFUSED/, 'the socket error is for the log, not the client');
      const blobHead = await fetch(`${berth.url}/v2/lib/other/blobs/sha256:${'1'.repeat(64)}`, { method: 'HEAD' });
      assert.equal(blobHead.status, 503);
    }
    await skopeoCopy(`${berth.url}/lib/app:v1`, `dir:${join(work, 'offline')}`);

    const down = await waitForLog(berth.logFile, 'upstream unreachable');
    assert.equal(down.length, 1, 'one warning per outage, not one per request');
    assert.equal(down[0]!.level, 40);
    assert.equal(down[0]!.upstream, up.host);
    assert.match(String(down[0]!.cause), /ECONNREFUSED|unreachable|connect/);
    assert.equal(down[0]!.err, undefined, 'no error object (and so no stack trace) in the line');
    assert.doesNotMatch(JSON.stringify(down[0]), /\n\s+at /);
    const served = await waitForLog(berth.logFile, 'serving cached content while the upstream is unreachable');
    assert.equal(served.length, 1);
    assert.equal(served[0]!.upstream, up.host);
  });
});
