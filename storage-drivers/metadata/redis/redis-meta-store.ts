import { Cluster, Redis } from 'ioredis';
import type { MetaStore, MetaStoreOptions } from '../../../core/extensions/api';
import { RedisDb } from './redis-db';
import { DEFAULT_KEY_PREFIX, parseRedisParams, redisTarget, type RedisTarget } from './redis-options';
import { redisAccessTimes } from './redis-access-times';
import { redisApiKeys } from './redis-api-keys';
import { redisCatalog } from './redis-catalog';
import { redisDedupe } from './redis-dedupe';
import { redisKv } from './redis-kv';
import { redisLeases } from './redis-leases';
import { redisSigningKeys } from './redis-signing-keys';
import { redisUploads } from './redis-uploads';

/**
 * The Redis MetaStore (`storage.cacheDriver: {name: "redis", ...}` with `remoteCache: true`): every replica on the
 * same Redis shares uploads, leases, the dedupe index and the rest. Each method is one command or one Lua
 * script, which Redis runs atomically (nothing else runs meanwhile), so compare-and-set and leases hold across
 * processes. Start-up waits for the first connection and fails naming `storage.cacheDriver` when there is none;
 * later outages make calls reject while the client reconnects by itself.
 *
 * `options` is what berth passes (params as `storage.cacheDriver`, lower-cased); `logger` may be absent (the
 * conformance suite's peer process).
 */
export async function createRedisMetaStore(options: Pick<MetaStoreOptions, 'params'> & Partial<Pick<MetaStoreOptions, 'logger'>>): Promise<MetaStore> {
  const params = parseRedisParams(options.params);
  const target = redisTarget(params);
  const client = connect(target);
  const log = options.logger;
  let lastError: Error | undefined;
  let down = false;
  client.on('error', (err: Error) => {
    lastError = err;
    // ioredis emits an error per failed reconnect: log the outage once, and its end.
    if (!down) log?.error({ err: { message: err.message }, where: target.where }, 'redis metadata store unreachable; reconnecting');
    down = true;
  });
  client.on('ready', () => {
    if (down) log?.info({ where: target.where }, 'redis metadata store reachable again');
    down = false;
  });
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    const why = (lastError ?? (err as Error)).message;
    throw new Error(`storage.cacheDriver: cannot connect to redis at ${target.where}: ${why}`);
  }
  warnIgnored(params, log);
  const prefix = params.keyprefix ?? DEFAULT_KEY_PREFIX;
  const db = new RedisDb(client, target, `{${prefix}:berth}:`);
  const kv = redisKv(db);
  return {
    kind: 'redis',
    shared: true,
    uploads: redisUploads(db),
    leases: redisLeases(db),
    dedupe: redisDedupe(db),
    accessTimes: redisAccessTimes(db),
    apiKeys: redisApiKeys(db),
    catalog: redisCatalog(db),
    signingKeys: redisSigningKeys(db),
    kv: (namespace) => kv(namespace),
    ping: async () => {
      await db.call('PING');
    },
    close: () => db.close(),
  };
}

function connect(target: RedisTarget): Redis | Cluster {
  return target.mode === 'cluster' ? new Cluster(target.nodes, target.options) : new Redis(target.options);
}

/**
 * Zot's go-redis keys that have no counterpart here, named at start-up rather than silently dropped:
 * ioredis keeps one pipelined connection per server instead of a pool, reads always go to the primary (a
 * replica's stale read would break compare-and-set), and a command is never retried (see redisTarget).
 */
const NO_EFFECT: Record<string, string> = {
  pool_fifo: 'no connection pool', pool_size: 'no connection pool', pool_timeout: 'no connection pool',
  min_idle_conns: 'no connection pool', max_idle_conns: 'no connection pool', max_active_conns: 'no connection pool',
  conn_max_idle_time: 'no connection pool', conn_max_lifetime: 'no connection pool', context_timeout_enabled: 'no per-request contexts',
  read_only: 'reads go to the primary', route_by_latency: 'reads go to the primary', route_randomly: 'reads go to the primary',
  max_retries: 'a write whose reply was lost is never resent', write_timeout: 'read_timeout bounds the whole call', unstable_resp3: 'maps arrive as arrays whatever the protocol',
};

function warnIgnored(params: Record<string, unknown>, log: MetaStoreOptions['logger'] | undefined): void {
  const ignored = Object.keys(params).filter((k) => k in NO_EFFECT);
  if (ignored.length > 0) log?.warn({ keys: ignored.map((k) => `storage.cacheDriver.${k}: ${NO_EFFECT[k]}`) }, 'redis cache driver keys accepted without effect');
}
