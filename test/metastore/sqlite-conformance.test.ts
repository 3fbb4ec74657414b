import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMetaStoreConformance } from '../../storage-drivers/conformance/metastore-conformance';
import { createSqliteMetaStore } from '../../storage-drivers/metadata/sqlite';

// The suite exactly as an outside author runs it: a fresh root directory per test, the peer process opening
// the same file through the store's own factory.
runMetaStoreConformance('sqlite', async () => {
  const rootDirectory = await mkdtemp(join(tmpdir(), 'berth-meta-'));
  return {
    store: createSqliteMetaStore({ rootDirectory }),
    peer: { module: require.resolve('../../storage-drivers/metadata/sqlite/sqlite-meta-store'), export: 'createSqliteMetaStore', options: { rootDirectory } },
    cleanup: () => rm(rootDirectory, { recursive: true, force: true }),
  };
});
