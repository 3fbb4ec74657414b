// berth on S3 storage (fauxqs) with Zot's DynamoDB cacheDriver (dynalite), driven by skopeo: a Zot-style
// config (Zot's key spellings and table names) starts berth, pushes and pulls byte-identical, dedupes a second
// repository to placeholders resolved through the index in DynamoDB, a second berth
// on the same bucket and table sees what the first one did, an unreachable DynamoDB stops start-up naming
// storage.cacheDriver, and a DynamoDB that goes away mid-run gives 503s that end by themselves when it is back.
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { DYNAMO_ENV, startDynamoServer, type DynamoServer } from '../helpers/dynamodb-server.js';
import { eventually } from '../helpers/eventually.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';
import { skopeoCopy, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, freePort, tempDir } from '../helpers/tools.js';

const BUCKET = 'berth-dynamo';

/** Zot's examples/config-dynamodb.json cacheDriver, with only the endpoint changed. */
const zotCacheDriver = (endpoint: string) => ({
  name: 'dynamodb',
  endpoint,
  region: 'us-east-1',
  cacheTablename: 'ZotBlobTable',
  repoMetaTablename: 'ZotRepoMetadataTable',
  imageMetaTablename: 'ZotImageMetaTable',
  repoBlobsInfoTablename: 'ZotRepoBlobsInfoTable',
  userDataTablename: 'ZotUserDataTable',
  apiKeyTablename: 'ZotApiKeyTable',
  versionTablename: 'ZotVersion',
});

describe('berth with a DynamoDB MetaStore (dynalite) on S3 (fauxqs), with skopeo', () => {
  let dynamo: DynamoServer;
  let s3: S3Server;
  let berth: RunningBerth;
  let image: BuiltImage;
  let work: string;
  const config = () => ({
    storage: {
      dedupe: true,
      remoteCache: true,
      storageDriver: s3.driverParams(BUCKET, { rootdirectory: '/zot' }),
      cacheDriver: zotCacheDriver(dynamo.endpoint),
    },
  });

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    // The AWS default credential chain finds dynalite's (any) keys in the environment, as it would on AWS.
    Object.assign(process.env, DYNAMO_ENV);
    work = await tempDir('e2e-dynamo');
    dynamo = await startDynamoServer();
    s3 = await startS3Server('fauxqs');
    await s3.createBucket(BUCKET);
    berth = await startBerth(config());
    image = await buildOciImage(join(work, 'app'), {
      tag: 'v1',
      layers: [{ files: { '/etc/os-release': 'NAME=berth-dynamo\n' } }, { randomBytes: 3 * 1024 * 1024, path: '/data/blob.bin' }],
    });
  });

  after(async () => {
    await berth?.stop();
    await s3?.stop();
    await dynamo?.stop();
    await cleanupTempDirs();
  });

  it('pushes and pulls back byte-identical with skopeo', async () => {
    await skopeoCopy(image.ref, `${berth.url}/team/app:v1`, { format: 'oci' });
    await skopeoCopy(image.ref, `${berth.url}/other/app:v1`, { format: 'oci' });
    const out = join(work, 'pulled');
    await skopeoCopy(`${berth.url}/team/app:v1`, `oci:${out}:v1`, { format: 'oci' });
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    assert.equal(index.manifests[0].digest, image.descriptor.digest, 'the same manifest digest');
    const hex = (d: string) => d.slice('sha256:'.length);
    const manifest = JSON.parse(await readFile(join(out, 'blobs', 'sha256', hex(image.descriptor.digest)), 'utf8')) as Manifest;
    for (const layer of manifest.layers!) {
      const pulled = await readFile(join(out, 'blobs', 'sha256', hex(layer.digest)));
      const pushed = await readFile(join(image.layoutDir, 'blobs', 'sha256', hex(layer.digest)));
      assert.ok(pulled.equals(pushed), `layer ${layer.digest} byte-identical`);
    }
  });

  it('dedupes the second repository on S3 to placeholders resolved through the DynamoDB index', async () => {
    const hex = (d: string) => d.slice('sha256:'.length);
    const manifest = JSON.parse(await readFile(join(image.layoutDir, 'blobs', 'sha256', hex(image.descriptor.digest)), 'utf8')) as Manifest;
    const big = manifest.layers!.reduce((a, b) => (b.size > a.size ? b : a));
    const client = s3.client();
    try {
      const head = (repo: string) => client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `zot/zot/${repo}/blobs/sha256/${hex(big.digest)}` }));
      assert.equal((await head('team/app')).ContentLength, big.size, 'the first copy holds the bytes');
      assert.equal((await head('other/app')).ContentLength, 0, 'the second is a zero-byte placeholder');
    } finally {
      client.destroy();
    }
    const res = await fetch(`${berth.url}/v2/other/app/blobs/${big.digest}`);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.equals(await readFile(join(image.layoutDir, 'blobs', 'sha256', hex(big.digest)))), 'served from the original');
  });

  it('a second berth with the same config shares the state: catalog and an upload begun on the first', async () => {
    const second = await startBerth(config());
    try {
      const catalog = (await (await fetch(`${second.url}/v2/_catalog`)).json()) as { repositories: string[] };
      assert.deepEqual(catalog.repositories, ['other/app', 'team/app']);
      const started = await fetch(`${berth.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
      assert.equal(started.status, 202);
      const location = started.headers.get('location')!;
      const status = await fetch(new URL(location, second.url));
      assert.equal(status.status, 204, 'the upload session is known to the other replica');
    } finally {
      await second.stop();
    }
  });

  it('answers 503 with Retry-After while DynamoDB is down, and recovers by itself', async () => {
    await dynamo.stop();
    const down = await fetch(`${berth.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(down.status, 503);
    assert.ok(down.headers.get('retry-after'), 'Retry-After is set');
    assert.equal(((await down.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'UNAVAILABLE');
    await dynamo.start();
    await eventually(async () => (await fetch(`${berth.url}/v2/team/app/blobs/uploads/`, { method: 'POST' })).status === 202);
    await skopeoCopy(image.ref, `${berth.url}/team/app:v2`, { format: 'oci' });
  });

  it('refuses to start when DynamoDB cannot be reached, naming storage.cacheDriver', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    await assert.rejects(startBerth({ storage: { ...config().storage, cacheDriver: zotCacheDriver(closed) } }), /storage\.cacheDriver: cannot use DynamoDB table ZotBlobTable\.berth at http:\/\/127\.0\.0\.1:\d+/);
  });
});
