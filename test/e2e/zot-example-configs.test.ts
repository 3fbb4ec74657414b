// Zot's own S3 example configs start berth with only the endpoints changed (and the local roots and port, which
// name this machine): examples/config-s3.json (S3 for the default store and three subPaths routes, a DynamoDB
// cache), examples/config-dynamodb.json (S3 and every one of Zot's DynamoDB table keys) and a scale-out cluster
// member's config, on s3rver and dynalite. Credentials come from the AWS default chain (the environment), since
// none of them names any. skopeo pushes and pulls byte-identical, and the objects land under Zot's keys (a
// store's rootdirectory, then the default store's).
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnBerth, type BerthProcess } from '../helpers/berth-process.js';
import { startDynamoServer, type DynamoServer } from '../helpers/dynamodb-server.js';
import { assertPullsIdentical, buildOciImage, type BuiltImage } from '../helpers/images.js';
import { listKeys, startS3Server, type S3Server } from '../helpers/s3-server.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, freePort, tempDir } from '../helpers/tools.js';

type Json = Record<string, any>;

const fixtures = join(__dirname, '../../../test/fixtures/zot-examples');
// s3rver knows these; dynalite takes any.
const AWS_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
const ZOT_ENDPOINT = /^(https?:\/\/)?localhost:4566$/;

interface Servers {
  s3: S3Server;
  dynamo: DynamoServer;
  work: string;
}

/**
 * The Zot config with its endpoints pointed at the test servers: each store's `regionendpoint` (Zot's
 * `localhost:4566` kept in its form, or added where the example talks to AWS itself) and each cacheDriver
 * `endpoint`; local roots in a temp dir, and a free port. Nothing else changes.
 */
async function pointAtTestServers(file: string, { s3, dynamo, work }: Servers): Promise<Json> {
  const zot = JSON.parse(await readFile(join(fixtures, file), 'utf8')) as Json;
  const stores: Json[] = [zot.storage, ...Object.values((zot.storage.subPaths ?? {}) as Record<string, Json>)];
  stores.forEach((store, i) => {
    store.rootDirectory = join(work, `root${i}`);
    const driver = store.storageDriver as Json | undefined;
    if (driver) {
      const given = driver.regionendpoint as string | undefined;
      assert.ok(given === undefined || ZOT_ENDPOINT.test(given), given);
      driver.regionendpoint = given === undefined ? s3.endpoint : given.replace('localhost:4566', `127.0.0.1:${s3.port}`);
    }
    const cache = store.cacheDriver as Json | undefined;
    if (cache?.endpoint) {
      assert.match(cache.endpoint as string, ZOT_ENDPOINT);
      cache.endpoint = dynamo.endpoint;
    }
  });
  zot.http = { ...zot.http, port: String(await freePort()) };
  return zot;
}

async function tables(dynamo: DynamoServer): Promise<string[]> {
  const client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-2' });
  try {
    return (await client.send(new ListTablesCommand({}))).TableNames ?? [];
  } finally {
    client.destroy();
  }
}

interface Suite {
  servers: Servers;
  berth: BerthProcess;
  image: BuiltImage;
}

/** A suite on fresh s3rver and dynalite servers (with the bucket Zot's examples name) and berth from `file`. */
function exampleSuite(title: string, file: string, body: (suite: () => Suite) => void): void {
  describe(title, () => {
    let suite: Suite | undefined;
    before(async () => {
      await ensureTools(['skopeo', 'umoci']);
      Object.assign(process.env, AWS_ENV);
      const [s3, dynamo] = await Promise.all([startS3Server('s3rver'), startDynamoServer()]);
      const servers = { s3, dynamo, work: await tempDir('e2e-zot-examples') };
      suite = { servers } as Suite;
      await s3.createBucket('zot-storage');
      const config = await pointAtTestServers(file, servers);
      suite.berth = await spawnBerth(config, { port: Number(config.http.port) });
      suite.image = await buildOciImage(join(servers.work, 'img'), { tag: 'v1', layers: [{ files: { '/etc/motd': `${file}\n` } }, { randomBytes: 2 * 1024 * 1024, path: '/data/blob.bin' }] });
    });
    after(async () => {
      await suite?.berth?.stop();
      await Promise.all([suite?.servers.s3.stop(), suite?.servers.dynamo.stop()]);
      await cleanupTempDirs();
    });
    body(() => suite!);
  });
}

exampleSuite("Zot's config-s3.json (S3 default store and subPaths, DynamoDB cache), endpoints changed", 'config-s3.json', (suite) => {
  it('pushes to the default store and each route and pulls byte-identical, under Zot\'s keys of each store', async () => {
    const { berth, image, servers } = suite();
    const repos = ['app', 'a/app', 'b/app', 'c/app'];
    for (const repo of repos) await skopeoCopy(image.ref, `${berth.url}/${repo}:v1`, { format: 'oci' });
    for (const repo of repos) await assertPullsIdentical(`${berth.url}/${repo}:v1`, image);
    const catalog = (await (await fetch(`${berth.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['a/app', 'app', 'b/app', 'c/app']);
    const client = servers.s3.client();
    try {
      const keys = new Set(await listKeys(client, 'zot-storage', ''));
      // A route's own rootdirectory, then the default store's (Zot's getSubStore), then the full name.
      for (const key of ['zot/zot/app/index.json', 'zot-a/zot/a/app/index.json', 'zot-b/zot/b/app/index.json', 'zot-c/zot/c/app/index.json']) {
        assert.ok(keys.has(key), `${key} in ${[...keys].filter((k) => k.endsWith('index.json')).join(', ')}`);
      }
    } finally {
      client.destroy();
    }
    // The default store's cacheDriver (cacheTablename MainTable) holds berth's state in its own table.
    assert.ok((await tables(servers.dynamo)).includes('MainTable.berth'));
  });
});

exampleSuite("Zot's config-dynamodb.json (S3, every DynamoDB table key), endpoints changed", 'config-dynamodb.json', (suite) => {
  it('pushes and pulls byte-identical with skopeo, a deduped second repository included', async () => {
    const { berth, image, servers } = suite();
    await skopeoCopy(image.ref, `${berth.url}/team/app:v1`, { format: 'oci' });
    await skopeoCopy(image.ref, `${berth.url}/other/app:v1`, { format: 'oci' });
    await assertPullsIdentical(`${berth.url}/team/app:v1`, image);
    await assertPullsIdentical(`${berth.url}/other/app:v1`, image);
    const client = servers.s3.client();
    try {
      const keys = await listKeys(client, 'zot-storage', 'zot/zot/');
      assert.ok(keys.includes('zot/zot/team/app/index.json') && keys.includes('zot/zot/other/app/index.json'), keys.join(', '));
    } finally {
      client.destroy();
    }
    // berth's one table is named after Zot's cache table; Zot's metadata tables are left to Zot.
    assert.deepEqual(await tables(servers.dynamo), ['ZotBlobTable.berth']);
  });
});

// The member config as Zot ships it (DynamoDB): berth reads nothing from `members`, so they stay as written
// (127.0.0.1:9000-9002) while this member listens on a free port.
exampleSuite("Zot's scale-out-cluster-cloud member config (S3, DynamoDB, cluster), endpoints changed", 'scale-out-cluster-cloud--config-cluster-member0.json', (suite) => {
  it('serves as a cluster member: pushes and pulls byte-identical with skopeo', async () => {
    const { berth, image } = suite();
    await skopeoCopy(image.ref, `${berth.url}/team/app:v1`, { format: 'oci' });
    await assertPullsIdentical(`${berth.url}/team/app:v1`, image);
    const tags = await fetch(`${berth.url}/v2/team/app/tags/list`, { headers: { 'X-Zot-Cluster-Hop-Count': '1' } });
    assert.deepEqual(await tags.json(), { name: 'team/app', tags: ['v1'] });
  });
});
