import type { CasResult, UploadSession, UploadSessions } from '../../../core/extensions/api';
import { lua, str, type RedisDb } from './redis-db';

// A session is a hash `up:<id>`; `up.t` orders the ids by their update time for `stale`.
// ARGV: id, repo, path, size, createdAt, updatedAt, has hash state ('1'/'0'), hash state.
const CREATE = lua(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'repo', ARGV[2], 'path', ARGV[3], 'size', ARGV[4], 'ca', ARGV[5], 'ua', ARGV[6], 'v', s(nextId(KEYS[3])))
if ARGV[7] == '1' then redis.call('HSET', KEYS[1], 'hs', ARGV[8]) end
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
return 1`);

// ARGV: id, expected version, size, updatedAt, has hash state, hash state. Replies {ok, fields of what is there}.
const UPDATE = lua(`
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {0, {}} end
if v ~= ARGV[2] then return {0, redis.call('HGETALL', KEYS[1])} end
redis.call('HSET', KEYS[1], 'size', ARGV[3], 'ua', ARGV[4], 'v', s(nextId(KEYS[3])))
if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'hs', ARGV[6]) else redis.call('HDEL', KEYS[1], 'hs') end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return {1, redis.call('HGETALL', KEYS[1])}`);

const DELETE = lua(`
local v = redis.call('HGET', KEYS[1], 'v')
if not v or (ARGV[2] ~= '' and v ~= ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`);

// ARGV: updatedBefore, limit, the key of a session without its id. Ties in time come in id order (ZSET order).
const STALE = lua(`
local ids = redis.call('ZRANGE', KEYS[1], '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do out[#out + 1] = redis.call('HGETALL', ARGV[3] .. id) end
return out`);

function session(fields: Buffer[]): UploadSession | undefined {
  if (fields.length === 0) return undefined;
  const f = new Map<string, Buffer>();
  for (let i = 0; i < fields.length; i += 2) f.set(fields[i].toString('utf8'), fields[i + 1]);
  const n = (k: string) => Number(str(f.get(k)));
  const hs = f.get('hs');
  return {
    id: str(f.get('id')), repo: str(f.get('repo')), path: str(f.get('path')), size: n('size'),
    ...(hs ? { hashState: hs } : {}), createdAt: n('ca'), updatedAt: n('ua'), version: n('v'),
  };
}

export function redisUploads(db: RedisDb): UploadSessions {
  const seq = db.key('seq');
  const byTime = db.key('up.t');
  const at = (id: string) => db.key('up', id);
  const hashState = (hs: Uint8Array | undefined) => (hs ? ['1', Buffer.from(hs)] : ['0', '']);
  return {
    create: async (s) => Number(await db.run(CREATE, [at(s.id), byTime, seq], [
      s.id, s.repo, s.path, s.size, s.createdAt, s.updatedAt ?? s.createdAt, ...hashState(s.hashState)])) === 1,
    get: async (id) => session((await db.call('HGETALL', at(id))) as Buffer[]),
    update: async (id, expected, change): Promise<CasResult<UploadSession>> => {
      const [ok, fields] = (await db.run(UPDATE, [at(id), byTime, seq], [
        id, String(expected), change.size, change.updatedAt ?? Date.now(), ...hashState(change.hashState)])) as [number, Buffer[]];
      const current = session(fields);
      return ok === 1 ? { ok: true, value: current! } : { ok: false, current };
    },
    delete: async (id, expected) => Number(await db.run(DELETE, [at(id), byTime], [id, expected === undefined ? '' : String(expected)])) === 1,
    stale: async (before, limit) => ((await db.run(STALE, [byTime], [before, limit, at('')])) as Buffer[][]).map((f) => session(f)!),
  };
}
