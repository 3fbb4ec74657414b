import { defineExtension } from '../../../core/extensions/api';
import type * as DynamoMetaStore from './dynamodb-meta-store';

/** The built-in DynamoDB MetaStore (`storage.cacheDriver.name: "dynamodb"` with `remoteCache: true`, Zot's keys). */
export default defineExtension({
  name: 'metastore.dynamodb',
  apiVersion: 1,
  register(ctx) {
    // Loaded when a config names it: the DynamoDB client would add about 7 MB to every process that never does.
    ctx.metaStores.add('dynamodb', (options) => (require('./dynamodb-meta-store') as typeof DynamoMetaStore).createDynamoMetaStore(options));
  },
});
