import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { LEASE_DEFAULTS } from '../../core/registry/repo-lock';
import { sqliteFile } from '../../storage-drivers/metadata/sqlite';
import { pushBlob } from '../helpers/artifact-push';
import { spawnBerth, type BerthProcess } from '../helpers/berth-process';
import { cleanupTempDirs, sleep, tempDir } from '../helpers/tools';

after(() => cleanupTempDirs());

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Pushed { tag: string; digest: string; bytes: Buffer }

/** A small image with its own config and layer, pushed by raw HTTP; resolves once the manifest PUT answered 201. */
async function pushImage(url: string, repo: string, tag: string): Promise<Pushed> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, tag }));
  const layer = randomBytes(1024 + Math.floor(Math.random() * 4096));
  const [c, l] = [await pushBlob(url, repo, config), await pushBlob(url, repo, layer)];
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: c, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l, size: layer.length }],
  }));
  const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': MANIFEST } });
  assert.equal(res.status, 201, `manifest PUT ${repo}:${tag} through ${url}: ${await res.text()}`);
  return { tag, digest: sha(bytes), bytes };
}

/**
 * Every pushed tag is listed, served byte-identical and named once in a valid index.json. `inFlight` is a tag
 * whose push was cut off by a kill: it may or may not have landed, and nothing else may appear.
 */
async function assertAllPresent(procs: BerthProcess[], root: string, repo: string, pushed: Pushed[], inFlight?: string): Promise<void> {
  let extra = 0;
  for (const p of procs) {
    const list = await fetch(`${p.url}/v2/${repo}/tags/list`);
    assert.equal(list.status, 200);
    const all = ((await list.json()) as { tags: string[] }).tags;
    const tags = all.filter((t) => t !== inFlight);
    extra = all.length - tags.length;
    assert.deepEqual([...tags].sort(), pushed.map((x) => x.tag).sort(), `every tag listed by ${p.url}`);
    for (const x of pushed) {
      const res = await fetch(`${p.url}/v2/${repo}/manifests/${x.tag}`, { headers: { Accept: MANIFEST } });
      assert.equal(res.status, 200, `${repo}:${x.tag} through ${p.url}`);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(x.bytes), `${repo}:${x.tag} byte-identical`);
    }
  }
  const index = JSON.parse(await readFile(join(root, repo, 'index.json'), 'utf8')) as { schemaVersion: number; manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  assert.equal(index.schemaVersion, 2);
  const byTag = new Map(index.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest]));
  assert.equal(index.manifests.length, pushed.length + extra, 'one index entry per tag, no duplicates');
  for (const x of pushed) assert.equal(byTag.get(x.tag), x.digest, `index.json names ${x.tag}`);
}

/** Pushes `count` tags through `proc`, `parallel` at a time. */
async function pushMany(proc: BerthProcess, repo: string, prefix: string, count: number, parallel: number): Promise<Pushed[]> {
  const out: Pushed[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) {
      const i = next++;
      out.push(await pushImage(proc.url, repo, `${prefix}-${i}`));
    }
  }));
  return out;
}

function leaseHolder(root: string, name: string): { holder: string | null; expiresAt: number } | undefined {
  const db = new Database(sqliteFile(root), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT holder, expires_at FROM leases WHERE name = ?').get(name) as { holder: string | null; expires_at: number } | undefined;
    return row && { holder: row.holder, expiresAt: row.expires_at };
  } finally {
    db.close();
  }
}

describe('two berth processes on one root directory', () => {
  it('concurrent pushes of different tags into one repository through both lose no tag', async () => {
    const root = join(await tempDir('two-procs-'), 'root');
    const a = await spawnBerth({ storage: { rootDirectory: root } });
    const b = await spawnBerth({ storage: { rootDirectory: root } });
    try {
      const repo = 'shared/app';
      const [fromA, fromB] = await Promise.all([pushMany(a, repo, 'a', 20, 4), pushMany(b, repo, 'b', 20, 4)]);
      await assertAllPresent([a, b], root, repo, [...fromA, ...fromB]);
      // What Zot reads stays what Zot writes: the lock state is in the MetaStore database, not beside index.json.
      // (`.uploads` is Zot's own upload directory, empty once every upload finished.)
      assert.deepEqual((await readdir(join(root, repo))).filter((n) => n !== '.uploads').sort(), ['blobs', 'index.json', 'oci-layout']);
      assert.deepEqual(await readdir(join(root, repo, '.uploads')).catch(() => []), []);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('a process killed -9 while holding a repository lease blocks the other for at most the TTL', async () => {
    const root = join(await tempDir('two-procs-kill-'), 'root');
    const a = await spawnBerth({ storage: { rootDirectory: root } });
    const b = await spawnBerth({ storage: { rootDirectory: root } });
    const repo = 'shared/crash';
    const lease = `lock:${repo}`;
    const acknowledged: Pushed[] = [];
    let stop = false;
    const pushing = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          acknowledged.push(await pushImage(a.url, repo, `a-${i}`));
        } catch {
          return; // a died mid-push: that push was never acknowledged
        }
      }
    })();
    try {
      // Freeze a (SIGSTOP) until the moment it holds the repository's lease, then kill it there.
      let caught = false;
      for (let attempt = 0; attempt < 500 && !caught; attempt++) {
        await sleep(5 + Math.random() * 20);
        process.kill(a.daemon.pid, 'SIGSTOP');
        const row = leaseHolder(root, lease);
        caught = !!row?.holder?.includes(`:${a.daemon.pid}:`) && row.expiresAt > Date.now() + 1_000;
        if (!caught) process.kill(a.daemon.pid, 'SIGCONT');
      }
      assert.ok(caught, 'a was stopped while holding the lease');
      await a.kill9();
      stop = true;
      await pushing;
      assert.ok(leaseHolder(root, lease)!.expiresAt > Date.now(), 'the dead holder\'s lease is still live');

      const started = Date.now();
      const fromB = await pushImage(b.url, repo, 'b-after-kill');
      const waited = Date.now() - started;
      assert.ok(waited <= LEASE_DEFAULTS.ttlMs + 3_000, `b waited ${waited} ms, the TTL is ${LEASE_DEFAULTS.ttlMs} ms`);
      await assertAllPresent([b], root, repo, [...acknowledged, fromB], `a-${acknowledged.length}`);
    } finally {
      stop = true;
      await a.kill9().catch(() => undefined);
      await b.stop();
    }
  });
});
