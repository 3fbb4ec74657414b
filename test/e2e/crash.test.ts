import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { spawnBerth, type BerthProcess } from '../helpers/berth-process';
import { cleanupTempDirs, sleep, tempDir } from '../helpers/tools';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function putBlob(url: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha(data);
  const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data, headers: { 'Content-Type': 'application/octet-stream' } });
  if (res.status !== 201) throw new Error(`blob push ${res.status}`);
  return digest;
}

async function putImage(url: string, repo: string, tag: string): Promise<{ digest: string; blobs: string[] }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n: tag }));
  const layer = randomBytes(4096 + Math.floor(Math.random() * 60000));
  const blobs = [await putBlob(url, repo, config), await putBlob(url, repo, layer)];
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blobs[0], size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: blobs[1], size: layer.length }],
  }));
  const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (res.status !== 201) throw new Error(`manifest push ${res.status}`);
  return { digest: sha(manifest), blobs };
}

/** Streams `total` bytes to a monolithic upload and never finishes on its own (the server is killed). */
function startSlowUpload(url: string, repo: string, total: number): { sent: () => number; done: Promise<unknown> } {
  let sent = 0;
  const digest = `sha256:${'0'.repeat(64)}`;
  const req = http.request(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: { 'Content-Length': String(total) } });
  const done = new Promise((resolve) => {
    req.on('error', resolve);
    req.on('response', resolve);
  });
  const chunk = randomBytes(1 << 20);
  const pump = () => {
    while (sent < total - chunk.length * 2) {
      sent += chunk.length;
      if (!req.write(chunk)) return void req.once('drain', pump);
    }
  };
  pump();
  return { sent: () => sent, done };
}

async function verifyPulled(url: string, repo: string, tag: string, image: { digest: string; blobs: string[] }): Promise<void> {
  const m = await fetch(`${url}/v2/${repo}/manifests/${tag}`);
  assert.equal(m.status, 200, `${repo}:${tag} manifest`);
  assert.equal(sha(Buffer.from(await m.arrayBuffer())), image.digest);
  for (const b of image.blobs) {
    const r = await fetch(`${url}/v2/${repo}/blobs/${b}`);
    assert.equal(r.status, 200, `${repo} blob ${b}`);
    assert.equal(sha(Buffer.from(await r.arrayBuffer())), b);
  }
}

describe('crash safety (kill -9)', () => {
  after(cleanupTempDirs);

  it('a kill during pushes loses no acknowledged content and exposes no partial blob', async () => {
    const root = join(await tempDir('berth-crash-'), 'root');
    let proc: BerthProcess = await spawnBerth({ storage: { rootDirectory: root } });
    const stable = await putImage(proc.url, 'crash/stable', 'v1');

    // A chunked upload with two chunks acknowledged before the crash must resume after it.
    const post = await fetch(`${proc.url}/v2/crash/resume/blobs/uploads/`, { method: 'POST' });
    const location = post.headers.get('location')!;
    const part1 = randomBytes(300_000);
    const part2 = randomBytes(200_000);
    const p1 = await fetch(`${proc.url}${location}`, { method: 'PATCH', body: part1, headers: { 'Content-Range': `0-${part1.length - 1}`, 'Content-Type': 'application/octet-stream' } });
    assert.equal(p1.status, 202);

    const acknowledged: Array<{ repo: string; tag: string; image: { digest: string; blobs: string[] } }> = [];
    for (let round = 0; round < 3; round++) {
      const big = startSlowUpload(proc.url, 'crash/big', 512 * 1024 * 1024);
      let stop = false;
      const pushing = (async () => {
        for (let i = 0; !stop; i++) {
          const repo = `crash/r${i % 3}`;
          const tag = `t${round}-${i}`;
          try {
            acknowledged.push({ repo, tag, image: await putImage(proc.url, repo, tag) });
          } catch {
            return; // the server died mid-push: that push was never acknowledged
          }
        }
      })();
      // Kill mid-pushes, once this round has some acknowledged: after a kill the dead holder's repository leases
      // hold those repositories until they expire (10 s), so a round's first pushes may wait that long.
      const before = acknowledged.length;
      await sleep(400 + round * 300);
      for (const deadline = Date.now() + 30_000; acknowledged.length < before + 2 && Date.now() < deadline;) await sleep(20);
      while (big.sent() < 8 * 1024 * 1024) await sleep(20);
      await proc.kill9();
      stop = true;
      await pushing;
      await big.done;
      proc = await spawnBerth({ storage: { rootDirectory: root } }, { port: Number(proc.host.split(':')[1]) });
      const half = await fetch(`${proc.url}/v2/crash/big/blobs/sha256:${'0'.repeat(64)}`, { method: 'HEAD' });
      assert.equal(half.status, 404, 'a partial blob is never visible');
    }
    assert.ok(acknowledged.length > 5, `pushes were acknowledged before the kills (${acknowledged.length})`);

    await verifyPulled(proc.url, 'crash/stable', 'v1', stable);
    for (const a of acknowledged) await verifyPulled(proc.url, a.repo, a.tag, a.image);
    // Only repositories that got a push (after a kill, the dead holder's repository lease blocks pushes to that
    // repository until it expires, so a short round may not reach every repository).
    for (const repo of new Set(acknowledged.map((a) => a.repo))) {
      const index = JSON.parse(await readFile(join(root, repo, 'index.json'), 'utf8')) as { manifests: unknown[] };
      assert.ok(Array.isArray(index.manifests), `${repo}/index.json parses`);
    }

    const status = await fetch(`${proc.url}${location}`);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${part1.length - 1}`, 'the acknowledged chunk survived the crashes');
    const whole = Buffer.concat([part1, part2]);
    const fin = await fetch(`${proc.url}${location}?digest=${sha(whole)}`, { method: 'PUT', body: part2, headers: { 'Content-Range': `${part1.length}-${whole.length - 1}`, 'Content-Type': 'application/octet-stream' } });
    assert.equal(fin.status, 201);
    const got = await fetch(`${proc.url}/v2/crash/resume/blobs/${sha(whole)}`);
    assert.equal(sha(Buffer.from(await got.arrayBuffer())), sha(whole));
    await proc.stop();
  });
});
