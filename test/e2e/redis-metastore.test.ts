// berth started from a Zot-style redis cacheDriver config: skopeo pushes and pulls with every upload session,
// catalog entry and dedupe record in a real redis-server, and a restart of redis-server mid-run (its data gone:
// no persistence) is answered with 503s while it is down and recovered from without restarting berth. Then
// Zot's config-redis.json (S3 and Redis) with only the endpoints changed, on two berth processes: what one
// replica took in, the other lists, serves and continues.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnBerth, type BerthProcess } from '../helpers/berth-process.js';
import { eventually } from '../helpers/eventually.js';
import { assertPullsIdentical, buildOciImage, type BuiltImage } from '../helpers/images.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';
import { skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';
import { sha256 } from '../helpers/digests.js';

const PASSWORD = 'redis-never-logged';

describe('berth on the Redis MetaStore', () => {
  let redis: RedisServer;
  let berth: BerthProcess;
  let work: string;
  let first: BuiltImage;
  let second: BuiltImage;

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    work = await tempDir('e2e-redis');
    redis = await startRedisServer({ password: PASSWORD });
    first = await buildOciImage(join(work, 'first'), { tag: 'v1', layers: [{ files: { '/etc/motd': 'first\n' } }, { randomBytes: 3 * 1024 * 1024, path: '/data/a.bin' }] });
    second = await buildOciImage(join(work, 'second'), { tag: 'v2', layers: [{ files: { '/etc/motd': 'second\n' } }, { randomBytes: 2 * 1024 * 1024, path: '/data/b.bin' }] });
    // Zot's example config-redis.json with the endpoint changed, local storage instead of S3.
    berth = await spawnBerth({
      storage: {
        dedupe: true, gc: true, remoteCache: true,
        cacheDriver: { name: 'redis', url: `redis://:${PASSWORD}@127.0.0.1:${redis.port}`, keyprefix: 'zot', dial_timeout: '2s' },
      },
    });
  });

  after(async () => {
    await berth?.stop();
    await redis?.stop();
    await cleanupTempDirs();
  });

  it('pushes and pulls with skopeo; the shared state is in Redis, not in a local database', async () => {
    await skopeoCopy(first.ref, `${berth.url}/team/app:v1`, { format: 'oci' });
    assert.equal(sha256((await skopeoInspect(`${berth.url}/team/app:v1`, { raw: true })).text), first.descriptor.digest);
    await assertPullsIdentical(`${berth.url}/team/app:v1`, first);
    const catalog = (await (await fetch(`${berth.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['team/app']);
    assert.equal(await redis.cli('ZRANGE', '{zot:berth}:cat:', '0', '-1'), 'team/app', 'the catalog index lives in Redis');
    await assert.rejects(stat(join(berth.root, '_berth', 'berth.db')), { code: 'ENOENT' }, 'no local database beside the remote one');
  });

  it('a redis-server restart mid-run: 503 with Retry-After while it is down, then berth recovers by itself', async () => {
    await redis.stop();
    const down = await fetch(`${berth.url}/v2/team/other/blobs/uploads/`, { method: 'POST' });
    assert.equal(down.status, 503);
    assert.ok(down.headers.get('retry-after'), 'Retry-After is set');
    const body = (await down.json()) as { errors: Array<{ code: string; message: string }> };
    assert.equal(body.errors[0].code, 'UNAVAILABLE');
    assert.match(body.errors[0].message, new RegExp(`storage\\.cacheDriver redis at 127\\.0\\.0\\.1:${redis.port}\\) failed: not connected`));

    await redis.restart();
    // The client reconnects in the background: no berth restart, the next calls succeed.
    await eventually(async () => (await fetch(`${berth.url}/v2/team/other/blobs/uploads/`, { method: 'POST' })).status === 202);
    await skopeoCopy(second.ref, `${berth.url}/team/other:v2`, { format: 'oci' });
    await assertPullsIdentical(`${berth.url}/team/other:v2`, second);
    // What was pushed before the restart is on storage and still pulls byte-identical.
    await assertPullsIdentical(`${berth.url}/team/app:v1`, first);
  });

  it('never writes the redis password to its log', async () => {
    // A graceful stop flushes the log, which by now holds the start-up and the outage.
    await berth.stop();
    const log = await readFile(berth.logFile, 'utf8');
    assert.ok(log.length > 0);
    assert.ok(!log.includes(PASSWORD));
  });
});

describe("Zot's config-redis.json (S3 storage, Redis cache) on two berth processes, endpoints changed", () => {
  let redis: RedisServer;
  let s3: S3Server;
  let a: BerthProcess;
  let b: BerthProcess;
  let image: BuiltImage;

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    const work = await tempDir('e2e-redis-s3');
    [redis, s3] = await Promise.all([startRedisServer(), startS3Server('s3rver')]);
    await s3.createBucket('zot-storage');
    const zot = JSON.parse(await readFile(join(__dirname, '../../../test/fixtures/zot-examples/config-redis.json'), 'utf8')) as { storage: Record<string, Record<string, unknown>> };
    const storage = {
      ...zot.storage,
      rootDirectory: join(work, 'root'),
      cacheDriver: { ...zot.storage.cacheDriver, url: redis.url },
      storageDriver: { ...zot.storage.storageDriver, ...s3.driverParams('zot-storage', { rootdirectory: '/zot' }) },
    };
    [a, b] = await Promise.all([spawnBerth({ storage }), spawnBerth({ storage })]);
    image = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ files: { '/etc/motd': 'cluster\n' } }, { randomBytes: 2 * 1024 * 1024, path: '/data/c.bin' }] });
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all([redis?.stop(), s3?.stop()]);
    await cleanupTempDirs();
  });

  it('a push to one replica is listed and pulled byte-identical from the other', async () => {
    await skopeoCopy(image.ref, `${a.url}/shared/app:v1`, { format: 'oci' });
    const catalog = (await (await fetch(`${b.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['shared/app'], 'the other replica lists it from the shared catalog');
    await assertPullsIdentical(`${b.url}/shared/app:v1`, image);
  });

  it('an upload started on one replica continues and finishes on the other', async () => {
    const part1 = Buffer.alloc(300_000, 1);
    const part2 = Buffer.alloc(200_000, 2);
    const digest = sha256(Buffer.concat([part1, part2]));
    const post = await fetch(`${a.url}/v2/shared/chunked/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 202);
    const location = post.headers.get('location')!;
    const patch = await fetch(`${a.url}${location}`, { method: 'PATCH', body: part1, headers: { 'Content-Range': `0-${part1.length - 1}`, 'Content-Type': 'application/octet-stream' } });
    assert.equal(patch.status, 202);
    const status = await fetch(`${b.url}${location}`);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${part1.length - 1}`, 'the other replica knows the offset');
    const next = await fetch(`${b.url}${patch.headers.get('location')!}`, { method: 'PATCH', body: part2, headers: { 'Content-Range': `${part1.length}-${part1.length + part2.length - 1}`, 'Content-Type': 'application/octet-stream' } });
    assert.equal(next.status, 202);
    const loc = new URL(next.headers.get('location')!, b.url);
    loc.searchParams.set('digest', digest);
    assert.equal((await fetch(loc, { method: 'PUT' })).status, 201);
    const got = await fetch(`${a.url}/v2/shared/chunked/blobs/${digest}`);
    assert.equal(got.status, 200);
    assert.equal(sha256(Buffer.from(await got.arrayBuffer())), digest);
  });
});
