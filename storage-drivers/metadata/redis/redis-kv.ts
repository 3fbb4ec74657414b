import type { CasResult, KeyValueSpace, KvEntry } from '../../../core/extensions/api';
import { lexAfter, lexFrom, lexBelow, packed } from './redis-lex';
import { lua, type RedisDb } from './redis-db';

// A namespace is a hash `kv:<ns>` (key -> "<version>:<value>", one field so a read is one HGET) and a sorted
// set `kv.i:<ns>` of its keys, all at score 0 so the set orders them by bytes (ZRANGE BYLEX pages a prefix).
const PUT = lua(`
local v = nextId(KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], s(v) .. ':' .. ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return v`);

// ARGV[3]: the expected version, '' for "absent".
const CAS = lua(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] == '' then
  if cur then return {0, cur} end
elseif not cur or string.sub(cur, 1, #ARGV[3] + 1) ~= ARGV[3] .. ':' then
  return {0, cur}
end
local value = s(nextId(KEYS[3])) .. ':' .. ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], value)
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return {1, value}`);

const DELETE = lua(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
if ARGV[2] ~= '' and string.sub(cur, 1, #ARGV[2] + 1) ~= ARGV[2] .. ':' then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`);

const LIST = lua(`
local keys = redis.call('ZRANGE', KEYS[2], ARGV[1], ARGV[2], 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]))
if #keys == 0 then return {} end
local values = redis.call('HMGET', KEYS[1], unpack(keys))
local out = {}
for i, k in ipairs(keys) do
  if values[i] then out[#out + 1] = k; out[#out + 1] = values[i] end
end
return out`);

export function redisKv(db: RedisDb): (namespace: string) => KeyValueSpace {
  const seq = db.key('seq');
  return (ns) => {
    const hash = db.key('kv', ns);
    const index = db.key('kv.i', ns);
    const entry = (key: string, value: unknown): KvEntry | undefined => (value ? { key, ...packed(value as Buffer) } : undefined);
    return {
      get: async (key) => entry(key, await db.call('HGET', hash, key)),
      put: async (key, value) => Number(await db.run(PUT, [hash, index, seq], [key, Buffer.from(value)])),
      compareAndSet: async (key, expected, value): Promise<CasResult<KvEntry>> => {
        const [ok, cur] = (await db.run(CAS, [hash, index, seq], [key, Buffer.from(value), expected === undefined ? '' : String(expected)])) as [number, Buffer | null];
        return ok === 1 ? { ok: true, value: entry(key, cur)! } : { ok: false, current: entry(key, cur) };
      },
      delete: async (key, expected) => Number(await db.run(DELETE, [hash, index], [key, expected === undefined ? '' : String(expected)])) === 1,
      list: async (prefix, { after, limit }) => {
        // Keys before the prefix cannot match: start after `after` only when it lies at or past the prefix.
        const min = after !== undefined && after >= prefix ? lexAfter(after) : lexFrom(prefix);
        const flat = (await db.run(LIST, [hash, index], [min, lexBelow(prefix), limit])) as Buffer[];
        const out: KvEntry[] = [];
        for (let i = 0; i < flat.length; i += 2) out.push(entry(flat[i].toString('utf8'), flat[i + 1])!);
        return out;
      },
    };
  };
}
