import type { SigningKeys } from '../../../core/extensions/api';
import { blob, writeTx, type Db } from './sqlite-db';

export function sqliteSigningKeys(db: Db): SigningKeys {
  const insert = db.prepare<[string, Buffer]>('INSERT INTO signing_keys (name, key) VALUES (?, ?) ON CONFLICT DO NOTHING');
  const byName = db.prepare<[string], Buffer>('SELECT key FROM signing_keys WHERE name = ?').pluck();
  // The first candidate written wins; every later caller reads that one back.
  const getOrCreate = writeTx(db, (name: string, candidate: Uint8Array) => {
    insert.run(name, blob(candidate));
    return byName.get(name)!;
  });
  return {
    getOrCreate: async (name, candidate) => getOrCreate(name, candidate),
    get: async (name) => byName.get(name),
  };
}
