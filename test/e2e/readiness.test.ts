// /readyz follows the stores berth depends on: berth on S3 (s3rver) with its MetaStore in a real redis-server.
// Stopping redis-server turns /readyz 503 naming the metastore, stopping s3rver turns it 503 naming the storage
// and makes blob pulls and pushes answer 503 UNAVAILABLE with Retry-After (never a 500), with nothing of the
// failed push left behind; each recovers when its server is back, without restarting berth.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { eventually } from '../helpers/eventually.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';
import { cleanupTempDirs } from '../helpers/tools.js';

const BUCKET = 'ready';
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Readyz {
  status: number;
  retryAfter: string | null;
  body: { status?: string; checks?: { storage: string; metastore: string } } | string;
}

async function readyz(url: string): Promise<Readyz> {
  const res = await fetch(`${url}/readyz`);
  const text = await res.text();
  let body: Readyz['body'] = text;
  try {
    body = JSON.parse(text) as Readyz['body'];
  } catch {
    // 'ok' is plain text
  }
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
}

const pushBlob = (url: string, repo: string, bytes: Buffer) =>
  fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digestOf(bytes)}`, {
    method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
  });

describe('/readyz and API answers while S3 or the MetaStore is down', () => {
  let s3: S3Server;
  let redis: RedisServer;
  let berth: RunningBerth;
  const stored = randomBytes(64 * 1024);

  before(async () => {
    [s3, redis] = await Promise.all([startS3Server('s3rver'), startRedisServer()]);
    await s3.createBucket(BUCKET);
    berth = await startBerth({
      storage: {
        dedupe: true, remoteCache: true,
        cacheDriver: { name: 'redis', url: `redis://127.0.0.1:${redis.port}` },
        storageDriver: s3.driverParams(BUCKET, { rootdirectory: '/berth' }),
      },
    });
    assert.equal((await pushBlob(berth.url, 'team/app', stored)).status, 201);
  });

  after(async () => {
    await berth?.stop();
    await Promise.all([s3?.stop(), redis?.stop()]);
    await cleanupTempDirs();
  });

  it('answers 200 while S3 and Redis are reachable', async () => {
    const r = await readyz(berth.url);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
  });

  it('a stopped redis-server: 503 naming the metastore, then 200 again once it is back', async () => {
    await redis.stop();
    let down: Readyz | undefined;
    await eventually(async () => (down = await readyz(berth.url)).status === 503);
    assert.ok(down!.retryAfter, 'Retry-After is set');
    const body = down!.body as { status: string; checks: { storage: string; metastore: string } };
    assert.equal(body.status, 'unavailable');
    assert.equal(body.checks.storage, 'ok');
    assert.match(body.checks.metastore, /^redis: /);
    await redis.restart();
    await eventually(async () => (await readyz(berth.url)).status === 200);
  });

  it('a stopped S3 server: /readyz 503 naming the storage, blob GET and push 503 with Retry-After, then recovery', async () => {
    await s3.stop();
    let down: Readyz | undefined;
    await eventually(async () => (down = await readyz(berth.url)).status === 503);
    const body = down!.body as { status: string; checks: { storage: string; metastore: string } };
    assert.equal(body.status, 'unavailable');
    assert.match(body.checks.storage, /^s3: .*bucket ready at 127\.0\.0\.1:/);
    assert.equal(body.checks.metastore, 'ok');
    assert.doesNotMatch(JSON.stringify(body), /S3RVER/, 'no credentials in the report');

    const get = await fetch(`${berth.url}/v2/team/app/blobs/${digestOf(stored)}`);
    assert.equal(get.status, 503);
    assert.ok(get.headers.get('retry-after'), 'Retry-After on the blob GET');
    assert.equal(((await get.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'UNAVAILABLE');

    const lost = randomBytes(32 * 1024);
    const push = await pushBlob(berth.url, 'team/app', lost);
    assert.equal(push.status, 503);
    assert.ok(push.headers.get('retry-after'), 'Retry-After on the push');
    assert.equal(((await push.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'UNAVAILABLE');

    await s3.start();
    await eventually(async () => (await readyz(berth.url)).status === 200);
    const back = await fetch(`${berth.url}/v2/team/app/blobs/${digestOf(stored)}`);
    assert.equal(back.status, 200);
    assert.ok(Buffer.from(await back.arrayBuffer()).equals(stored), 'the stored blob reads back whole');
    const head = await fetch(`${berth.url}/v2/team/app/blobs/${digestOf(lost)}`, { method: 'HEAD' });
    assert.equal(head.status, 404, 'nothing of the failed push is served');
    assert.equal((await pushBlob(berth.url, 'team/app', lost)).status, 201, 'the push succeeds once S3 is back');
  });
});
