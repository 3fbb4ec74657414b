import type { CasResult, NewUploadSession, UploadSession, UploadSessions } from '../../../core/extensions/api';
import { blob, versions, writeTx, type Db } from './sqlite-db';

interface Row {
  id: string;
  repo: string;
  path: string;
  size: number;
  hash_state: Buffer | null;
  created_at: number;
  updated_at: number;
  version: number;
}

const session = (r: Row): UploadSession => ({
  id: r.id,
  repo: r.repo,
  path: r.path,
  size: r.size,
  ...(r.hash_state ? { hashState: r.hash_state } : {}),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  version: r.version,
});

export function sqliteUploads(db: Db): UploadSessions {
  const next = versions(db);
  const insert = db.prepare(`INSERT INTO uploads (id, repo, path, size, hash_state, created_at, updated_at, version)
    VALUES (@id, @repo, @path, @size, @hashState, @createdAt, @updatedAt, @version) ON CONFLICT (id) DO NOTHING`);
  const byId = db.prepare<[string], Row>('SELECT * FROM uploads WHERE id = ?');
  const advance = db.prepare(`UPDATE uploads SET size = @size, hash_state = @hashState, updated_at = @updatedAt, version = @version
    WHERE id = @id AND version = @expected`);
  const remove = db.prepare<[string]>('DELETE FROM uploads WHERE id = ?');
  const removeAt = db.prepare<[string, number]>('DELETE FROM uploads WHERE id = ? AND version = ?');
  const stale = db.prepare<[number, number], Row>('SELECT * FROM uploads WHERE updated_at < ? ORDER BY updated_at, id LIMIT ?');

  const create = writeTx(db, (s: NewUploadSession) => insert.run({
    id: s.id, repo: s.repo, path: s.path, size: s.size, hashState: s.hashState ? blob(s.hashState) : null,
    createdAt: s.createdAt, updatedAt: s.updatedAt ?? s.createdAt, version: next(),
  }).changes === 1);
  const update = writeTx(db, (id: string, expected: number, change: { size: number; hashState?: Uint8Array; updatedAt?: number }): CasResult<UploadSession> => {
    const version = next();
    const done = advance.run({
      id, expected, version, size: change.size, hashState: change.hashState ? blob(change.hashState) : null, updatedAt: change.updatedAt ?? Date.now(),
    }).changes === 1;
    const row = byId.get(id);
    return done ? { ok: true, value: session(row!) } : { ok: false, current: row && session(row) };
  });

  return {
    create: async (s) => create(s),
    get: async (id) => {
      const row = byId.get(id);
      return row && session(row);
    },
    update: async (id, expectedVersion, change) => update(id, expectedVersion, change),
    delete: async (id, expectedVersion) =>
      (expectedVersion === undefined ? remove.run(id) : removeAt.run(id, expectedVersion)).changes === 1,
    stale: async (updatedBefore, limit) => stale.all(updatedBefore, limit).map(session),
  };
}
