import type { CatalogIndex } from '../../../core/extensions/api';
import { lexAfter } from './redis-lex';
import { str, type RedisDb } from './redis-db';

/** One sorted set, every name at score 0: a `_catalog` page is one ZRANGE BYLEX, O(log N + n) at any size. */
export function redisCatalog(db: RedisDb): CatalogIndex {
  const set = db.key('cat');
  return {
    add: async (repo) => Number(await db.call('ZADD', set, 'NX', 0, repo)) === 1,
    // One ZADD: atomic, and it counts a name given twice once.
    addMany: async (repos) => (repos.length > 0 ? Number(await db.call('ZADD', set, 'NX', ...repos.flatMap((r) => [0, r]))) : 0),
    remove: async (repo) => Number(await db.call('ZREM', set, repo)) === 1,
    page: async (n, last) =>
      n > 0 ? ((await db.call('ZRANGE', set, last === undefined ? '-' : lexAfter(last), '+', 'BYLEX', 'LIMIT', 0, n)) as Buffer[]).map(str) : [],
    count: async () => Number(await db.call('ZCARD', set)),
  };
}
