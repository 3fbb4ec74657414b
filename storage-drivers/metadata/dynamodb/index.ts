import { defineExtension } from '../../../core/extensions/api';
import { createDynamoMetaStore } from './dynamodb-meta-store';

export { createDynamoMetaStore } from './dynamodb-meta-store';
export { parseDynamoOptions } from './dynamodb-options';

/** The built-in DynamoDB MetaStore (`storage.cacheDriver.name: "dynamodb"` with `remoteCache: true`, Zot's keys). */
export default defineExtension({
  name: 'metastore.dynamodb',
  apiVersion: 1,
  register(ctx) {
    ctx.metaStores.add('dynamodb', (options) => createDynamoMetaStore(options));
  },
});
