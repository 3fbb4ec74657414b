// A chunked push whose PATCH is cut off by the client: what landed is kept, the status says where to go on,
// and the upload completes from there, leaving nothing in .uploads.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Sends `sent` of a PATCH announcing `announced` bytes, then drops the connection. */
async function cutOffPatch(url: string, sent: Buffer, announced: number): Promise<void> {
  const req = http.request(url, { method: 'PATCH', headers: { 'Content-Length': String(announced), 'Content-Type': 'application/octet-stream' } });
  req.on('error', () => undefined);
  await new Promise<void>((resolve) => req.write(sent, () => resolve()));
  req.destroy();
}

describe('chunked upload cut off by the client', () => {
  let berth: RunningBerth | undefined;
  after(() => berth?.stop());

  it('keeps what landed, reports it in the status, and completes from there', async () => {
    berth = await startBerth();
    const data = randomBytes(6 << 20);
    const post = await fetch(`${berth.url}/v2/cut/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 202);
    const location = `${berth.url}${post.headers.get('location')}`;
    await cutOffPatch(location, data.subarray(0, 3 << 20), data.length);

    // The session moves once, when the cut-off chunk has settled: poll the status until it does.
    let range: RegExpExecArray | null = null;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
      const status = await fetch(location);
      assert.equal(status.status, 204);
      range = /^0-(\d+)$/.exec(status.headers.get('range') ?? '');
      assert.ok(range, `Range header ${status.headers.get('range')}`);
      if (range[1] !== '0') break;
    }
    assert.ok(range && range[1] !== '0', 'the bytes that landed before the cut are kept');
    const landed = Number(range[1]) + 1;
    assert.ok(landed <= 3 << 20, `no more than was sent is kept (${landed})`);

    const rest = data.subarray(landed);
    const patch = await fetch(location, { method: 'PATCH', body: rest, headers: { 'Content-Range': `${landed}-${data.length - 1}`, 'Content-Type': 'application/octet-stream' } });
    assert.equal(patch.status, 202);
    const put = await fetch(`${location}?digest=${sha(data)}`, { method: 'PUT' });
    assert.equal(put.status, 201);
    const got = await fetch(`${berth.url}/v2/cut/app/blobs/${sha(data)}`);
    assert.equal(sha(Buffer.from(await got.arrayBuffer())), sha(data));
    assert.deepEqual(await readdir(join(berth.root, 'cut', 'app', '.uploads')), []);
  });
});
