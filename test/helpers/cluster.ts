// The stateless cluster of Zot's clustering guide, on this machine: N berth processes with one config (S3 on
// the disk-backed s3rver, a Redis cacheDriver, dedupe and GC on) behind HAProxy round-robin without sticky
// sessions. Each replica has its own local rootDirectory, as separate machines would (it holds only spools);
// everything shared is in the bucket and in Redis. A replica can be killed -9 by PID and restarted on its port.
import { spawnBerth, type BerthProcess } from './berth-process.js';
import { startHaproxy, type Haproxy } from './haproxy.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { startS3Server, type S3Kind, type S3Server } from './s3-server.js';

type Json = Record<string, unknown>;

export const CLUSTER_BUCKET = 'zot-storage';
/** Zot's rootdirectory `/zot`: its keys carry it twice (see docs/storage.md). */
export const CLUSTER_PREFIX = 'zot/zot/';

export interface ClusterOptions {
  replicas?: number;
  /** Default s3rver (disk-backed); fauxqs lists by delimiter as S3 does but keeps bodies <= 11 MiB in memory. */
  s3?: S3Kind;
  /** Milliseconds or a Zot duration; default 5s / 2s: GC runs often and keeps what is younger than that. */
  gcDelay?: string;
  gcInterval?: string;
  /** Merged into each replica's config (`storage` and `http` key by key, the rest replaced). */
  config?: Json;
}

export interface Cluster {
  /** HAProxy's URL: what clients use. */
  url: string;
  host: string;
  haproxy: Haproxy;
  s3: S3Server;
  redis: RedisServer;
  /** The live replicas, by index; replica i is server `r<i>` in HAProxy. */
  replicas: BerthProcess[];
  /** The config every replica runs (before spawnBerth adds its own port, root and log file). */
  config: Json;
  /** Whether replica i's process is alive. */
  running(i: number): boolean;
  /** SIGKILL replica i and wait until HAProxy has it DOWN. */
  kill9(i: number): Promise<void>;
  /** Starts replica i again on its port with its root directory, and waits until HAProxy has it UP. */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

export function clusterConfig(s3: S3Server, redis: RedisServer, opts: ClusterOptions = {}): Json {
  const extra = opts.config ?? {};
  return {
    distSpecVersion: '1.1.1',
    ...extra,
    storage: {
      dedupe: true,
      gc: true,
      gcDelay: opts.gcDelay ?? '5s',
      gcInterval: opts.gcInterval ?? '2s',
      remoteCache: true,
      cacheDriver: { name: 'redis', url: redis.url, keyprefix: 'zot' },
      storageDriver: s3.driverParams(CLUSTER_BUCKET, { rootdirectory: '/zot' }),
      ...((extra.storage ?? {}) as Json),
    },
    http: { ...((extra.http ?? {}) as Json) },
  };
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const n = opts.replicas ?? 3;
  const [s3, redis] = await Promise.all([startS3Server(opts.s3 ?? 's3rver'), startRedisServer({ appendonly: true })]);
  await s3.createBucket(CLUSTER_BUCKET);
  const config = clusterConfig(s3, redis, opts);
  // All at once, as a rolling deployment starts them: they race to create the shared signing keys.
  const replicas = await Promise.all(Array.from({ length: n }, () => spawnBerth(config)));
  const ports = replicas.map((r) => Number(new URL(r.url).port));
  const haproxy = await startHaproxy(ports.map((port, i) => ({ name: `r${i}`, port })));
  for (let i = 0; i < n; i++) await haproxy.waitStatus(`r${i}`, 'UP');
  return {
    url: haproxy.url,
    host: haproxy.host,
    haproxy,
    s3,
    redis,
    replicas,
    config,
    running(i) {
      try {
        process.kill(replicas[i].daemon.pid, 0);
        return true;
      } catch {
        return false;
      }
    },
    async kill9(i) {
      await replicas[i].kill9();
      await haproxy.waitStatus(`r${i}`, 'DOWN');
    },
    async restart(i) {
      const old = replicas[i];
      await old.daemon.stop();
      const storage = { ...(config.storage as Json), rootDirectory: old.root };
      replicas[i] = await spawnBerth({ ...config, storage }, { port: ports[i] });
      await haproxy.waitStatus(`r${i}`, 'UP');
    },
    async stop() {
      await haproxy.stop();
      await Promise.all(replicas.map((r) => r.stop()));
      await Promise.all([redis.stop(), s3.stop()]);
    },
  };
}
