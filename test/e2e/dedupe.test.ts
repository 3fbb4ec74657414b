// storage.dedupe with real clients: skopeo pushes images sharing layers into several repositories, and every
// shared digest is one inode on disk; pulls and deletes keep the other repositories whole; a root Zot wrote
// (hard links, a cache.db) is served and indexed; dedupe off after on gives every location its own copy again.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { eventually } from '../helpers/eventually.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { skopeoCopy, skopeoDelete, skopeoInspect, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, run, tempDir } from '../helpers/tools.js';
import { placeZotRepo, zotEntry } from '../helpers/zot-root.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (digest: string) => digest.slice('sha256:'.length);
const blobFile = (root: string, repo: string, digest: string) => join(root, repo, 'blobs', 'sha256', hex(digest));

async function manifestOf(img: BuiltImage): Promise<Manifest> {
  return JSON.parse(await readFile(join(img.layoutDir, 'blobs', 'sha256', hex(img.descriptor.digest)), 'utf8')) as Manifest;
}

const blobsOf = (m: Manifest) => [m.config!.digest, ...(m.layers ?? []).map((l) => l.digest)];

/** Every blob file of the repositories, by digest: its paths with their inode and link count. */
async function blobFiles(root: string, repos: string[]): Promise<Map<string, Array<{ repo: string; ino: number; nlink: number }>>> {
  const out = new Map<string, Array<{ repo: string; ino: number; nlink: number }>>();
  for (const repo of repos) {
    for (const name of await readdir(join(root, repo, 'blobs', 'sha256'))) {
      if (name.startsWith('.')) continue;
      const s = await stat(join(root, repo, 'blobs', 'sha256', name));
      const list = out.get(`sha256:${name}`) ?? [];
      list.push({ repo, ino: s.ino, nlink: s.nlink });
      out.set(`sha256:${name}`, list);
    }
  }
  return out;
}

/** Pulls `ref` with skopeo into a dir: copy and checks every blob hashes to its digest and matches `img`. */
async function pullAndCompare(ref: string, img: BuiltImage): Promise<void> {
  const out = await tempDir('dedupe-pull');
  await skopeoCopy(ref, `dir:${out}`);
  assert.equal(sha256(await readFile(join(out, 'manifest.json'))), img.descriptor.digest, ref);
  for (const d of blobsOf(await manifestOf(img))) {
    const pulled = await readFile(join(out, hex(d)));
    assert.equal(sha256(pulled), d, `${ref} ${d}`);
    assert.ok(pulled.equals(await readFile(join(img.layoutDir, 'blobs', 'sha256', hex(d)))), `${ref} ${d} bytes`);
  }
}

describe('dedupe: skopeo pushes into several repositories', () => {
  let work: string;
  let root: string;
  let berth: RunningBerth;
  let web: BuiltImage;
  let app: BuiltImage;
  const repos = ['team/web', 'team/app', 'mirror/web'];

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    work = await tempDir('e2e-dedupe');
    root = join(work, 'root');
    const base = { randomBytes: 2 << 20, seed: 11, path: '/base.bin' };
    web = await buildOciImage(join(work, 'web'), { layers: [base, { randomBytes: 300_000, seed: 12 }] });
    app = await buildOciImage(join(work, 'app'), { layers: [base, { randomBytes: 200_000, seed: 13 }] });
    berth = await startBerth({ storage: { rootDirectory: root } });
    await skopeoCopy(web.ref, `${berth.url}/team/web:1`);
    await skopeoCopy(app.ref, `${berth.url}/team/app:1`);
    await skopeoCopy(web.ref, `${berth.url}/mirror/web:1`);
  });

  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('stores every shared digest as one inode across the repositories', async () => {
    const files = await blobFiles(root, repos);
    const shared = [...files].filter(([, paths]) => paths.length > 1);
    const base = (await manifestOf(web)).layers![0]!.digest;
    assert.ok(shared.some(([d]) => d === base), 'the base layer is in all three repositories');
    assert.equal(files.get(base)!.length, 3);
    for (const [digest, paths] of shared) {
      assert.equal(new Set(paths.map((p) => p.ino)).size, 1, `${digest} is one inode`);
      for (const p of paths) assert.equal(p.nlink, paths.length, `${digest} in ${p.repo}: link count`);
    }
  });

  it('serves every image back byte for byte', async () => {
    await pullAndCompare(`${berth.url}/team/web:1`, web);
    await pullAndCompare(`${berth.url}/team/app:1`, app);
    await pullAndCompare(`${berth.url}/mirror/web:1`, web);
  });

  it('deleting one repository\'s manifest and blob leaves the others intact', async () => {
    const base = (await manifestOf(web)).layers![0]!.digest;
    await skopeoDelete(`${berth.url}/mirror/web:1`);
    const res = await fetch(`${berth.url}/v2/mirror/web/blobs/${base}`, { method: 'DELETE' });
    assert.equal(res.status, 202);
    assert.equal((await fetch(`${berth.url}/v2/mirror/web/blobs/${base}`, { method: 'HEAD' })).status, 404);
    const left = (await blobFiles(root, ['team/web', 'team/app'])).get(base)!;
    assert.equal(left.length, 2);
    assert.ok(left.every((p) => p.nlink === 2 && p.ino === left[0]!.ino));
    await pullAndCompare(`${berth.url}/team/web:1`, web);
    await pullAndCompare(`${berth.url}/team/app:1`, app);
  });

  it('dedupe off after on: the restart runs the restore pass, every location its own copy, content intact', async () => {
    await berth.stop();
    berth = await startBerth({ storage: { rootDirectory: root, dedupe: false } });
    await eventually(async () => [...(await blobFiles(root, ['team/web', 'team/app'])).values()].flat().every((p) => p.nlink === 1));
    const files = await blobFiles(root, ['team/web', 'team/app']);
    for (const [digest, paths] of files) {
      for (const p of paths) assert.equal(sha256(await readFile(blobFile(root, p.repo, digest))), digest, `${p.repo} ${digest}`);
    }
    await pullAndCompare(`${berth.url}/team/web:1`, web);
    await pullAndCompare(`${berth.url}/team/app:1`, app);
    // With dedupe off a new push keeps its own bytes too.
    await skopeoCopy(web.ref, `${berth.url}/again/web:1`);
    const base = (await manifestOf(web)).layers![0]!.digest;
    assert.equal((await stat(blobFile(root, 'again/web', base))).nlink, 1);
  });
});

describe('dedupe: a root Zot wrote with its own dedupe', () => {
  let work: string;
  let root: string;
  let berth: RunningBerth;
  let web: BuiltImage;
  let app: BuiltImage;
  const cacheDb = 'a boltdb file berth never reads';

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    work = await tempDir('e2e-dedupe-zot');
    root = join(work, 'zot-root');
    const base = { randomBytes: 1 << 20, seed: 21, path: '/base.bin' };
    web = await buildOciImage(join(work, 'web'), { tag: '1.0', layers: [base, { randomBytes: 100_000, seed: 22 }] });
    app = await buildOciImage(join(work, 'app'), { tag: '2.0', layers: [base, { randomBytes: 100_000, seed: 23 }] });
    await run('umoci', ['gc', '--layout', join(work, 'web')]);
    await mkdir(root, { mode: 0o700 });
    // Zot's local dedupe: library/web holds the originals, team/app hard links to them; old/app got its own
    // copies (pushed while dedupe was off), and cache.db is Zot's index.
    await placeZotRepo(root, 'library/web', web.layoutDir, [zotEntry(web.descriptor, '1.0')]);
    await placeZotRepo(root, 'team/app', app.layoutDir, [zotEntry(app.descriptor, '2.0')], 'library/web');
    await placeZotRepo(root, 'old/app', app.layoutDir, [zotEntry(app.descriptor, '2.0')]);
    await writeFile(join(root, 'cache.db'), cacheDb, { mode: 0o600 });
    berth = await startBerth({ storage: { rootDirectory: root } });
  });

  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('serves the Zot repositories (skopeo inspect and copy)', async () => {
    for (const [repo, img] of [['library/web', web], ['team/app', app], ['old/app', app]] as const) {
      const info = await skopeoInspect(`${berth.url}/${repo}:${img.tag}`, { raw: true });
      assert.equal(sha256(Buffer.from(info.text)), img.descriptor.digest);
      await pullAndCompare(`${berth.url}/${repo}:${img.tag}`, img);
    }
  });

  it('indexes the tree in the background: the copies Zot did not link are linked, the Zot links stay', async () => {
    const base = (await manifestOf(web)).layers![0]!.digest;
    const original = (await stat(blobFile(root, 'library/web', base))).ino;
    await eventually(async () => (await stat(blobFile(root, 'old/app', base))).ino === original);
    assert.equal((await stat(blobFile(root, 'team/app', base))).ino, original);
    const app2 = blobsOf(await manifestOf(app)).filter((d) => d !== base);
    for (const d of app2) assert.equal((await stat(blobFile(root, 'old/app', d))).ino, (await stat(blobFile(root, 'team/app', d))).ino, d);
    // A new push finds the original through the rebuilt index.
    await skopeoCopy(web.ref, `${berth.url}/new/web:1.0`);
    assert.equal((await stat(blobFile(root, 'new/web', base))).ino, original);
    await pullAndCompare(`${berth.url}/new/web:1.0`, web);
    assert.equal(await readFile(join(root, 'cache.db'), 'utf8'), cacheDb, 'cache.db is left as Zot wrote it');
  });
});
