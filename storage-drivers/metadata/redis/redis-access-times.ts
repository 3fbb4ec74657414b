import type { AccessTimes } from '../../../core/extensions/api';
import { lexAfter } from './redis-lex';
import { lua, str, type RedisDb } from './redis-db';

// Per kind: a hash `at:<kind>` (subject -> ms) and a sorted set `at.i:<kind>` of its subjects (byte order).
const RECORD = lua(`
for i = 1, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if not cur or tonumber(ARGV[i + 1]) > tonumber(cur) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  redis.call('ZADD', KEYS[2], 0, ARGV[i])
end
return 0`);

const FORGET = lua(`
redis.call('HDEL', KEYS[1], unpack(ARGV))
redis.call('ZREM', KEYS[2], unpack(ARGV))
return 0`);

const PAGE = lua(`
local subjects = redis.call('ZRANGE', KEYS[2], ARGV[1], '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[2]))
if #subjects == 0 then return {} end
local times = redis.call('HMGET', KEYS[1], unpack(subjects))
local out = {}
for i, subject in ipairs(subjects) do out[#out + 1] = subject; out[#out + 1] = times[i] or '0' end
return out`);

/** Lua's unpack takes a few thousand arguments at most: bigger batches go in slices (each slice atomic). */
const SLICE = 4_000;

export function redisAccessTimes(db: RedisDb): AccessTimes {
  const keys = (kind: string) => [db.key('at', kind), db.key('at.i', kind)];
  return {
    record: async (kind, entries) => {
      // RECORD loops over its arguments without unpack, so one call records any batch in one atomic step.
      if (entries.length > 0) await db.run(RECORD, keys(kind), entries.flatMap((e) => [e.subject, e.at]));
    },
    get: async (kind, subject) => {
      const at = await db.call('HGET', keys(kind)[0], subject);
      return at ? Number(str(at)) : undefined;
    },
    getMany: async (kind, subjects) => {
      const found = new Map<string, number>();
      for (let i = 0; i < subjects.length; i += SLICE) {
        const slice = subjects.slice(i, i + SLICE);
        const times = (await db.call('HMGET', keys(kind)[0], ...slice)) as Array<Buffer | null>;
        times.forEach((t, j) => t && found.set(slice[j], Number(str(t))));
      }
      return found;
    },
    forget: async (kind, subjects) => {
      for (let i = 0; i < subjects.length; i += SLICE) await db.run(FORGET, keys(kind), subjects.slice(i, i + SLICE));
    },
    page: async (kind, { after, limit }) => {
      const flat = (await db.run(PAGE, keys(kind), [after === undefined ? '-' : lexAfter(after), limit])) as Buffer[];
      const out: Array<{ subject: string; at: number }> = [];
      for (let i = 0; i < flat.length; i += 2) out.push({ subject: str(flat[i]), at: Number(str(flat[i + 1])) });
      return out;
    },
  };
}
