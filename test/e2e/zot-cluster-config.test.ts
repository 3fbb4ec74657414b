// Zot's scale-out cluster config (examples/scale-out-cluster-cloud/config-cluster-member0.json) on two berth
// processes sharing one S3 bucket (s3rver) and one Redis, with Redis in place of the example's DynamoDB and only
// the endpoints, ports and local roots changed. Zot would proxy each repository to its owner, marking the
// forwarded request with X-Zot-Cluster-Hop-Count; berth serves every repository on every member, and a request
// carrying the header (as a Zot member sends it) is served like any other, writes included. A cluster whose
// members would keep data of their own is refused at start-up, naming `cluster`.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BERTH_BIN, spawnBerth, type BerthProcess } from '../helpers/berth-process.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';
import { skopeoCopy, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, freePort, run, tempDir } from '../helpers/tools.js';
import { sha256 } from '../helpers/digests.js';

const HOP = { 'X-Zot-Cluster-Hop-Count': '1' };
const fixture = join(__dirname, '../../../test/fixtures/zot-examples/scale-out-cluster-cloud--config-cluster-member0.json');
// The fixture names no credentials: the AWS default chain finds s3rver's in the environment, as on AWS.
const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

type Json = Record<string, any>;

describe("Zot's scale-out cluster config on two berth members (S3 + Redis)", () => {
  let redis: RedisServer;
  let s3: S3Server;
  let members: BerthProcess[] = [];
  let image: BuiltImage;
  let work: string;

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    Object.assign(process.env, S3_ENV);
    work = await tempDir('e2e-zot-cluster');
    [redis, s3] = await Promise.all([startRedisServer(), startS3Server('s3rver')]);
    await s3.createBucket('zot-storage');
    const zot = JSON.parse(await readFile(fixture, 'utf8')) as Json;
    const ports = [await freePort(), await freePort()];
    const config = (i: number): Json => ({
      ...zot,
      storage: {
        ...zot.storage,
        rootDirectory: join(work, `member${i}`),
        storageDriver: { ...zot.storage.storageDriver, regionendpoint: `127.0.0.1:${s3.port}` },
        cacheDriver: { name: 'redis', url: redis.url },
      },
      http: { ...zot.http, port: String(ports[i]) },
      cluster: { ...zot.cluster, members: ports.map((p) => `127.0.0.1:${p}`) },
    });
    members = await Promise.all([0, 1].map((i) => spawnBerth(config(i), { port: ports[i] })));
    image = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ files: { '/etc/motd': 'zot cluster\n' } }, { randomBytes: 2 * 1024 * 1024, path: '/data/z.bin' }] });
  });

  after(async () => {
    await Promise.all(members.map((m) => m.stop()));
    await Promise.all([redis?.stop(), s3?.stop()]);
    await cleanupTempDirs();
  });

  it('berth verify accepts the config and says any member serves any repository, without proxying', async () => {
    const r = await run(process.execPath, [BERTH_BIN, 'verify', members[0].configFile], { allowFail: true });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cluster: 2 members, accepted: any member serves any repository itself, without proxying \(storage and metadata are shared\)/);
    assert.doesNotMatch(r.stdout, /cluster: accepted, not active/);
  });

  it('a push to one member pulls byte-identical from the other, with and without the hop-count header', async () => {
    const [a, b] = members;
    await skopeoCopy(image.ref, `${a.url}/team/app:v1`, { format: 'oci' });
    const out = await tempDir('zot-cluster-pull');
    await skopeoCopy(`${b.url}/team/app:v1`, `dir:${out}`);
    assert.equal(sha256(await readFile(join(out, 'manifest.json'))), image.descriptor.digest);

    // As a Zot member forwards a request to the repository's owner: the header set, served here.
    for (const m of members) {
      const plain = await fetch(`${m.url}/v2/team/app/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      const hop = await fetch(`${m.url}/v2/team/app/manifests/v1`, { headers: { ...HOP, Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(hop.status, 200);
      const bytes = Buffer.from(await hop.arrayBuffer());
      assert.deepEqual(bytes, Buffer.from(await plain.arrayBuffer()));
      assert.equal(sha256(bytes), image.descriptor.digest);
      assert.equal(hop.headers.get('docker-content-digest'), image.descriptor.digest);
      const manifest = JSON.parse(bytes.toString()) as Manifest;
      const layer = manifest.layers!.at(-1)!;
      const blob = await fetch(`${m.url}/v2/team/app/blobs/${layer.digest}`, { headers: HOP });
      assert.equal(blob.status, 200);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), layer.digest);
      const tags = await fetch(`${m.url}/v2/team/app/tags/list`, { headers: HOP });
      assert.deepEqual(await tags.json(), { name: 'team/app', tags: ['v1'] });
    }
  });

  it('writes carrying the header are served too: an upload begun on one member, continued and finished on the other', async () => {
    const [a, b] = members;
    const part1 = Buffer.alloc(300_000, 7);
    const part2 = Buffer.alloc(100_000, 8);
    const digest = sha256(Buffer.concat([part1, part2]));
    const post = await fetch(`${a.url}/v2/team/hop/blobs/uploads/`, { method: 'POST', headers: HOP });
    assert.equal(post.status, 202);
    const patch = await fetch(`${b.url}${post.headers.get('location')!}`, {
      method: 'PATCH', body: part1, headers: { ...HOP, 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${part1.length - 1}` },
    });
    assert.equal(patch.status, 202);
    const last = await fetch(`${a.url}${patch.headers.get('location')!}`, {
      method: 'PATCH', body: part2, headers: { ...HOP, 'Content-Type': 'application/octet-stream', 'Content-Range': `${part1.length}-${part1.length + part2.length - 1}` },
    });
    assert.equal(last.status, 202);
    const done = new URL(last.headers.get('location')!, b.url);
    done.searchParams.set('digest', digest);
    const put = await fetch(done, { method: 'PUT', headers: HOP });
    assert.equal(put.status, 201);
    const got = await fetch(`${a.url}/v2/team/hop/blobs/${digest}`, { headers: HOP });
    assert.equal(got.status, 200);
    assert.equal(sha256(Buffer.from(await got.arrayBuffer())), digest);
  });

  it('a cluster on each member\'s local disk is refused at start-up (exit 2), naming cluster and why', async () => {
    const file = join(work, 'local-cluster.json');
    await writeFile(file, JSON.stringify({
      storage: { rootDirectory: join(work, 'local') },
      http: { address: '127.0.0.1', port: String(await freePort()) },
      cluster: { members: ['127.0.0.1:9000', '127.0.0.1:9001'], hashKey: 'loremipsumdolors' },
    }));
    const r = await run(process.execPath, [BERTH_BIN, 'serve', file], { allowFail: true, timeoutMs: 30_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cluster: berth serves every repository on every member without proxying, so storage must be shared: storage is on each member's local disk/);
    assert.match(r.stderr, /cluster: .*the metadata must be shared: storage\.cacheDriver must be a remote cache \(redis or dynamodb\)/);
  });
});
