import type { DedupeIndex } from '../../../core/extensions/api';
import { lexAfter } from './redis-lex';
import { lua, str, type RedisDb } from './redis-db';

// `dd:<digest>` is a sorted set of locations scored by a counter value taken when each was first added, so
// rank 0 is the original; `dd.all` lists the digests that have any (score 0: byte order).
const ADD = lua(`
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], s(nextId(KEYS[3])), ARGV[2])
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
return redis.call('ZCARD', KEYS[1])`);

const REMOVE = lua(`
redis.call('ZREM', KEYS[1], ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
return n`);

export function redisDedupe(db: RedisDb): DedupeIndex {
  const seq = db.key('seq');
  const all = db.key('dd.all');
  const at = (digest: string) => db.key('dd', digest);
  return {
    add: async (digest, location) => Number(await db.run(ADD, [at(digest), all, seq], [digest, location])),
    remove: async (digest, location) => Number(await db.run(REMOVE, [at(digest), all], [digest, location])),
    locations: async (digest) => ((await db.call('ZRANGE', at(digest), 0, -1)) as Buffer[]).map(str),
    count: async (digest) => Number(await db.call('ZCARD', at(digest))),
    digests: async ({ after, limit }) =>
      ((await db.call('ZRANGE', all, after === undefined ? '-' : lexAfter(after), '+', 'BYLEX', 'LIMIT', 0, limit)) as Buffer[]).map(str),
  };
}
