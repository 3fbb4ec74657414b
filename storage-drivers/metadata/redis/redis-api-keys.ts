import type { ApiKeyRecord, ApiKeyRecords } from '../../../core/extensions/api';
import { lua, REFUSED, str, type RedisDb } from './redis-db';

// A key is a hash `ak:<uuid>` (user, hash, rec: the record as JSON, added, lu: lastUsed set by markUsed);
// `ak.h` maps hashes to uuids and `ak.u:<user>` orders a user's uuids by when they were first put.
// KEYS: ak:<uuid>, ak.h, ak.u:<user>, seq; ARGV: uuid, user, hash, record, the key of a user's set without the user.
const PUT = lua(`
local owner = redis.call('HGET', KEYS[2], ARGV[3])
if owner and owner ~= ARGV[1] then return redis.error_reply('${REFUSED} another API key has this hash') end
local old = redis.call('HMGET', KEYS[1], 'user', 'hash', 'added')
local added = old[3] or s(nextId(KEYS[4]))
if old[2] and old[2] ~= ARGV[3] then redis.call('HDEL', KEYS[2], old[2]) end
if old[1] and old[1] ~= ARGV[2] then redis.call('ZREM', ARGV[5] .. old[1], ARGV[1]) end
redis.call('HSET', KEYS[1], 'user', ARGV[2], 'hash', ARGV[3], 'rec', ARGV[4], 'added', added)
redis.call('HDEL', KEYS[1], 'lu')
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], added, ARGV[1])
return 1`);

// ARGV: hash, the key of a record without its uuid.
const BY_HASH = lua(`
local uuid = redis.call('HGET', KEYS[1], ARGV[1])
if not uuid then return false end
return redis.call('HMGET', ARGV[2] .. uuid, 'rec', 'lu')`);

const BY_USER = lua(`
local out = {}
for _, uuid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do out[#out + 1] = redis.call('HMGET', ARGV[1] .. uuid, 'rec', 'lu') end
return out`);

// KEYS: ak:<uuid>, ak.h, ak.u:<user>; ARGV: user, uuid.
const DELETE = lua(`
if redis.call('HGET', KEYS[1], 'user') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[2], redis.call('HGET', KEYS[1], 'hash'))
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[2])
return 1`);

const MARK_USED = lua(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'lu', ARGV[1])
return 1`);

/** `lastUsed` is kept beside the JSON so markUsed never rewrites (or needs to parse) the record on the server. */
function record([rec, lu]: Array<Buffer | null>): ApiKeyRecord {
  const r = JSON.parse(str(rec)) as ApiKeyRecord;
  return lu ? { ...r, lastUsed: str(lu) } : r;
}

export function redisApiKeys(db: RedisDb): ApiKeyRecords {
  const seq = db.key('seq');
  const hashes = db.key('ak.h');
  const rec = (uuid: string) => db.key('ak', uuid);
  const user = (name: string) => db.key('ak.u', name);
  return {
    put: async (r) => {
      await db.run(PUT, [rec(r.uuid), hashes, user(r.user), seq], [r.uuid, r.user, r.hash, JSON.stringify(r), user('')]);
    },
    getByHash: async (hash) => {
      const got = (await db.run(BY_HASH, [hashes], [hash, rec('')])) as Array<Buffer | null> | null;
      return got && got[0] ? record(got) : undefined;
    },
    listByUser: async (name) => ((await db.run(BY_USER, [user(name)], [rec('')])) as Array<Array<Buffer | null>>).filter((r) => r[0]).map(record),
    delete: async (name, uuid) => Number(await db.run(DELETE, [rec(uuid), hashes, user(name)], [name, uuid])) === 1,
    markUsed: async (uuid, lastUsed) => Number(await db.run(MARK_USED, [rec(uuid)], [lastUsed])) === 1,
  };
}
