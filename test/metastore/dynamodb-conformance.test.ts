import { after, before } from 'node:test';
import { runMetaStoreConformance } from '../../storage-drivers/conformance/metastore-conformance';
import { createDynamoMetaStore } from '../../storage-drivers/metadata/dynamodb/dynamodb-meta-store';
import { DYNAMO_ENV, startDynamoServer, type DynamoServer } from '../helpers/dynamodb-server';

// The suite unchanged, against dynalite: a fresh table per test (Zot cache table `t<n>`, berth's `t<n>.berth`),
// the peer process opening the same table through the store's own factory with the same environment.
Object.assign(process.env, DYNAMO_ENV);
let server: DynamoServer;
let n = 0;
before(async () => {
  server = await startDynamoServer();
});
after(() => server.stop());

runMetaStoreConformance('dynamodb', async () => {
  const options = { params: server.cacheDriver(`conformance${++n}`) };
  return {
    store: await createDynamoMetaStore(options),
    peer: { module: require.resolve('../../storage-drivers/metadata/dynamodb/dynamodb-meta-store'), export: 'createDynamoMetaStore', options },
    cleanup: async () => {},
  };
});
