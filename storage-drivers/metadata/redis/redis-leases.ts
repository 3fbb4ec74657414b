import type { Lease, Leases } from '../../../core/extensions/api';
import { lua, str, type RedisDb } from './redis-db';

// A lease is a hash `ls:<name>` (holder, token, exp) that Redis itself expires at `exp` (PEXPIREAT, by the
// server's clock): an expired lease is simply absent. Tokens come from one counter (`ls.tok`) that outlives
// every lease, so they grow across releases and expiries.
const ACQUIRE = lua(`
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = s(nextId(KEYS[2]))
local exp = s(nowMs() + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', token, 'exp', exp)
redis.call('PEXPIREAT', KEYS[1], exp)
return {token, exp}`);

const RENEW = lua(`
local l = redis.call('HMGET', KEYS[1], 'holder', 'token')
if l[1] ~= ARGV[1] or l[2] ~= ARGV[2] then return 0 end
local exp = s(nowMs() + tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 'exp', exp)
redis.call('PEXPIREAT', KEYS[1], exp)
return 1`);

const RELEASE = lua(`
local l = redis.call('HMGET', KEYS[1], 'holder', 'token')
if l[1] ~= ARGV[1] or l[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1`);

export function redisLeases(db: RedisDb): Leases {
  const tokens = db.key('ls.tok');
  const at = (name: string) => db.key('ls', name);
  return {
    acquire: async (name, holder, ttlMs) => {
      const ttl = positive(ttlMs);
      const got = (await db.run(ACQUIRE, [at(name), tokens], [holder, ttl])) as [Buffer, Buffer] | null;
      return got ? { name, holder, token: Number(str(got[0])), expiresAt: Number(str(got[1])) } : undefined;
    },
    renew: async (name, holder, token, ttlMs) => Number(await db.run(RENEW, [at(name)], [holder, String(token), positive(ttlMs)])) === 1,
    release: async (name, holder, token) => Number(await db.run(RELEASE, [at(name)], [holder, String(token)])) === 1,
    get: async (name): Promise<Lease | undefined> => {
      const [holder, token, exp] = (await db.call('HMGET', at(name), 'holder', 'token', 'exp')) as Array<Buffer | null>;
      if (!holder || !token || !exp) return undefined;
      return { name, holder: str(holder), token: Number(str(token)), expiresAt: Number(str(exp)) };
    },
  };
}

function positive(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`lease ttl must be a positive number of milliseconds, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}
