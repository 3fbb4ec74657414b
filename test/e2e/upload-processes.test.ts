// Chunked uploads whose session lives in the MetaStore, with real berth processes on one root: one upload
// PATCHed through one process and finished through another, and a berth killed -9 in the middle of a PATCH
// whose restart reports the acknowledged Range and completes the upload with the right bytes.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { spawnBerth, type BerthProcess } from '../helpers/berth-process';
import { cleanupTempDirs, tempDir } from '../helpers/tools';

after(() => cleanupTempDirs());

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MiB = 1 << 20;

/** The end offset (exclusive) a 202/204/416 reports in its `Range: 0-<last>` header. */
function rangeEnd(res: Response): number {
  const m = /^0-(\d+)$/.exec(res.headers.get('range') ?? '');
  assert.ok(m, `Range header ${res.headers.get('range')} (status ${res.status})`);
  return Number(m[1]) + 1;
}

async function patch(url: string, location: string, data: Buffer, start: number): Promise<Response> {
  const res = await fetch(`${url}${location}`, {
    method: 'PATCH', body: data.subarray(start),
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${data.length - 1}` },
  });
  await res.arrayBuffer();
  return res;
}

async function status(url: string, location: string): Promise<Response> {
  const res = await fetch(`${url}${location}`);
  await res.arrayBuffer();
  assert.equal(res.status, 204, `status of ${location} through ${url}`);
  return res;
}

async function blobBytes(url: string, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${url}/v2/${repo}/blobs/${digest}`);
  assert.equal(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}

describe('uploads across berth processes', () => {
  const procs: BerthProcess[] = [];
  after(async () => {
    for (const p of procs) await p.stop().catch(() => undefined);
  });
  const spawn = async (root: string) => {
    const p = await spawnBerth({ storage: { rootDirectory: root } });
    procs.push(p);
    return p;
  };

  it('a chunked upload PATCHed through one process is finished through another', async () => {
    const root = join(await tempDir('upload-procs-'), 'root');
    const [a, b] = [await spawn(root), await spawn(root)];
    const repo = 'shared/upload';
    const data = randomBytes(3 * MiB + 12_345);
    const post = await fetch(`${a.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 202);
    const location = post.headers.get('location')!;

    const first = await fetch(`${a.url}${location}`, {
      method: 'PATCH', body: data.subarray(0, 2 * MiB), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${2 * MiB - 1}` },
    });
    assert.equal(first.status, 202);
    assert.equal(rangeEnd(first), 2 * MiB);
    assert.equal(rangeEnd(await status(b.url, location)), 2 * MiB, 'the other process sees the acknowledged offset');

    // A retry of the first chunk through the other process is refused with where the upload really is.
    const stale = await fetch(`${b.url}${location}`, {
      method: 'PATCH', body: data.subarray(0, MiB), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${MiB - 1}` },
    });
    assert.equal(stale.status, 416);
    assert.equal(rangeEnd(stale), 2 * MiB);

    const second = await patch(b.url, location, data, 2 * MiB);
    assert.equal(second.status, 202);
    assert.equal(rangeEnd(second), data.length);
    assert.equal(rangeEnd(await status(a.url, location)), data.length);
    const put = await fetch(`${b.url}${location}?digest=${sha(data)}`, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    assert.ok((await blobBytes(a.url, repo, sha(data))).equals(data), 'the blob is byte-identical through the first process');
    assert.equal((await fetch(`${a.url}${location}`)).status, 404, 'the session is gone for both');
    assert.deepEqual(await readdir(join(root, repo, '.uploads')), []);
  });

  it('kill -9 during a PATCH: after the restart the upload reports the acknowledged Range and completes', async () => {
    const root = join(await tempDir('upload-kill-'), 'root');
    const repo = 'crash/upload';
    const data = randomBytes(24 * MiB);
    const acked = 4 * MiB;
    const before = await spawn(root);
    const post = await fetch(`${before.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    const location = post.headers.get('location')!;
    for (const start of [0, 2 * MiB]) {
      const res = await fetch(`${before.url}${location}`, {
        method: 'PATCH', body: data.subarray(start, start + 2 * MiB),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${start + 2 * MiB - 1}` },
      });
      assert.equal(res.status, 202);
    }
    assert.equal(rangeEnd(await status(before.url, location)), acked);

    // A third chunk streams in; berth dies while receiving it.
    const req = http.request(`${before.url}${location}`, {
      method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${acked}-${data.length - 1}`, 'Content-Length': String(data.length - acked) },
    });
    req.on('error', () => undefined);
    for (let at = acked; at < acked + 8 * MiB; at += MiB) await new Promise<void>((r) => req.write(data.subarray(at, at + MiB), () => r()));
    await before.kill9();
    req.destroy();

    const after = await spawn(root);
    assert.equal(rangeEnd(await status(after.url, location)), acked, 'the restarted berth reports what was acknowledged');
    // The client continues from there. Bytes of the cut-off chunk that reached the disk count as received: a 416
    // then says where they end, and the client continues from that offset, as it would after any 416.
    let res = await patch(after.url, location, data, acked);
    if (res.status === 416) {
      const landed = rangeEnd(await status(after.url, location));
      assert.ok(landed > acked && landed <= acked + 8 * MiB, `the offset moved to the durable bytes (${landed})`);
      res = await patch(after.url, location, data, landed);
    }
    assert.equal(res.status, 202);
    assert.equal(rangeEnd(res), data.length);
    const put = await fetch(`${after.url}${location}?digest=${sha(data)}`, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    assert.ok((await blobBytes(after.url, repo, sha(data))).equals(data), 'the blob is the bytes the client sent');
    assert.deepEqual(await readdir(join(root, repo, '.uploads')), []);
  });
});
