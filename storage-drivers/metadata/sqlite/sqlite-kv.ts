import type { CasResult, KeyValueSpace, KvEntry } from '../../../core/extensions/api';
import type { Statement } from 'better-sqlite3';
import { blob, versions, writeTx, type Db } from './sqlite-db';

interface Row {
  key: string;
  value: Buffer;
  version: number;
}

/** One prepared set for the file; each namespace is a `ns` value bound into every statement. */
export function sqliteKv(db: Db): (namespace: string) => KeyValueSpace {
  const next = versions(db);
  const get = db.prepare<[string, string], Row>('SELECT key, value, version FROM kv WHERE ns = ? AND key = ?');
  const upsert = db.prepare<[string, string, Buffer, number]>(
    'INSERT INTO kv (ns, key, value, version) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value, version = excluded.version');
  const replace = db.prepare<[Buffer, number, string, string, number]>('UPDATE kv SET value = ?, version = ? WHERE ns = ? AND key = ? AND version = ?');
  const insert = db.prepare<[string, string, Buffer, number]>('INSERT INTO kv (ns, key, value, version) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING');
  const remove = db.prepare<[string, string]>('DELETE FROM kv WHERE ns = ? AND key = ?');
  const removeAt = db.prepare<[string, string, number]>('DELETE FROM kv WHERE ns = ? AND key = ? AND version = ?');
  // Keys compare as UTF-8 bytes. A prefix's upper bound is the prefix with its last byte raised, which may not
  // be valid UTF-8, so it is bound as a blob and cast (a cast reinterprets the bytes unchecked). Both bounds
  // are index ranges, so a page reads only matching keys.
  const scans = new Map<string, Statement<unknown[], Row>>();
  const scan = (lower: '>' | '>=', bounded: boolean) => {
    const sql = `SELECT key, value, version FROM kv WHERE ns = ? AND key ${lower} ?${bounded ? ' AND key < CAST(? AS TEXT)' : ''} ORDER BY key LIMIT ?`;
    let stmt = scans.get(sql);
    if (!stmt) scans.set(sql, (stmt = db.prepare<unknown[], Row>(sql)));
    return stmt;
  };

  const put = writeTx(db, (ns: string, key: string, value: Uint8Array) => {
    const version = next();
    upsert.run(ns, key, blob(value), version);
    return version;
  });
  const cas = writeTx(db, (ns: string, key: string, expected: number | undefined, value: Uint8Array): CasResult<KvEntry> => {
    const version = next();
    const done = expected === undefined
      ? insert.run(ns, key, blob(value), version).changes === 1
      : replace.run(blob(value), version, ns, key, expected).changes === 1;
    const current = get.get(ns, key);
    return done ? { ok: true, value: current! } : { ok: false, current };
  });

  return (ns) => ({
    get: async (key) => get.get(ns, key),
    put: async (key, value) => put(ns, key, value),
    compareAndSet: async (key, expected, value) => cas(ns, key, expected, value),
    delete: async (key, expected) => (expected === undefined ? remove.run(ns, key) : removeAt.run(ns, key, expected)).changes === 1,
    list: async (prefix, { after, limit }) => {
      // Keys before the prefix cannot match: start after `after` only when it lies at or past the prefix.
      const exclusive = after !== undefined && after >= prefix;
      const lower = exclusive ? after : prefix;
      const upper = upperBound(prefix);
      const stmt = scan(exclusive ? '>' : '>=', upper !== undefined);
      return upper ? stmt.all(ns, lower, upper, limit) : stmt.all(ns, lower, limit);
    },
  });
}

/** The first byte string above every string starting with `prefix`; undefined for '' (no bound). */
function upperBound(prefix: string): Buffer | undefined {
  if (prefix === '') return undefined;
  const bytes = Buffer.from(prefix, 'utf8');
  // UTF-8 never contains 0xff, so the last byte can always be raised.
  bytes[bytes.length - 1] += 1;
  return bytes;
}
