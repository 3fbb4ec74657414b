import type { Lease, Leases } from '../../../core/extensions/api';
import { writeTx, type Db } from './sqlite-db';

interface Row {
  name: string;
  holder: string | null;
  token: number;
  expires_at: number;
}

/**
 * A released or expired lease keeps its row (holder NULL or expires_at past): the next acquire continues
 * from its token, so fencing tokens grow for the life of the file.
 */
export function sqliteLeases(db: Db): Leases {
  const byName = db.prepare<[string], Row>('SELECT * FROM leases WHERE name = ?');
  const take = db.prepare(`INSERT INTO leases (name, holder, token, expires_at) VALUES (@name, @holder, @token, @expiresAt)
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at`);
  const extend = db.prepare<[number, string, string, number, number]>(
    'UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND token = ? AND expires_at > ?');
  const drop = db.prepare<[string, string, number, number]>(
    'UPDATE leases SET holder = NULL, expires_at = 0 WHERE name = ? AND holder = ? AND token = ? AND expires_at > ?');

  const acquire = writeTx(db, (name: string, holder: string, ttlMs: number): Lease | undefined => {
    const now = Date.now();
    const row = byName.get(name);
    if (row && row.holder !== null && row.expires_at > now) return undefined;
    const lease = { name, holder, token: (row?.token ?? 0) + 1, expiresAt: now + ttlMs };
    take.run(lease);
    return lease;
  });
  // Single statements: each takes the write lock as it starts, so they need no explicit transaction.
  const renew = (name: string, holder: string, token: number, ttlMs: number) => {
    const now = Date.now();
    return extend.run(now + ttlMs, name, holder, token, now).changes === 1;
  };

  return {
    acquire: async (name, holder, ttlMs) => acquire(name, holder, positive(ttlMs)),
    renew: async (name, holder, token, ttlMs) => renew(name, holder, token, positive(ttlMs)),
    release: async (name, holder, token) => drop.run(name, holder, token, Date.now()).changes === 1,
    get: async (name) => {
      const row = byName.get(name);
      if (!row || row.holder === null || row.expires_at <= Date.now()) return undefined;
      return { name, holder: row.holder, token: row.token, expiresAt: row.expires_at };
    },
  };
}

function positive(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`lease ttl must be a positive number of milliseconds, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}
