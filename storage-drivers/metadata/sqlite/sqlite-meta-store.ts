import { join } from 'node:path';
import type { MetaStore, MetaStoreOptions } from '../../../core/extensions/api';
import { openDatabase, type Db } from './sqlite-db';
import { sqliteAccessTimes } from './sqlite-access-times';
import { sqliteApiKeys } from './sqlite-api-keys';
import { sqliteCatalog } from './sqlite-catalog';
import { sqliteDedupe } from './sqlite-dedupe';
import { sqliteKv } from './sqlite-kv';
import { sqliteLeases } from './sqlite-leases';
import { sqliteSigningKeys } from './sqlite-signing-keys';
import { sqliteUploads } from './sqlite-uploads';

/**
 * Where the file lives under the root: beside berth's other records in `_berth/` (a name no repository can
 * have, since OCI names start with a letter or digit), apart from Zot's `cache.db` and `meta.db`.
 */
export function sqliteFile(rootDirectory: string): string {
  return join(rootDirectory, '_berth', 'berth.db');
}

/**
 * The embedded MetaStore: one SQLite file that every berth process on the root directory opens. Each call
 * is one statement or one IMMEDIATE transaction, so it is atomic across processes as well as within one.
 * better-sqlite3 is synchronous; the calls are short (an indexed lookup or a few row writes).
 */
export function createSqliteMetaStore(options: Pick<MetaStoreOptions, 'rootDirectory'>): MetaStore {
  const file = sqliteFile(options.rootDirectory);
  let db: Db;
  try {
    db = openDatabase(file);
  } catch (err) {
    throw new Error(`storage.rootDirectory: cannot use the metadata database ${file}: ${(err as Error).message}`);
  }
  const kv = sqliteKv(db);
  return {
    kind: 'sqlite',
    uploads: sqliteUploads(db),
    leases: sqliteLeases(db),
    dedupe: sqliteDedupe(db),
    accessTimes: sqliteAccessTimes(db),
    apiKeys: sqliteApiKeys(db),
    catalog: sqliteCatalog(db),
    signingKeys: sqliteSigningKeys(db),
    kv: (namespace) => kv(namespace),
    ping: async () => {
      db.prepare('SELECT 1').get();
    },
    close: async () => {
      if (db.open) db.close();
    },
  };
}
