// The pull-through data path against a real Distribution upstream behind test proxies: a throttled 200 MB
// blob streams to 32 clients from one upstream GET, fan-in of whole images, corrupted bytes never cached,
// and the Docker token flow with cached tokens.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { accessLogEntries, startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import { buildOciImage } from '../helpers/images.js';
import { pushLargeBlob } from '../helpers/large-blob.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';
import { startUpstreamProxy, type UpstreamProxy } from '../helpers/upstream-proxy.js';

const BIG = 200 * 1024 * 1024;
const RATE = 20 * 1024 * 1024;

interface Pulled {
  digest: string;
  firstByteAt: number;
  bytes: number;
}

/** GETs a blob, hashing it as it arrives; `abortAfter` hangs up after that many bytes. */
async function pullBlob(url: string, abortAfter?: number): Promise<Pulled> {
  const ctl = new AbortController();
  const res = await fetch(url, { signal: ctl.signal });
  assert.equal(res.status, 200);
  const hash = createHash('sha256');
  let firstByteAt = 0;
  let bytes = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      firstByteAt ||= Date.now();
      hash.update(chunk);
      bytes += chunk.length;
      if (abortAfter !== undefined && bytes >= abortAfter) {
        ctl.abort();
        break;
      }
    }
  } catch (err) {
    if (abortAfter === undefined) throw err;
  }
  return { digest: `sha256:${hash.digest('hex')}`, firstByteAt, bytes };
}

/** What a node does for one image: manifest by tag, then config and layers by digest, each verified. */
async function pullImage(base: string, repo: string, tag: string): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(res.status, 200);
  const m = (await res.json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
  for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) assert.equal((await pullBlob(`${base}/v2/${repo}/blobs/${d}`)).digest, d);
}

describe('sync: streaming pull-through', () => {
  let up: DockerRegistry;
  let slow: UpstreamProxy;
  let bad: UpstreamProxy;
  let tok: UpstreamProxy;
  let berth: RunningBerth;
  let work: string;

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry']);
    work = await tempDir('sync-streaming');
    up = await startDockerRegistry();
    [slow, bad, tok] = await Promise.all([
      startUpstreamProxy(up.url, { bytesPerSecond: RATE }),
      startUpstreamProxy(up.url, { corrupt: true }),
      startUpstreamProxy(up.url, { token: { user: 'robot', password: 'pw', expiresIn: 6 } }),
    ]);
    const img = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ randomBytes: 2_000_000 }, { randomBytes: 3_000_000 }] });
    for (const repo of ['fan/app', 'bad/app', 'tok/app']) await skopeoCopy(img.ref, `${up.url}/${repo}:v1`);
    const credentialsFile = join(work, 'credentials.json');
    await writeFile(credentialsFile, JSON.stringify({ [tok.host]: { username: 'robot', password: 'pw' } }));
    const entry = (url: string, destination: string) => ({ urls: [url], onDemand: true, content: [{ prefix: '**', destination }] });
    berth = await startBerth({
      extensions: { sync: { credentialsFile, registries: [entry(slow.url, '/slow'), entry(bad.url, '/bad'), entry(tok.url, '/tok'), entry(up.url, '/fast')] } },
    });
  });

  after(async () => {
    await berth?.stop();
    await Promise.all([slow?.stop(), bad?.stop(), tok?.stop()]);
    await up?.stop();
    await cleanupTempDirs();
  });

  it('streams a cold 200 MB blob to 32 clients from one upstream GET, first bytes long before the upstream is done', async () => {
    const digest = await pushLargeBlob(up.url, 'big/blob', BIG, 1);
    const url = `${berth.url}/v2/slow/big/blob/blobs/${digest}`;
    const started = Date.now();
    // Client 3 hangs up early: the fill goes on for the others.
    const pulls = await Promise.all(Array.from({ length: 32 }, (_, i) => pullBlob(url, i === 3 ? 8 << 20 : undefined)));
    const upstreamGets = slow.requests.filter((r) => r.method === 'GET' && r.path.endsWith(digest));
    assert.equal(upstreamGets.length, 1, 'one upstream GET for 32 concurrent cold pulls');
    const upstreamDone = upstreamGets[0]!.finishedAt!;
    for (const [i, p] of pulls.entries()) if (i !== 3) assert.equal(p.digest, digest, `client ${i}`);
    const first = Math.min(...pulls.map((p) => p.firstByteAt));
    assert.ok(first - started < 2_000, `first byte after ${first - started} ms`);
    assert.ok(upstreamDone - first > 5_000, `first byte only ${upstreamDone - first} ms before the upstream finished`);
    // Clients get the last byte once the digest verifies; the durable copy (fsync, rename) lands right after.
    const stored = join(berth.root, 'slow', 'big', 'blob', 'blobs', 'sha256', digest.slice(7));
    for (let i = 0; i < 150 && !existsSync(stored); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await stat(stored)).size, BIG);
  });

  it('32 concurrent cold pulls of an image cost one upstream GET per manifest and per blob', async () => {
    const from = (await stat(up.logFile)).size;
    await Promise.all(Array.from({ length: 32 }, () => pullImage(berth.url, 'fast/fan/app', 'v1')));
    const gets = (await accessLogEntries(up.logFile, from)).filter((e) => e.userAgent === 'berth-sync' && e.method === 'GET');
    const perPath = new Map<string, number>();
    for (const e of gets) perPath.set(e.path, (perPath.get(e.path) ?? 0) + 1);
    assert.equal(perPath.size, 4, `manifest, config and 2 layers: ${[...perPath.keys()].join(' ')}`);
    for (const [path, n] of perPath) assert.equal(n, 1, `${n} upstream GETs of ${path}`);
  });

  it('never caches bytes that fail verification, and no client receives a whole corrupt blob', async () => {
    const m = (await (await fetch(`${berth.url}/v2/bad/bad/app/manifests/v1`)).json()) as { layers: Array<{ digest: string; size: number }> };
    const layer = m.layers[0]!;
    for (let i = 0; i < 2; i++) {
      const got = await pullBlob(`${berth.url}/v2/bad/bad/app/blobs/${layer.digest}`).catch((err: Error) => err);
      assert.ok(got instanceof Error || got.bytes < layer.size, 'the client got a broken transfer, not a complete corrupt blob');
    }
    const dir = join(berth.root, 'bad', 'bad', 'app');
    assert.ok(!existsSync(join(dir, 'blobs', 'sha256', layer.digest.slice(7))), 'corrupt blob stored');
    assert.deepEqual(await readdir(join(berth.root, '_berth', 'spool')).catch(() => []), [], 'spool left behind');
    assert.equal(bad.requests.filter((r) => r.path.endsWith(layer.digest)).length, 2, 'each attempt went upstream again');
  });

  it('speaks the Docker token flow with credentialsFile and reuses the token until it expires', async () => {
    await pullImage(berth.url, 'tok/tok/app', 'v1');
    assert.equal(tok.tokenRequests, 1, 'one token for the whole pull');
    await new Promise((r) => setTimeout(r, 1_500)); // expires_in 6 s, renewed 5 s early
    const res = await fetch(`${berth.url}/v2/tok/tok/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.status, 200);
    assert.equal(tok.tokenRequests, 2, 'the tag check fetched a fresh token');
    assert.ok(tok.requests.some((r) => r.method === 'HEAD' && r.path === '/v2/tok/app/manifests/v1' && r.status === 200), 'tag revalidated with HEAD');
  });
});
