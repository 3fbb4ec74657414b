import type { ApiKeyRecord, ApiKeyRecords } from '../../../core/extensions/api';
import { versions, writeTx, type Db } from './sqlite-db';

/** The record is kept whole as JSON; `user` and `hash` are columns only to be looked up by. */
export function sqliteApiKeys(db: Db): ApiKeyRecords {
  const next = versions(db);
  const existing = db.prepare<[string], number>('SELECT added FROM api_keys WHERE uuid = ?').pluck();
  const upsert = db.prepare<[string, string, string, number, string]>(`INSERT INTO api_keys (uuid, user, hash, added, record) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (uuid) DO UPDATE SET user = excluded.user, hash = excluded.hash, record = excluded.record`);
  const byHash = db.prepare<[string], string>('SELECT record FROM api_keys WHERE hash = ?').pluck();
  const byUser = db.prepare<[string], string>('SELECT record FROM api_keys WHERE user = ? ORDER BY added').pluck();
  const remove = db.prepare<[string, string]>('DELETE FROM api_keys WHERE user = ? AND uuid = ?');
  const used = db.prepare<[string, string]>("UPDATE api_keys SET record = json_set(record, '$.lastUsed', ?) WHERE uuid = ?");

  // A replaced record keeps its place in the user's list.
  const put = writeTx(db, (r: ApiKeyRecord) => {
    upsert.run(r.uuid, r.user, r.hash, existing.get(r.uuid) ?? next(), JSON.stringify(r));
  });
  const parse = (json: string) => JSON.parse(json) as ApiKeyRecord;

  return {
    put: async (record) => put(record),
    getByHash: async (hash) => {
      const json = byHash.get(hash);
      return json === undefined ? undefined : parse(json);
    },
    listByUser: async (user) => byUser.all(user).map(parse),
    delete: async (user, uuid) => remove.run(user, uuid).changes === 1,
    markUsed: async (uuid, lastUsed) => used.run(lastUsed, uuid).changes === 1,
  };
}
