import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { runDriverConformance } from '../conformance/conformance';
import { createFilesystemDriver } from './filesystem-driver';

async function tempRoot(): Promise<{ root: string; cleanup(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'berth-fs-'));
  return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

runDriverConformance('filesystem', async () => {
  const { root, cleanup } = await tempRoot();
  return { driver: createFilesystemDriver({ rootDirectory: root }), cleanup };
});

// Zot's modes, so berth can take over a Zot root directory without loosening it.
it('filesystem driver creates files 0600 and directories 0700', async () => {
  const { root, cleanup } = await tempRoot();
  try {
    const driver = createFilesystemDriver({ rootDirectory: root, commit: false });
    await driver.putContent('a/b/put', Buffer.from('x'));
    const w = await driver.writer('a/c/written');
    w.end('y');
    await w.commit();
    const appended = await driver.writer('a/d/appended', { append: true });
    await appended.commit();
    await driver.link?.('a/b/put', 'a/e/linked');
    const mode = async (p: string) => (await stat(join(root, p))).mode & 0o777;
    for (const dir of ['a', 'a/b', 'a/c', 'a/d', 'a/e']) assert.equal(await mode(dir), 0o700, dir);
    for (const file of ['a/b/put', 'a/c/written', 'a/d/appended', 'a/e/linked']) assert.equal(await mode(file), 0o600, file);
  } finally {
    await cleanup();
  }
});
