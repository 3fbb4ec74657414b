import { after } from 'node:test';
import { randomUUID } from 'node:crypto';
import { runMetaStoreConformance } from '../../storage-drivers/conformance/metastore-conformance';
import { createRedisMetaStore } from '../../storage-drivers/metadata/redis/redis-meta-store';
import { startRedisServer, type RedisServer } from '../helpers/redis-server';

// The suite unchanged against a real redis-server: one server for the file, and a fresh key prefix per test
// (an empty store), which the peer process opens through the same factory and params.
let server: Promise<RedisServer> | undefined;
after(async () => (await server)?.stop());

runMetaStoreConformance('redis', async () => {
  const redis = await (server ??= startRedisServer());
  const params = { name: 'redis', url: redis.url, keyprefix: `conformance-${randomUUID()}` };
  return {
    store: await createRedisMetaStore({ params }),
    peer: { module: require.resolve('../../storage-drivers/metadata/redis/redis-meta-store'), export: 'createRedisMetaStore', options: { params } },
    cleanup: async () => {},
  };
});
