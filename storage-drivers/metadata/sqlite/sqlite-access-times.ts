import type { AccessKind, AccessTimes } from '../../../core/extensions/api';
import { writeTx, type Db } from './sqlite-db';

export function sqliteAccessTimes(db: Db): AccessTimes {
  const upsert = db.prepare<[string, string, number]>(
    'INSERT INTO access_times (kind, subject, at) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET at = max(at, excluded.at)');
  const one = db.prepare<[string, string], number>('SELECT at FROM access_times WHERE kind = ? AND subject = ?').pluck();
  const forget = db.prepare<[string, string]>('DELETE FROM access_times WHERE kind = ? AND subject = ?');
  const page = db.prepare<[string, string, number], { subject: string; at: number }>(
    'SELECT subject, at FROM access_times WHERE kind = ? AND subject > ? ORDER BY subject LIMIT ?');

  const record = writeTx(db, (kind: AccessKind, entries: ReadonlyArray<{ subject: string; at: number }>) => {
    for (const e of entries) upsert.run(kind, e.subject, e.at);
  });
  const forgetAll = writeTx(db, (kind: AccessKind, subjects: readonly string[]) => {
    for (const s of subjects) forget.run(kind, s);
  });
  // One JSON array parameter instead of one parameter per subject: no limit on how many are asked at once.
  const many = db.prepare<[string, string], { subject: string; at: number }>(
    'SELECT subject, at FROM access_times WHERE kind = ? AND subject IN (SELECT value FROM json_each(?))');

  return {
    record: async (kind, entries) => record(kind, entries),
    get: async (kind, subject) => one.get(kind, subject),
    getMany: async (kind, subjects) => new Map(many.all(kind, JSON.stringify(subjects)).map((r) => [r.subject, r.at])),
    forget: async (kind, subjects) => forgetAll(kind, subjects),
    page: async (kind, { after, limit }) => page.all(kind, after ?? '', limit),
  };
}
