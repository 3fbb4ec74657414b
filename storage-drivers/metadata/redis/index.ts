import { defineExtension } from '../../../core/extensions/api';
import type * as RedisMetaStore from './redis-meta-store';

/** The built-in Redis MetaStore, for clusters of replicas (Zot's `cacheDriver: {name: "redis"}`). */
export default defineExtension({
  name: 'metastore.redis',
  apiVersion: 1,
  register(ctx) {
    // Loaded when a config names it: ioredis would add about 8 MB to every process that never does.
    ctx.metaStores.add('redis', (options) => (require('./redis-meta-store') as typeof RedisMetaStore).createRedisMetaStore(options));
  },
});
