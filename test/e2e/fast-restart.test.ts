// storage.fastRestart: a restart with the same version and storage config skips the start-up walk of the
// root (the catalog reconcile), as Zot skips its metadata walk, so a repository placed behind berth's back is
// not listed; without fastRestart, or with another storage config, the walk runs and lists it.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pushBlob } from '../helpers/artifact-push.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { cleanupTempDirs, tempDir } from '../helpers/tools.js';

/** A repository as Zot leaves it, written while berth is stopped. */
async function placeZotRepo(root: string, repo: string): Promise<void> {
  const dir = join(root, repo);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
}

async function catalogOf(berth: RunningBerth): Promise<string[]> {
  await berth.app.registry.repos.catalog.whenReconciled();
  const res = await fetch(`${berth.url}/v2/_catalog`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { repositories: string[] }).repositories;
}

describe('storage.fastRestart', () => {
  after(cleanupTempDirs);

  /** Runs berth on `root` with `storage` until `use` returns, then stops it. */
  async function withBerth<T>(root: string, storage: Record<string, unknown>, use: (berth: RunningBerth) => Promise<T>): Promise<T> {
    const berth = await startBerth({ storage: { ...storage, rootDirectory: root } });
    try {
      return await use(berth);
    } finally {
      await berth.stop();
    }
  }

  it('skips the walk when version and storage config are unchanged, and walks otherwise', async () => {
    const root = join(await tempDir('fast-restart'), 'root');
    const fast = { fastRestart: true };
    await withBerth(root, fast, async (berth) => {
      await pushBlob(berth.url, 'pushed', Buffer.from('by berth'));
      assert.deepEqual(await catalogOf(berth), ['pushed']);
    });
    await placeZotRepo(root, 'behind');

    // Same config, fastRestart: the completed reconcile is trusted, the new directory is not walked into.
    assert.deepEqual(await withBerth(root, fast, catalogOf), ['pushed']);
    assert.deepEqual(await withBerth(root, fast, catalogOf), ['pushed'], 'skipping records nothing new: still skipped');
    // Without fastRestart the walk runs and finds it.
    assert.deepEqual(await withBerth(root, {}, catalogOf), ['behind', 'pushed']);

    await placeZotRepo(root, 'later');
    // The walk just recorded ran under the config without fastRestart: another storage config, so this start walks.
    assert.deepEqual(await withBerth(root, fast, catalogOf), ['behind', 'later', 'pushed']);
    await placeZotRepo(root, 'last');
    // Any storage key counts (here gcDelay): a changed config walks again.
    assert.deepEqual(await withBerth(root, { ...fast, gcDelay: '2h' }, catalogOf), ['behind', 'last', 'later', 'pushed']);
  });
});
