// The S3 driver's reading of Zot's keys: defaults, errors naming the key, and what reaches the wire over TLS
// (AWS_CA_BUNDLE trusted, skipverify, the AWS default credential chain, session tokens), through an HTTPS
// proxy on loopback in front of fauxqs that records each request's headers.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { startS3Server, type S3Server } from '../../test/helpers/s3-server';
import { startTlsProxy, type TlsProxy } from '../../test/helpers/tls-proxy';
import { parseS3Options } from './options';
import { createS3Driver } from './s3-driver';

const MiB = 1024 * 1024;
const base = { name: 's3', bucket: 'b', region: 'us-east-1' };

describe('s3 driver options', () => {
  it('has Distribution\'s defaults', () => {
    const o = parseS3Options(base, {});
    assert.equal(o.chunkSize, 10 * MiB);
    assert.equal(o.multipartCopyThresholdSize, 32 * MiB);
    assert.equal(o.multipartCopyChunkSize, 32 * MiB);
    assert.equal(o.multipartCopyMaxConcurrency, 100);
    assert.equal(o.storageClass, 'STANDARD');
    assert.equal(o.encrypt, false);
    assert.equal(o.prefix, '');
    assert.equal(o.client.credentials, undefined, 'no keys: the AWS default credential chain');
    assert.equal(o.client.forcePathStyle, false);
  });

  it('reads rootdirectory as a key prefix (twice, as Zot\'s keys have it), storageclass NONE as none, and the endpoint with secure', () => {
    assert.equal(parseS3Options({ ...base, rootdirectory: '/zot/' }, {}).prefix, 'zot/zot/');
    assert.equal(parseS3Options({ ...base, rootdirectory: '/a/b' }, {}).prefix, 'a/b/a/b/');
    assert.equal(parseS3Options({ ...base, rootdirectory: '/' }, {}).prefix, '');
    assert.equal(parseS3Options(base, {}).prefix, '');
    // A subPaths store: its own rootdirectory, then the default store's, as Zot's getSubStore builds its keys.
    assert.equal(parseS3Options({ ...base, rootdirectory: '/team' }, {}, '/zot').prefix, 'team/zot/');
    assert.equal(parseS3Options({ ...base, rootdirectory: '/team' }, {}, '/').prefix, 'team/', 'a local default store roots Zot\'s image store at /');
    assert.equal(parseS3Options({ ...base, rootdirectory: '/zot' }, {}, '/zot').prefix, 'zot/zot/');
    assert.equal(parseS3Options({ ...base, storageclass: 'NONE' }, {}).storageClass, undefined);
    assert.equal(parseS3Options({ ...base, regionendpoint: 'minio.local:9000' }, {}).client.endpoint, 'https://minio.local:9000');
    assert.equal(parseS3Options({ ...base, regionendpoint: 'minio.local:9000', secure: false }, {}).client.endpoint, 'http://minio.local:9000');
    assert.equal(parseS3Options({ ...base, regionendpoint: 'http://minio.local:9000', secure: true }, {}).client.endpoint, 'http://minio.local:9000');
    assert.equal(parseS3Options({ ...base, regionendpoint: 'http://minio.local:9000' }, {}).client.forcePathStyle, false);
    assert.equal(parseS3Options({ ...base, regionendpoint: 'http://minio.local:9000', forcepathstyle: true }, {}).client.forcePathStyle, true);
    assert.equal(parseS3Options({ ...base, regionendpoint: 'http://10.0.0.7:9000' }, {}).client.forcePathStyle, true, 'an IP endpoint has no bucket host names');
    assert.equal(parseS3Options({ name: 's3', bucket: 'b', regionendpoint: 'http://10.0.0.7' }, {}).client.region, 'us-east-1');
  });

  it('usefipsendpoint and useragent as Distribution reads them', () => {
    assert.equal(parseS3Options(base, {}).client.useFipsEndpoint, false);
    assert.equal(parseS3Options({ ...base, usefipsendpoint: 'true' }, {}).client.useFipsEndpoint, true);
    assert.equal(parseS3Options({ ...base, useragent: 'registry-eu/1' }, {}).client.customUserAgent, 'registry-eu/1');
  });

  it('times out connecting and waiting for an answer (30 s each by default), giving a body time to upload', () => {
    const handler = (o: ReturnType<typeof parseS3Options>) => o.client.requestHandler as { connectionTimeout?: number; requestTimeout?: number; throwOnRequestTimeout?: boolean };
    const dflt = parseS3Options(base, {});
    assert.equal(handler(dflt).connectionTimeout, 30_000);
    assert.equal(handler(dflt).requestTimeout, 30_000);
    assert.equal(handler(dflt).throwOnRequestTimeout, true, 'an error, not only a warning');
    assert.equal(dflt.responseTimeoutMs, 30_000);
    const set = parseS3Options({ ...base, connecttimeout: '5s', responsetimeout: '2m' }, {});
    assert.equal(handler(set).connectionTimeout, 5_000);
    assert.equal(set.responseTimeoutMs, 120_000);
    // A Go duration as a number is nanoseconds (as Zot's loader reads one).
    assert.equal(parseS3Options({ ...base, responsetimeout: 1_500_000_000 }, {}).responseTimeoutMs, 1_500);
  });

  it('refuses values Distribution refuses, naming the key', () => {
    const refused: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...base, chunksize: MiB }, /storage\.storageDriver\.chunksize: 1048576 is outside 5242880\.\./],
      [{ ...base, chunksize: 'ten' }, /storage\.storageDriver\.chunksize: expected an integer/],
      [{ ...base, v4auth: false }, /storage\.storageDriver\.v4auth: false asks for AWS Signature Version 2/],
      [{ ...base, accesskey: 'AKIA' }, /storage\.storageDriver\.secretkey: accesskey and secretkey go together/],
      [{ ...base, secure: 'maybe' }, /storage\.storageDriver\.secure: expected a boolean/],
      [{ name: 's3', region: 'r' }, /storage\.storageDriver\.bucket: required/],
      [{ name: 's3', bucket: 'b' }, /storage\.storageDriver\.region: required/],
      [{ ...base, responsetimeout: 'soon' }, /storage\.storageDriver\.responsetimeout: /],
      [{ ...base, connecttimeout: '0s' }, /storage\.storageDriver\.connecttimeout: must be more than 0/],
    ];
    for (const [params, message] of refused) assert.throws(() => parseS3Options(params, {}), message, JSON.stringify(params));
  });

  it('says which file AWS_CA_BUNDLE names when it cannot be read', () => {
    assert.throws(() => parseS3Options(base, { AWS_CA_BUNDLE: '/nonexistent/ca.pem' }), /^Error: AWS_CA_BUNDLE: cannot read \/nonexistent\/ca\.pem/);
  });
});

describe('s3 driver over TLS', () => {
  let s3: S3Server;
  let proxy: TlsProxy;
  let endpoint: string;
  let caFile: string;
  let seen: IncomingHttpHeaders[];

  before(async () => {
    s3 = await startS3Server('fauxqs');
    await s3.createBucket('tls');
    proxy = await startTlsProxy(s3.port);
    ({ endpoint, caFile, seen } = proxy);
  });

  after(async () => {
    await proxy?.close();
    await s3?.stop();
  });

  const roundTrip = async (params: Record<string, unknown>, env: NodeJS.ProcessEnv) => {
    const driver = createS3Driver(parseS3Options({ name: 's3', bucket: 'tls', region: 'us-east-1', regionendpoint: endpoint, ...params }, env));
    try {
      await driver.putContent('probe/file', Buffer.from('over tls'));
      const got = (await driver.getContent('probe/file')).toString();
      // sendTo (blob GETs) opens its own connections (raw-get.ts): the same trust applies to them.
      const chunks: Buffer[] = [];
      await driver.sendTo!('probe/file', new Writable({ write: (c: Buffer, _e, done) => (chunks.push(Buffer.from(c)), done()) }));
      assert.equal(Buffer.concat(chunks).toString(), got, 'sendTo');
      return got;
    } finally {
      await driver.close?.();
    }
  };

  it('trusts the certificates AWS_CA_BUNDLE names, and only those', async () => {
    const keys = { accesskey: 'CONFIGURED', secretkey: 'secret' };
    assert.equal(await roundTrip(keys, { AWS_CA_BUNDLE: caFile }), 'over tls');
    await assert.rejects(roundTrip(keys, {}), /self[- ]signed|unable to (verify|get)/i);
  });

  it('sends useragent with every request, after the SDK\'s own', async () => {
    seen.length = 0;
    await roundTrip({ accesskey: 'CONFIGURED', secretkey: 'secret', useragent: 'registry-eu/1' }, { AWS_CA_BUNDLE: caFile });
    assert.ok(seen.length > 0 && seen.every((h) => /aws-sdk-js.* registry-eu\/1/.test(String(h['user-agent']))), seen.map((h) => h['user-agent']).join('\n'));
  });

  it('sendTo streams a large object over TLS into a slow destination unchanged', async () => {
    const driver = createS3Driver(parseS3Options({ name: 's3', bucket: 'tls', region: 'us-east-1', regionendpoint: endpoint, accesskey: 'k', secretkey: 's' }, { AWS_CA_BUNDLE: caFile }));
    try {
      const data = Buffer.from(Array.from({ length: 6 * MiB + 7 }, (_, i) => (i * 31 + (i >> 12)) % 256));
      await driver.putContent('probe/large', data);
      const chunks: Buffer[] = [];
      const slow = new Writable({ highWaterMark: 16 * 1024, write: (c: Buffer, _e, done) => (chunks.push(Buffer.from(c)), setTimeout(done, 1)) });
      assert.equal(await driver.sendTo!('probe/large', slow), data.length);
      assert.ok(Buffer.concat(chunks).equals(data));
    } finally {
      await driver.close?.();
    }
  });

  it('skipverify accepts a certificate nothing vouches for', async () => {
    assert.equal(await roundTrip({ accesskey: 'CONFIGURED', secretkey: 'secret', skipverify: true }, {}), 'over tls');
  });

  it('signs with the configured keys and session token, else with the AWS default credential chain', async () => {
    seen.length = 0;
    await roundTrip({ accesskey: 'CONFIGURED', secretkey: 'secret', sessiontoken: 'the-token' }, { AWS_CA_BUNDLE: caFile });
    assert.ok(seen.length > 0 && seen.every((h) => String(h.authorization).includes('Credential=CONFIGURED/')), 'configured keys sign every request');
    assert.ok(seen.every((h) => h['x-amz-security-token'] === 'the-token'));
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = 'FROMENVIRONMENT';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    try {
      seen.length = 0;
      await roundTrip({}, { AWS_CA_BUNDLE: caFile });
      assert.ok(seen.length > 0 && seen.every((h) => String(h.authorization).includes('Credential=FROMENVIRONMENT/')), 'the environment\'s keys sign');
    } finally {
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });
});
