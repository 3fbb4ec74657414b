// The DynamoDB MetaStore beyond the conformance suite: its reading of Zot's cacheDriver keys (errors naming the key,
// berth's table name), what reaches the wire over TLS (AWS_CA_BUNDLE trusted, the AWS default credential chain)
// through an HTTPS proxy in front of dynalite that records each request's headers, and an empty kv key.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDynamoMetaStore } from '../../storage-drivers/metadata/dynamodb/dynamodb-meta-store';
import { parseDynamoOptions } from '../../storage-drivers/metadata/dynamodb/dynamodb-options';
import { DYNAMO_ENV, startDynamoServer, type DynamoServer } from '../helpers/dynamodb-server';
import { startTlsProxy, type TlsProxy } from '../helpers/tls-proxy';

describe('dynamodb cacheDriver options', () => {
  it('names berth\'s table after Zot\'s cache table, and reads the region as Zot\'s SDK does', () => {
    assert.equal(parseDynamoOptions({ name: 'dynamodb', cachetablename: 'ZotBlobTable' }, {}).table, 'ZotBlobTable.berth');
    assert.equal(parseDynamoOptions({ name: 'dynamodb' }, {}).table, 'berth.berth');
    assert.equal(parseDynamoOptions({ name: 'dynamodb', region: 'eu-west-1' }, { AWS_REGION: 'us-east-2' }).client.region, 'eu-west-1');
    assert.equal(parseDynamoOptions({ name: 'dynamodb' }, { AWS_REGION: 'us-east-2' }).client.region, 'us-east-2');
    assert.equal(parseDynamoOptions({ name: 'dynamodb', endpoint: 'http://localhost:4566' }, {}).client.endpoint, 'http://localhost:4566');
    assert.equal(parseDynamoOptions({ name: 'dynamodb' }, {}).client.credentials, undefined, 'the AWS default credential chain');
  });

  it('refuses what cannot work, naming the key', () => {
    assert.throws(() => parseDynamoOptions({ endpoint: 'localhost:4566' }, {}), /^DynamoConfigError: storage\.cacheDriver\.endpoint: expected an http:\/\/ or https:\/\/ URL/);
    assert.throws(() => parseDynamoOptions({ cachetablename: 'a b' }, {}), /^DynamoConfigError: storage\.cacheDriver\.cachetablename: "a b" cannot name a DynamoDB table/);
    assert.throws(() => parseDynamoOptions({}, { AWS_CA_BUNDLE: '/nonexistent/ca.pem' }), /^Error: AWS_CA_BUNDLE: cannot read \/nonexistent\/ca\.pem/);
  });
});

describe('dynamodb MetaStore over TLS', () => {
  let dynamo: DynamoServer;
  let proxy: TlsProxy;
  const keys = { AWS_ACCESS_KEY_ID: 'FROMENVIRONMENT', AWS_SECRET_ACCESS_KEY: 'secret', AWS_REGION: 'us-east-1' };

  before(async () => {
    dynamo = await startDynamoServer();
    proxy = await startTlsProxy(dynamo.port);
  });

  after(async () => {
    await proxy?.close();
    await dynamo?.stop();
  });

  // The SDK's default chain reads the process environment; the test sets it around each open.
  const open = async (env: NodeJS.ProcessEnv) => {
    const saved = { ...process.env };
    Object.assign(process.env, keys);
    try {
      return await createDynamoMetaStore({ params: { name: 'dynamodb', endpoint: proxy.endpoint, cachetablename: 'tls' }, env: { ...process.env, ...env } });
    } finally {
      for (const k of Object.keys(keys)) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
  };

  it('trusts the certificates AWS_CA_BUNDLE names, signing with the default chain\'s keys', async () => {
    proxy.seen.length = 0;
    const store = await open({ AWS_CA_BUNDLE: proxy.caFile });
    try {
      assert.equal(await store.catalog.add('over/tls'), true);
      assert.deepEqual(await store.catalog.page(10), ['over/tls']);
    } finally {
      await store.close();
    }
    assert.ok(proxy.seen.length > 0 && proxy.seen.every((h) => String(h.authorization).includes('Credential=FROMENVIRONMENT/')), 'the environment\'s keys sign every request');
  });

  it('without the CA, refuses the certificate and stops start-up naming storage.cacheDriver', async () => {
    const env = { AWS_CA_BUNDLE: '' };
    await assert.rejects(open(env), /^Error: storage\.cacheDriver: cannot use DynamoDB table tls\.berth at https:\/\/127\.0\.0\.1:\d+: .*(self[- ]signed|unable to (verify|get))/i);
  });
});

describe('dynamodb MetaStore beyond the suite', () => {
  let dynamo: DynamoServer;
  before(async () => {
    Object.assign(process.env, DYNAMO_ENV);
    dynamo = await startDynamoServer();
  });
  after(() => dynamo?.stop());

  it('keeps an empty kv key (DynamoDB refuses empty sort keys) and lists it first', async () => {
    const store = await createDynamoMetaStore({ params: dynamo.cacheDriver('emptykey') });
    try {
      const kv = store.kv('ext');
      await kv.put('a', Buffer.from('A'));
      const created = await kv.compareAndSet('', undefined, Buffer.from('root'));
      assert.ok(created.ok);
      assert.equal(Buffer.from((await kv.get(''))!.value).toString(), 'root');
      assert.deepEqual((await kv.list('', { limit: 10 })).map((e) => e.key), ['', 'a']);
      assert.equal(await kv.delete('', created.value.version), true);
      assert.equal(await kv.get(''), undefined);
    } finally {
      await store.close();
    }
  });
});
