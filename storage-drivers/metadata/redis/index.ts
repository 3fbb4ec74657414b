import { defineExtension } from '../../../core/extensions/api';
import { createRedisMetaStore } from './redis-meta-store';

export { createRedisMetaStore } from './redis-meta-store';

/** The built-in Redis MetaStore, for clusters of replicas (Zot's `cacheDriver: {name: "redis"}`). */
export default defineExtension({
  name: 'metastore.redis',
  apiVersion: 1,
  register(ctx) {
    ctx.metaStores.add('redis', (options) => createRedisMetaStore(options));
  },
});
