/**
 * `storage.cacheDriver` for `name: "dynamodb"` (with `remoteCache: true`), Zot's keys: `endpoint` and `region`
 * reach the client as Zot passes them (BaseEndpoint, region), credentials come from the AWS default chain, and
 * the `*tablename` keys name Zot's own tables. berth keeps its state in one table of its own beside them,
 * `<cacheTablename>.berth`: a name Zot never gives a table, so a cluster that Zot and berth share cannot mix
 * their records, and two clusters with different Zot tables get different berth tables.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { caBundle, optionalString as str } from '../../aws/client-options';

/** Zot's table keys (lower-cased as the config hands them over), kept for the docs and `berth verify`. */
export const ZOT_TABLE_KEYS = [
  'cachetablename', 'repometatablename', 'imagemetatablename', 'repoblobsinfotablename', 'userdatatablename', 'apikeytablename', 'versiontablename',
] as const;

export interface DynamoOptions {
  /** The table berth creates when absent and keeps every record in. */
  table: string;
  /** Where the client goes, for the errors that name it. */
  target: string;
  client: DynamoDBClientConfig;
}

/** A configuration error naming the key, as start-up reports it. */
export class DynamoConfigError extends Error {
  constructor(key: string, message: string) {
    super(`storage.cacheDriver.${key}: ${message}`);
    this.name = 'DynamoConfigError';
  }
}


/** DynamoDB's rule for table names: 3 to 255 of letters, digits, `_`, `-` and `.`. */
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

export function parseDynamoOptions(params: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): DynamoOptions {
  const endpoint = str(params, 'endpoint');
  if (endpoint !== undefined && !/^https?:\/\//i.test(endpoint)) throw new DynamoConfigError('endpoint', `expected an http:// or https:// URL, got ${JSON.stringify(endpoint)}`);
  // As Zot's LoadDefaultConfig: the key, else AWS_REGION / AWS_DEFAULT_REGION / the shared config's region.
  const region = str(params, 'region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const cacheTable = str(params, 'cachetablename');
  const table = `${cacheTable ?? 'berth'}.berth`;
  if (!TABLE_NAME.test(table)) throw new DynamoConfigError('cachetablename', `${JSON.stringify(cacheTable)} cannot name a DynamoDB table`);
  return {
    table,
    target: endpoint ?? `DynamoDB in ${region ?? 'the default region'}`,
    client: {
      ...(region ? { region } : {}),
      ...(endpoint ? { endpoint } : {}),
      // Undefined credentials: the SDK's default chain (env, shared files, SSO, web identity, ECS, IMDS).
      // Two attempts and short timeouts: a call fails within seconds when DynamoDB is unreachable, and the
      // request that needed it gets a 503 instead of hanging; the next call tries again.
      maxAttempts: 2,
      requestHandler: {
        connectionTimeout: 2_000,
        requestTimeout: 5_000,
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64, ...caBundle(env) }),
      },
    },
  };
}

