/**
 * What Zot's `cluster` section means to berth. Zot shards repositories over `members` by SipHash and proxies
 * each repository's requests to its owner, because Zot's locks and caches live in one process. berth keeps all
 * of that state in storage and the MetaStore (upload and hash state, leases with fencing, the dedupe index),
 * so every member serves every repository itself and nothing is proxied. That is only true when each member
 * sees the same storage and the same MetaStore: a cluster on a local disk or the embedded database would
 * split the data silently, so such a config is refused here, naming `cluster`.
 */
import { formatPath } from './config-error';
import { configuredStores } from './driver-availability';
import type { ClusterConfig } from './cluster-schema';
import { remoteCacheDriver, type StorageConfig } from './storage-schema';

/** The request header Zot sets on a request it proxied to a member (`constants.ScaleOutHopCountHeader`). */
export const CLUSTER_HOP_HEADER = 'X-Zot-Cluster-Hop-Count';

/** What every member of a berth cluster does, for `berth verify` and the start-up log alike. */
export const CLUSTER_SERVING = 'accepted: any member serves any repository itself, without proxying (storage and metadata are shared)';

/** As Zot's `IsClustered`: a single member is a server on its own, not a cluster. */
export function isClustered(cluster: ClusterConfig | undefined): cluster is ClusterConfig {
  return cluster !== undefined && cluster.members.length > 1;
}

const WHY = 'berth serves every repository on every member without proxying, so';

/** Why the members of this config would not share their state (empty = they do), one reason per store. */
export function unsharedState(storage: StorageConfig): string[] {
  const reasons: string[] = [];
  for (const { at, store } of configuredStores(storage)) {
    const driver = store.storageDriver;
    if (!driver || driver.name === 'filesystem') {
      reasons.push(`${WHY} storage must be shared: ${formatPath(at)} is on each member's local disk (set ${formatPath([...at, 'storageDriver'])}, e.g. s3)`);
    }
  }
  // subPaths stores use the default store's MetaStore (core/metastore/open-meta-store.ts), so it alone counts.
  if (!remoteCacheDriver(storage)) {
    const cache = storage.cacheDriver;
    const what = !cache
      ? 'there is none'
      : !storage.remoteCache ? 'storage.remoteCache is false, so it is not used' : `${JSON.stringify(cache.name)} is a local database`;
    reasons.push(`${WHY} the metadata must be shared: storage.cacheDriver must be a remote cache (redis or dynamodb) with remoteCache on; ${what}`);
  }
  return reasons;
}

/** The lines `berth verify` prints for a `cluster` section (empty without one). */
export function describeCluster(cluster: ClusterConfig | undefined): string[] {
  if (!cluster) return [];
  if (!isClustered(cluster)) return [`cluster: 1 member, ${CLUSTER_ALONE}`];
  return [
    `cluster: ${cluster.members.length} members, ${CLUSTER_SERVING}`,
    `  hashKey${cluster.tls ? ' and tls' : ''}: not used (no request is proxied between members); a request carrying ${CLUSTER_HOP_HEADER} is served like any other`,
  ];
}

const CLUSTER_ALONE = 'serving alone (as in Zot, one member is not a cluster)';

/** The start-up log line in the words of `berth verify` (a fixed message; the members are a field). */
export function clusterLogMessage(cluster: ClusterConfig): string {
  return isClustered(cluster) ? `cluster ${CLUSTER_SERVING}` : `cluster of one member: ${CLUSTER_ALONE}`;
}
