// Online GC (storage.gc, gcDelay, gcInterval, gcTimeWindow) over real skopeo pushes and pulls: images sharing
// layers in several repositories, a deleted manifest and an overwritten tag; after gcDelay exactly the blobs no
// remaining manifest references go, never one a manifest still uses, and what remains pulls. Stale uploads,
// crash leftovers and emptied repositories go too; fresh ones stay.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth';
import { eventually } from '../helpers/eventually';
import { buildOciImage, pushBlob, skopeoCopy, skopeoDelete, skopeoInspect, type BuiltImage } from '../helpers/images';
import { cleanupTempDirs, tempDir } from '../helpers/tools';

const HOUR_AGO = new Date(Date.now() - 3_600_000);

async function blobFiles(root: string, repo: string): Promise<string[]> {
  const dir = join(root, repo, 'blobs', 'sha256');
  return existsSync(dir) ? (await readdir(dir)).filter((n) => !n.startsWith('.')).map((hex) => `sha256:${hex}`).sort() : [];
}

/** Every digest the tag's manifest needs in `repo` (the manifest, its config and layers), as berth serves it. */
async function needed(berth: RunningBerth, ref: string): Promise<string[]> {
  const raw = await skopeoInspect(`${berth.url}/${ref}`, { raw: true });
  const m = raw.manifest;
  const head = await fetch(`${berth.url}/v2/${ref.replace(':', '/manifests/')}`, { method: 'HEAD', headers: { accept: m.mediaType ?? '' } });
  return [head.headers.get('docker-content-digest')!, m.config!.digest, ...m.layers!.map((l) => l.digest)];
}

async function catalog(berth: RunningBerth): Promise<string[]> {
  return ((await (await fetch(`${berth.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;
}

describe('gc', () => {
  let berth: RunningBerth;
  let work: string;
  const images: Record<string, BuiltImage> = {};

  before(async () => {
    work = await tempDir('gc-images');
    // Four images over one layout: `shared` is a layer of A, B and C; each has its own layer too.
    const shared = { randomBytes: 300_000, seed: 1, path: '/shared.bin' };
    for (const [name, seed] of [['a', 2], ['b', 3], ['c', 4], ['d', 5]] as const) {
      images[name] = await buildOciImage(join(work, 'layout'), { tag: name, layers: [shared, { randomBytes: 200_000, seed, path: `/${name}.bin` }] });
    }
    berth = await startBerth({ storage: { gc: true, gcDelay: '2s', gcInterval: '1h' } });
  });
  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('after gcDelay removes exactly the blobs nothing references, never a shared one; what remains pulls', async () => {
    const { url, root } = berth;
    await skopeoCopy(images.a.ref, `${url}/gc/one:a`);
    await skopeoCopy(images.b.ref, `${url}/gc/one:b`);
    await skopeoCopy(images.c.ref, `${url}/gc/one:moving`);
    await skopeoCopy(images.a.ref, `${url}/gc/two:a`); // the same blobs in a second repository
    const neededA = await needed(berth, 'gc/one:a');
    const neededC = await needed(berth, 'gc/one:moving');
    const twoBefore = await blobFiles(root, 'gc/two');

    await skopeoDelete(`${url}/gc/one:a`); // the manifest goes: its config and own layer are unreferenced now
    await skopeoCopy(images.d.ref, `${url}/gc/one:moving`); // C is untagged now, to go after retention.delay
    const orphan = await pushBlob(url, 'gc/one', randomBytes(1000)); // referenced by nothing, but fresh

    const first = await berth.app.gc.runNow();
    assert.ok(first.ran);
    assert.ok((await blobFiles(root, 'gc/one')).includes(orphan), 'a blob younger than gcDelay stays');

    const keep = new Set([...(await needed(berth, 'gc/one:b')), ...(await needed(berth, 'gc/one:moving'))]);
    await eventually(async () => {
      await berth.app.gc.runNow();
      return (await blobFiles(root, 'gc/one')).join() === [...keep].sort().join();
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}: want ${JSON.stringify([...keep].sort())}, on disk ${JSON.stringify(await blobFiles(root, 'gc/one'))}`);
    });
    const left = await blobFiles(root, 'gc/one');
    assert.ok(!left.includes(orphan));
    for (const d of neededA.slice(1)) assert.equal(left.includes(d), keep.has(d), `${d}: kept exactly when B or D uses it`);
    assert.ok(!left.includes(neededC[0]), 'the untagged manifest went with its own blobs');
    assert.deepEqual(await blobFiles(root, 'gc/two'), twoBefore, 'another repository holding the same blobs is untouched');
    const index = JSON.parse(await readFile(join(root, 'gc/one/index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    assert.deepEqual(index.manifests.map((m) => m.digest).sort(), [(await needed(berth, 'gc/one:b'))[0], (await needed(berth, 'gc/one:moving'))[0]].sort());

    for (const ref of ['gc/one:b', 'gc/one:moving', 'gc/two:a']) {
      const out = join(await tempDir('gc-pull'), 'img');
      await skopeoCopy(`${url}/${ref}`, `oci:${out}:x`);
    }
  });

  it('discards uploads idle longer than gcDelay and crash leftovers, keeping fresh ones', async () => {
    const { url, root } = berth;
    await skopeoCopy(images.b.ref, `${url}/gc/uploads:b`); // the repository keeps content
    const open = async () => {
      const post = await fetch(`${url}/v2/gc/uploads/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 202);
      const location = new URL(post.headers.get('location')!, url);
      const data = randomBytes(5000);
      const patch = await fetch(location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: data });
      assert.equal(patch.status, 202);
      return { location: new URL(patch.headers.get('location')!, url), data };
    };
    const stale = (await open()).location;
    const status = async (location: URL) => (await fetch(location)).status;
    const leftovers = join(root, 'gc/uploads/blobs/sha256');
    const oldTmp = join(leftovers, `.${'a'.repeat(64)}.tmp-0123456789abcdef`);
    const freshTmp = join(leftovers, `.${'b'.repeat(64)}.tmp-fedcba9876543210`);
    const oldSpool = join(root, 'gc/uploads/.sync', randomUUID());
    await mkdir(join(root, 'gc/uploads/.sync'), { recursive: true });
    for (const f of [oldTmp, freshTmp, oldSpool]) await writeFile(f, randomBytes(10));
    for (const f of [oldTmp, oldSpool]) await utimes(f, HOUR_AGO, HOUR_AGO); // left by a crash an hour ago

    await eventually(async () => {
      await berth.app.gc.runNow();
      return (await status(stale)) === 404;
    });
    assert.ok(!existsSync(oldTmp) && !existsSync(oldSpool), 'leftovers untouched for long are removed');
    assert.ok(existsSync(freshTmp), 'a temp file a live writer may still own stays');
    const fresh = await open();
    await berth.app.gc.runNow();
    assert.equal(await status(fresh.location), 204, 'an upload active within gcDelay stays');
    fresh.location.searchParams.set('digest', `sha256:${createHash('sha256').update(fresh.data).digest('hex')}`);
    const put = await fetch(fresh.location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.status, 201, 'and is finished as usual');
  });

  it('removes a repository once nothing is left in it, and it leaves _catalog', async () => {
    const { url, root } = berth;
    await skopeoCopy(images.b.ref, `${url}/gc/emptied:b`);
    assert.ok((await catalog(berth)).includes('gc/emptied'));
    await skopeoDelete(`${url}/gc/emptied:b`);
    await eventually(async () => {
      await berth.app.gc.runNow();
      return !(await catalog(berth)).includes('gc/emptied');
    });
    assert.ok(!existsSync(join(root, 'gc/emptied/index.json')));
    assert.equal((await fetch(`${url}/v2/gc/emptied/tags/list`)).status, 404);
    assert.ok((await catalog(berth)).includes('gc/one'), 'repositories with content stay');
  });
});

/** "HH:MM" of now plus `minutes`, UTC, wrapping midnight. */
function clock(minutes: number): string {
  const now = new Date();
  const t = (((now.getUTCHours() * 60 + now.getUTCMinutes() + minutes) % 1440) + 1440) % 1440;
  return `${String(Math.floor(t / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
}

describe('gcTimeWindow', () => {
  it('passes start only inside the window: outside it nothing is collected, inside it is', async () => {
    const settings = { gc: true, gcDelay: '1s', gcInterval: '1s' };
    const inside = await startBerth({ storage: { ...settings, gcTimeWindow: `${clock(-1)}-${clock(3)}` } });
    const outside = await startBerth({ storage: { ...settings, gcTimeWindow: `${clock(3)}-${clock(5)}` } });
    try {
      const data = randomBytes(2000);
      const digests = await Promise.all([inside, outside].map((b) => pushBlob(b.url, 'win/repo', data)));
      // Both schedules run every second; the one whose window is open collects the orphan blob, the other
      // has had the same chances and started no pass.
      await eventually(async () => !(await blobFiles(inside.root, 'win/repo')).includes(digests[0]));
      assert.ok((await blobFiles(outside.root, 'win/repo')).includes(digests[1]), 'outside the window nothing is collected');
    } finally {
      await inside.stop();
      await outside.stop();
    }
  });

  it('gc: false collects nothing', async () => {
    const off = await startBerth({ storage: { gc: false, gcDelay: '1s', gcInterval: '1s' } });
    const on = await startBerth({ storage: { gc: true, gcDelay: '1s', gcInterval: '1s' } });
    try {
      const data = randomBytes(2000);
      const [a, b] = await Promise.all([off, on].map((x) => pushBlob(x.url, 'off/repo', data)));
      await eventually(async () => !(await blobFiles(on.root, 'off/repo')).includes(b));
      assert.ok((await blobFiles(off.root, 'off/repo')).includes(a));
    } finally {
      await off.stop();
      await on.stop();
    }
  });
});
