import { z } from 'zod';
import type { ClusterOptions, RedisOptions, SentinelAddress } from 'ioredis';
import { zot } from '../../../core/extensions/api';

/**
 * `storage.cacheDriver` for `name: "redis"`: every key Zot's redis cache accepts (zot pkg/api/config/redis),
 * decoded as Zot decodes them (durations as Go durations, a bare integer as nanoseconds). Either `url` (one
 * server, or a cluster when its query names more `addr`s) or `addr` (one server; several: a cluster, or the
 * sentinels of `master_name`).
 */
export const redisParamsSchema = z.looseObject({
  url: zot.str.optional(),
  addr: zot.strList.optional(),
  keyprefix: zot.str.optional(),
  db: zot.int.optional(),
  client_name: zot.str.optional(),
  protocol: zot.int.optional(),
  username: zot.str.optional(),
  password: zot.str.optional(),
  sentinel_username: zot.str.optional(),
  sentinel_password: zot.str.optional(),
  master_name: zot.str.optional(),
  max_retries: zot.int.optional(),
  min_retry_backoff: zot.duration.optional(),
  max_retry_backoff: zot.duration.optional(),
  dial_timeout: zot.duration.optional(),
  read_timeout: zot.duration.optional(),
  write_timeout: zot.duration.optional(),
  context_timeout_enabled: zot.bool.optional(),
  pool_fifo: zot.bool.optional(),
  pool_size: zot.int.optional(),
  pool_timeout: zot.duration.optional(),
  min_idle_conns: zot.int.optional(),
  max_idle_conns: zot.int.optional(),
  max_active_conns: zot.int.optional(),
  conn_max_idle_time: zot.duration.optional(),
  conn_max_lifetime: zot.duration.optional(),
  max_redirects: zot.int.optional(),
  read_only: zot.bool.optional(),
  route_by_latency: zot.bool.optional(),
  route_randomly: zot.bool.optional(),
  disable_identity: zot.bool.optional(),
  identity_suffix: zot.str.optional(),
  unstable_resp3: zot.bool.optional(),
});

export type RedisParams = z.output<typeof redisParamsSchema>;

/** Where to connect and how: what the factory hands ioredis. */
export type RedisTarget =
  | { mode: 'single'; options: RedisOptions; where: string }
  | { mode: 'sentinel'; options: RedisOptions; where: string }
  | { mode: 'cluster'; nodes: Array<{ host: string; port: number }>; options: ClusterOptions; where: string };

/** Zot's default prefix (its schema sets it too; a peer process may pass raw params). */
export const DEFAULT_KEY_PREFIX = 'zot';

/** Parses the params, naming the offending `storage.cacheDriver.<key>`; secrets never appear in messages. */
export function parseRedisParams(params: Record<string, unknown>): RedisParams {
  const parsed = redisParamsSchema.safeParse(params);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`storage.cacheDriver.${issue.path.join('.')}: ${issue.message}`);
  }
  const p = parsed.data;
  if (!p.url && !p.addr?.length) throw new Error('storage.cacheDriver.url: redis needs url or addr');
  if (p.protocol !== undefined && p.protocol !== 2 && p.protocol !== 3) throw new Error('storage.cacheDriver.protocol: expected 2 or 3');
  return p;
}

/**
 * ioredis options for the params. Failure handling is berth's, whatever the params say:
 * - no offline queue and no resend: a call made while Redis is down rejects at once (the core answers 503)
 *   instead of waiting, and a script whose reply was lost is never sent twice (it may have run: a second
 *   run would, say, count a dedupe location twice or hand out a second fencing token);
 * - reconnects forever in the background, backing off between `min_retry_backoff` and `max_retry_backoff`.
 */
export function redisTarget(p: RedisParams): RedisTarget {
  const minBackoff = p.min_retry_backoff ?? 8;
  const maxBackoff = Math.max(minBackoff, p.max_retry_backoff ?? 512);
  const backoff = (times: number) => Math.min(maxBackoff, minBackoff * 2 ** Math.min(times, 16));
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    // go-redis's defaults: 5 s to dial, 3 s for a reply (-1: no timeout).
    connectTimeout: positive(p.dial_timeout) ?? 5_000,
    commandTimeout: p.read_timeout !== undefined && p.read_timeout < 0 ? undefined : positive(p.read_timeout) ?? 3_000,
    retryStrategy: backoff,
    ...(p.protocol === 2 || p.protocol === 3 ? { protocol: p.protocol } : {}),
    ...(p.client_name !== undefined ? { connectionName: p.client_name } : {}),
    ...(p.disable_identity ? { disableClientInfo: true } : {}),
    ...(p.identity_suffix !== undefined ? { clientInfoTag: p.identity_suffix } : {}),
  };
  const auth: RedisOptions = {
    ...(p.username !== undefined ? { username: p.username } : {}),
    ...(p.password !== undefined ? { password: p.password } : {}),
  };
  if (p.url) return fromUrl(p.url, common, auth, p);
  const addrs = (p.addr ?? []).map(hostPort);
  if (p.master_name) {
    return {
      mode: 'sentinel',
      where: `sentinels ${addrs.map((a) => `${a.host}:${a.port}`).join(', ')} (master ${p.master_name})`,
      options: {
        ...common, ...auth, db: p.db ?? 0, name: p.master_name, sentinels: addrs as Array<Partial<SentinelAddress>>,
        ...(p.sentinel_username !== undefined ? { sentinelUsername: p.sentinel_username } : {}),
        ...(p.sentinel_password !== undefined ? { sentinelPassword: p.sentinel_password } : {}),
        sentinelRetryStrategy: backoff,
      },
    };
  }
  if (addrs.length > 1) return cluster(addrs, common, auth, p);
  return { mode: 'single', where: `${addrs[0].host}:${addrs[0].port}`, options: { ...common, ...auth, ...addrs[0], db: p.db ?? 0 } };
}

function cluster(nodes: Array<{ host: string; port: number }>, common: RedisOptions, auth: RedisOptions, p: RedisParams): RedisTarget {
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = common;
  return {
    mode: 'cluster',
    nodes,
    where: `cluster ${nodes.map((a) => `${a.host}:${a.port}`).join(', ')}`,
    options: {
      lazyConnect, enableOfflineQueue, clusterRetryStrategy: (times) => retryStrategy?.(times) ?? null,
      ...(p.max_redirects !== undefined ? { maxRedirections: p.max_redirects } : {}),
      redisOptions: { ...perNode, ...auth },
    },
  };
}

/**
 * go-redis's URL forms: `redis://[user:pass@]host[:port][/db]`, `rediss://` (TLS), `unix:///path`, with the map's
 * keys as query parameters (a bare integer duration there means seconds); more `addr=` parameters make a cluster.
 */
function fromUrl(raw: string, common: RedisOptions, auth: RedisOptions, p: RedisParams): RedisTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('storage.cacheDriver.url: not a URL (expected redis://host:port, rediss:// or unix://)');
  }
  if (!['redis:', 'rediss:', 'unix:'].includes(url.protocol)) throw new Error(`storage.cacheDriver.url: unsupported scheme ${url.protocol} (expected redis, rediss or unix)`);
  const q = url.searchParams;
  const seconds = (key: string) => {
    const v = q.get(key);
    if (v === null) return undefined;
    const ms = /^-?\d+$/.test(v) ? Number(v) * 1000 : zot.duration.safeParse(v).data;
    if (ms === undefined) throw new Error(`storage.cacheDriver.url: query parameter ${key}: invalid duration`);
    return ms;
  };
  const options: RedisOptions = {
    ...common,
    ...auth,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
  const dial = seconds('dial_timeout');
  if (dial !== undefined && dial > 0) options.connectTimeout = dial;
  const read = seconds('read_timeout');
  if (read !== undefined) options.commandTimeout = read < 0 ? undefined : read > 0 ? read : options.commandTimeout;
  if (q.get('client_name')) options.connectionName = q.get('client_name')!;
  const protocol = Number(q.get('protocol'));
  if (protocol === 2 || protocol === 3) options.protocol = protocol;
  if (url.protocol === 'rediss:') {
    options.tls = { servername: url.hostname, ...(q.get('skip_verify') === 'true' ? { rejectUnauthorized: false } : {}) };
  }
  if (url.protocol === 'unix:') {
    return { mode: 'single', where: url.pathname, options: { ...options, path: url.pathname, db: Number(q.get('db') ?? p.db ?? 0) } };
  }
  const first = { host: url.hostname || 'localhost', port: Number(url.port || 6379) };
  const extra = q.getAll('addr').map(hostPort);
  if (extra.length > 0) return cluster([first, ...extra], options, {}, { ...p, max_redirects: Number(q.get('max_redirects') ?? p.max_redirects ?? 3) });
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : Number(q.get('db') ?? p.db ?? 0);
  if (!Number.isInteger(db) || db < 0) throw new Error('storage.cacheDriver.url: the path must be a database number');
  return { mode: 'single', where: `${first.host}:${first.port}`, options: { ...options, ...first, db } };
}

function hostPort(addr: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(addr.trim());
  if (!m || !m[1]) throw new Error(`storage.cacheDriver.addr: ${JSON.stringify(addr)} is not host:port`);
  return { host: m[1], port: Number(m[2] ?? 6379) };
}

function positive(ms: number | undefined): number | undefined {
  return ms !== undefined && ms > 0 ? ms : undefined;
}
