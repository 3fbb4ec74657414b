import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger, MetaStore, MetaStoreOptions } from '../../../core/extensions/api';
import { dynamoAccessTimes } from './dynamodb-access-times';
import { dynamoApiKeys } from './dynamodb-api-keys';
import { dynamoCatalog } from './dynamodb-catalog';
import { dynamoDedupe } from './dynamodb-dedupe';
import { dynamoKv } from './dynamodb-kv';
import { dynamoLeases } from './dynamodb-leases';
import { parseDynamoOptions } from './dynamodb-options';
import { dynamoSigningKeys } from './dynamodb-signing-keys';
import { Table } from './dynamodb-table';
import { dynamoUploads } from './dynamodb-uploads';

/**
 * The DynamoDB MetaStore: every record in one table (dynamodb-table.ts), each call one conditional request or
 * a read followed by a write conditional on what was read. Opening checks the table (creating it when absent),
 * so an unreachable endpoint or refused credentials stop start-up naming `storage.cacheDriver`. Afterwards a
 * failed request rejects with UNAVAILABLE (503) and the next call simply tries again.
 */
export async function createDynamoMetaStore(options: Pick<MetaStoreOptions, 'params'> & { logger?: Logger; env?: NodeJS.ProcessEnv }): Promise<MetaStore> {
  const o = parseDynamoOptions(options.params, options.env);
  const client = new DynamoDBClient(o.client);
  const table = new Table(client, o.table, options.logger);
  try {
    await table.ensure();
  } catch (err) {
    client.destroy();
    throw new Error(`storage.cacheDriver: cannot use DynamoDB table ${o.table} at ${o.target}: ${(err as Error).message || (err as Error).name}`);
  }
  const kv = dynamoKv(table);
  return {
    kind: 'dynamodb',
    shared: true,
    uploads: dynamoUploads(table),
    leases: dynamoLeases(table),
    dedupe: dynamoDedupe(table),
    accessTimes: dynamoAccessTimes(table),
    apiKeys: dynamoApiKeys(table),
    catalog: dynamoCatalog(table),
    signingKeys: dynamoSigningKeys(table),
    kv: (namespace) => kv(namespace),
    ping: () => table.ping(),
    close: () => table.close(),
  };
}
