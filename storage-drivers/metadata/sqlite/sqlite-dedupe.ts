import type { DedupeIndex } from '../../../core/extensions/api';
import { versions, writeTx, type Db } from './sqlite-db';

export function sqliteDedupe(db: Db): DedupeIndex {
  const next = versions(db);
  const insert = db.prepare<[string, string, number]>('INSERT INTO dedupe (digest, location, added) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
  const remove = db.prepare<[string, string]>('DELETE FROM dedupe WHERE digest = ? AND location = ?');
  const count = db.prepare<[string], number>('SELECT count(*) FROM dedupe WHERE digest = ?').pluck();
  const locations = db.prepare<[string], string>('SELECT location FROM dedupe WHERE digest = ? ORDER BY added').pluck();
  const digests = db.prepare<[string, number], string>('SELECT DISTINCT digest FROM dedupe WHERE digest > ? ORDER BY digest LIMIT ?').pluck();

  // `added` orders the locations: the first one recorded is the original.
  const add = writeTx(db, (digest: string, location: string) => {
    insert.run(digest, location, next());
    return count.get(digest)!;
  });
  const drop = writeTx(db, (digest: string, location: string) => {
    remove.run(digest, location);
    return count.get(digest)!;
  });

  return {
    add: async (digest, location) => add(digest, location),
    remove: async (digest, location) => drop(digest, location),
    locations: async (digest) => locations.all(digest),
    count: async (digest) => count.get(digest)!,
    digests: async ({ after, limit }) => digests.all(after ?? '', limit),
  };
}
