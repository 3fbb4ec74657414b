import type { SigningKeys } from '../../../core/extensions/api';
import { lua, type RedisDb } from './redis-db';

// The first candidate written wins; every later caller reads that one back.
const GET_OR_CREATE = lua(`
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[1], ARGV[1])`);

export function redisSigningKeys(db: RedisDb): SigningKeys {
  const hash = db.key('sk');
  return {
    getOrCreate: async (name, candidate) => (await db.run(GET_OR_CREATE, [hash], [name, Buffer.from(candidate)])) as Buffer,
    get: async (name) => ((await db.call('HGET', hash, name)) as Buffer | null) ?? undefined,
  };
}
