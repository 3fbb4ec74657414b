// The stateless cluster (issue 11 point 4): three berth replicas with one config, one S3 bucket (s3rver), one
// Redis (with AOF, as production runs it) and HAProxy round-robin without sticky sessions in front, dedupe and
// GC on. Clients only know HAProxy's address, so the requests of one upload land on different replicas. The
// policies mix anonymous reads with alice's writes, so berth's token service is in use: a token one replica
// signs must be accepted by the others. Cases: skopeo and docker pushes, 8 concurrent pushers into one
// repository, GC while pushing, kill -9 of a replica mid-push, a Redis restart and an S3 outage.
// After each case every acknowledged push pulls byte-identical, tags and the catalog list exactly what was
// acknowledged, and once GC has run the bucket holds exactly the acknowledged blobs and no upload.
// A second, smaller cluster on fauxqs checks the repair after Redis loses its data: a replica's restart.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { basicAuth, writeHtpasswd } from '../helpers/auth.js';
import { CLUSTER_BUCKET, CLUSTER_PREFIX, startCluster, type Cluster } from '../helpers/cluster.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { eventually } from '../helpers/eventually.js';
import type { HaproxyLogLine } from '../helpers/haproxy.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { listKeys } from '../helpers/s3-server.js';
import { skopeoCopy, skopeoListTags, type Manifest } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, tempDir } from '../helpers/tools.js';
import { sha256, hex } from '../helpers/digests.js';

const MiB = 1024 * 1024;
const ALICE = 'alice:alicepw';
const MANIFEST_TYPES = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'].join(', ');

/** A push the client saw succeed: what must pull back byte-identical, whatever happens afterwards. */
interface Acked {
  repo: string;
  tag: string;
  digest: string;
  /** The manifest's blobs (config and layers). */
  blobs: string[];
}

describe('three berth replicas behind HAProxy on one S3 bucket and one Redis', () => {
  let cluster: Cluster;
  let work: string;
  const acked: Acked[] = [];
  let built = 0;

  /** A fresh image: a layer shared by all (dedupe), one of its own, a small file layer; about 2.5 MiB. */
  const newImage = async (name: string): Promise<BuiltImage> =>
    buildOciImage(join(work, `img-${built++}`), {
      tag: 'v1',
      layers: [
        { files: { '/etc/name': `${name}\n` } },
        { randomBytes: MiB, seed: 1, path: '/shared.bin' },
        { randomBytes: 1.5 * MiB, path: '/own.bin' },
      ],
    });

  const manifestOf = async (image: BuiltImage): Promise<Manifest> =>
    JSON.parse(await readFile(join(image.layoutDir, 'blobs', 'sha256', hex(image.descriptor.digest)), 'utf8')) as Manifest;

  const record = async (repo: string, tag: string, image: BuiltImage) => {
    const m = await manifestOf(image);
    // Pushing the same image to the same tag again acknowledges nothing new.
    if (acked.some((a) => a.repo === repo && a.tag === tag && a.digest === image.descriptor.digest)) return;
    acked.push({ repo, tag, digest: image.descriptor.digest, blobs: [m.config!.digest, ...m.layers!.map((l) => l.digest)] });
  };

  /**
   * skopeo through HAProxy as alice (or with `creds`); a push that fails is not acknowledged and, up to
   * `attempts` times, is run again as a client's retry would.
   */
  const push = async (image: BuiltImage, repo: string, tag: string, opts: { attempts?: number; creds?: string } = {}): Promise<number> => {
    const attempts = opts.attempts ?? 1;
    for (let attempt = 1; ; attempt++) {
      const res = await skopeoCopy(image.ref, `${cluster.url}/${repo}:${tag}`, { creds: opts.creds ?? ALICE, allowFail: true, extraArgs: ['--retry-times', '3'] });
      if (res.code === 0) {
        await record(repo, tag, image);
        return attempt;
      }
      if (attempt >= attempts) throw new Error(`push ${repo}:${tag} failed ${attempt} times:\n${res.stderr}`);
      // A client backs off before it tries again (kubelet's image pulls do): 1 s, 2 s, 3 s, so the attempts
      // outlast an outage of a few seconds instead of all failing within it.
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  };

  /** Pulls `a` anonymously through HAProxy into a `dir:` copy and checks the manifest and every blob. */
  const assertPullsIdentical = async (a: Acked) => {
    const out = await tempDir('cluster-pull');
    await skopeoCopy(`${cluster.url}/${a.repo}:${a.tag}`, `dir:${out}`);
    const manifest = await readFile(join(out, 'manifest.json'));
    assert.equal(sha256(manifest), a.digest, `${a.repo}:${a.tag}: manifest bytes`);
    for (const d of a.blobs) assert.equal(sha256(await readFile(join(out, hex(d)))), d, `${a.repo}:${a.tag}: blob ${d}`);
  };

  /** The same check over plain HTTP (no client process): for pushes skopeo already pulled after an earlier case. */
  const assertServesIdentical = async (a: Acked) => {
    const res = await fetch(`${cluster.url}/v2/${a.repo}/manifests/${a.tag}`, { headers: { accept: MANIFEST_TYPES } });
    assert.equal(res.status, 200, `${a.repo}:${a.tag}`);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), a.digest, `${a.repo}:${a.tag}: manifest bytes`);
    for (const d of a.blobs) {
      const blob = await fetch(`${cluster.url}/v2/${a.repo}/blobs/${d}`);
      assert.equal(blob.status, 200, `${a.repo}:${a.tag}: blob ${d}`);
      const hash = createHash('sha256');
      for await (const chunk of blob.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
      assert.equal(`sha256:${hash.digest('hex')}`, d, `${a.repo}:${a.tag}: blob ${d}`);
    }
  };
  /** Acknowledged pushes skopeo has pulled back once. */
  const pulled = new Set<Acked>();

  /** The bucket's keys under Zot's layout, without the prefix. */
  const bucketKeys = async () => {
    const client = cluster.s3.client();
    try {
      return (await listKeys(client, CLUSTER_BUCKET, CLUSTER_PREFIX)).map((k) => k.slice(CLUSTER_PREFIX.length));
    } finally {
      client.destroy();
    }
  };

  /** What the bucket must hold once GC has removed every leftover: acknowledged content, nothing else. */
  const expectedKeys = () => {
    const keys = new Set<string>();
    for (const a of acked) {
      keys.add(`${a.repo}/index.json`).add(`${a.repo}/oci-layout`);
      for (const d of [a.digest, ...a.blobs]) keys.add(`${a.repo}/blobs/sha256/${hex(d)}`);
    }
    return [...keys].sort();
  };

  const catalog = async () => ((await (await fetch(`${cluster.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;

  /**
   * Every acknowledged push pulls byte-identical and its tags are listed; once GC has run (gcDelay 8s,
   * gcInterval 2s), the catalog and the bucket show nothing else: no upload, no blob, no repository that only
   * an interrupted or abandoned push made (a repository exists from its first upload on, as in Zot).
   */
  const assertConsistent = async () => {
    const repos = [...new Set(acked.map((a) => a.repo))].sort();
    for (const repo of repos) {
      const tags = acked.filter((a) => a.repo === repo).map((a) => a.tag).sort();
      assert.deepEqual((await skopeoListTags(`${cluster.url}/${repo}`)).sort(), tags, `${repo}: exactly the acknowledged tags`);
    }
    // Four pulls at a time (the machine has two cores); what skopeo pulled after an earlier case, over HTTP.
    for (let i = 0; i < acked.length; i += 4) {
      await Promise.all(acked.slice(i, i + 4).map((a) => (pulled.has(a) ? assertServesIdentical(a) : assertPullsIdentical(a).then(() => pulled.add(a)))));
    }
    const expected = expectedKeys();
    let seen = { repos: [] as string[], keys: [] as string[] };
    // Up to 75 s: a replica killed while it held the GC lease stops GC everywhere until the lease lapses (60 s).
    await eventually(async () => {
      seen = { repos: (await catalog()).sort(), keys: (await bucketKeys()).sort() };
      return JSON.stringify(seen) === JSON.stringify({ repos, keys: expected });
    }, 75_000).catch(() => {
      // The difference only: the whole lists run to hundreds of keys, more than a CI log keeps.
      const diff = (what: string, actual: string[], want: string[]) => [
        ...actual.filter((k) => !want.includes(k)).map((k) => `${what} not acknowledged: ${k}`),
        ...want.filter((k) => !actual.includes(k)).map((k) => `${what} missing: ${k}`),
      ];
      assert.fail(`after GC, the acknowledged repositories and content and no upload; instead:\n${[...diff('catalog', seen.repos, repos), ...diff('bucket', seen.keys, expected)].join('\n')}`);
    });
  };

  /** The requests of each upload (PATCH/PUT by upload id) and the replicas that served them, since `from`. */
  const uploadsSince = (from: number) => {
    const byUpload = new Map<string, Set<string>>();
    for (const line of cluster.haproxy.log().slice(from)) {
      const m = /\/blobs\/uploads\/([0-9a-f-]{36})/.exec(line.uri);
      if (!m || line.server.startsWith('<')) continue;
      byUpload.set(m[1], (byUpload.get(m[1]) ?? new Set()).add(line.server));
    }
    return byUpload;
  };
  /** Pushes running at once; `running()` counts those not finished yet. */
  const concurrently = (runs: Array<Promise<number>>) => {
    let done = 0;
    const all = Promise.all(runs.map((r) => r.finally(() => done++)));
    // Awaited later by the case; a rejection before then is its failure, not an unhandled one.
    all.catch(() => undefined);
    return { all, running: () => runs.length - done };
  };
  const served = (lines: HaproxyLogLine[], server: string) => lines.filter((l) => l.server === server && !l.uri.startsWith('/readyz'));

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'htpasswd']);
    work = await tempDir('e2e-cluster');
    const htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }]);
    cluster = await startCluster({
      replicas: 3,
      gcDelay: '8s',
      gcInterval: '2s',
      config: {
        http: {
          auth: { htpasswd: { path: htpasswd }, apikey: true },
          accessControl: { repositories: { '**': { anonymousPolicy: ['read'], policies: [{ users: ['alice'], actions: ['read', 'create', 'update', 'delete'] }] } } },
        },
      },
    });
  });

  afterEach(async () => {
    // A case that failed half-way must not leave a replica down for the next one.
    for (let i = 0; i < cluster.replicas.length; i++) if (!cluster.running(i)) await cluster.restart(i);
  });

  after(async () => {
    await cluster?.stop();
    await cleanupTempDirs();
  });

  it('skopeo and docker push multi-layer images through HAProxy; the requests of one upload go to different replicas', async () => {
    const from = cluster.haproxy.log().length;
    await push(await newImage('skopeo'), 'team/skopeo', 'v1');

    // An upload in four requests from one client, one at a time: round-robin puts them on different replicas.
    const parts = [Buffer.alloc(300_000, 1), Buffer.alloc(300_000, 2), Buffer.alloc(100_000, 3)];
    const digest = sha256(Buffer.concat(parts));
    const auth = basicAuth('alice', 'alicepw');
    const post = await fetch(`${cluster.url}/v2/team/chunked/blobs/uploads/`, { method: 'POST', headers: auth });
    assert.equal(post.status, 202);
    let location = post.headers.get('location')!;
    let offset = 0;
    for (const part of parts) {
      const res = await fetch(new URL(location, cluster.url), {
        method: 'PATCH', body: part,
        headers: { ...auth, 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + part.length - 1}` },
      });
      assert.equal(res.status, 202, await res.text());
      offset += part.length;
      assert.equal(res.headers.get('range'), `0-${offset - 1}`);
      location = res.headers.get('location')!;
    }
    const put = new URL(location, cluster.url);
    put.searchParams.set('digest', digest);
    assert.equal((await fetch(put, { method: 'PUT', headers: auth })).status, 201);
    const got = await fetch(`${cluster.url}/v2/team/chunked/blobs/${digest}`);
    assert.equal(sha256(Buffer.from(await got.arrayBuffer())), digest);
    const chunked = uploadsSince(from).get(/uploads\/([0-9a-f-]{36})/.exec(location)![1])!;
    assert.equal(chunked.size, 3, `the chunked upload's PATCHes and PUT went to all three replicas (${[...chunked].join(', ')})`);
    // Not a tag: nothing acknowledges this blob as part of an image, so GC may take it; drop it now.
    assert.equal((await fetch(`${cluster.url}/v2/team/chunked/blobs/${digest}`, { method: 'DELETE', headers: auth })).status, 202);

    // docker: its own daemon, logged in through HAProxy (the token service), pushes a loaded image.
    const image = await newImage('docker');
    const archive = join(work, 'docker.tar');
    await skopeoCopy(image.ref, `docker-archive:${archive}:berth.test/docker:v1`);
    const dockerd: Dockerd = await startDockerd();
    try {
      await dockerd.docker(['load', '-i', archive]);
      await dockerd.docker(['login', '-u', 'alice', '--password-stdin', cluster.host], { input: 'alicepw\n' });
      const ref = `${cluster.host}/team/docker:v1`;
      await dockerd.docker(['tag', 'berth.test/docker:v1', ref]);
      const out = (await dockerd.docker(['push', ref])).stdout;
      const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
      assert.ok(pushed, `docker push printed a digest:\n${out}`);
      const manifest = JSON.parse(await (await fetch(`${cluster.url}/v2/team/docker/manifests/${pushed}`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).text()) as Manifest;
      acked.push({ repo: 'team/docker', tag: 'v1', digest: pushed, blobs: [manifest.config!.digest, ...manifest.layers!.map((l) => l.digest)] });
    } finally {
      await dockerd.stop();
    }

    const uploads = [...uploadsSince(from).values()];
    assert.ok(uploads.length >= 8, `skopeo's and docker's layer uploads are in HAProxy's log (${uploads.length})`);
    const spread = uploads.filter((servers) => servers.size > 1).length;
    assert.ok(spread >= uploads.length / 2, `most uploads were continued on another replica (${spread} of ${uploads.length})`);
    const lines = cluster.haproxy.log().slice(from);
    for (const r of ['r0', 'r1', 'r2']) assert.ok(served(lines, r).length > 0, `${r} served requests`);
    assert.ok(lines.some((l) => l.uri.startsWith('/berth/auth/token') && l.status === 200), 'docker used the token service');
    assert.ok(!lines.some((l) => l.status >= 500), 'no 5xx');
    await assertConsistent();
  });

  it('8 concurrent pushers of different tags into one repository: all 8 tags are listed and pull', async () => {
    const images = await Promise.all(Array.from({ length: 8 }, (_, i) => newImage(`many-${i}`)));
    await Promise.all(images.map((image, i) => push(image, 'team/many', `t${i}`)));
    assert.deepEqual((await skopeoListTags(`${cluster.url}/team/many`)).sort(), ['t0', 't1', 't2', 't3', 't4', 't5', 't6', 't7']);
    await assertConsistent();
  });

  it('GC runs while pushes go on: it takes garbage and nothing acknowledged', async () => {
    const auth = basicAuth('alice', 'alicepw');
    // Garbage: a blob no manifest references, and an upload abandoned after its first chunk.
    const orphan = Buffer.from('an orphan blob nobody tags');
    const mono = await fetch(`${cluster.url}/v2/team/gc/blobs/uploads/?digest=${sha256(orphan)}`, {
      method: 'POST', body: orphan, headers: { ...auth, 'content-type': 'application/octet-stream' },
    });
    assert.equal(mono.status, 201);
    const abandoned = await fetch(`${cluster.url}/v2/team/gc/blobs/uploads/`, { method: 'POST', headers: auth });
    const location = abandoned.headers.get('location')!;
    const patch = await fetch(new URL(location, cluster.url), { method: 'PATCH', body: Buffer.alloc(200_000, 7), headers: { ...auth, 'content-type': 'application/octet-stream' } });
    assert.equal(patch.status, 202);
    // Pushes into the same repository, one after another, until GC has taken the garbage (gcDelay is 8 s).
    // After the first round they push the same images to the same tags again: the blobs exist, the tags stay.
    const images = await Promise.all(Array.from({ length: 3 }, (_, i) => newImage(`gc-${i}`)));
    const gone = async () =>
      (await fetch(`${cluster.url}/v2/team/gc/blobs/${sha256(orphan)}`, { method: 'HEAD' })).status === 404 &&
      (await fetch(new URL(location, cluster.url), { headers: auth })).status === 404;
    const deadline = Date.now() + 40_000;
    let n = 0;
    while (!(await gone())) {
      assert.ok(Date.now() < deadline, 'GC removed the orphan blob and the abandoned upload while pushes went on');
      await push(images[n % images.length], 'team/gc', `g${n % images.length}`);
      n++;
    }
    assert.ok(n >= 2, `pushes ran while GC worked (${n})`);
    await assertConsistent();
  });

  it('kill -9 of a replica during pushes: retries through HAProxy succeed, an acknowledged chunk survives, the replica comes back', async (t) => {
    const auth = basicAuth('alice', 'alicepw');
    const victim = cluster.replicas[1];
    const images = await Promise.all(Array.from({ length: 4 }, (_, i) => newImage(`crash-${i}`)));
    const from = cluster.haproxy.log().length;
    const pushes = concurrently(images.map((image, i) => push(image, 'team/crash', `c${i}`, { attempts: 4 })));
    // Kill it once it is in the middle of the pushes' uploads.
    await eventually(async () => cluster.haproxy.log().slice(from).some((l) => l.server === 'r1' && /uploads\//.test(l.uri)), 60_000);
    // An upload whose first chunk the victim acknowledged just before it dies: another replica must continue
    // it. Begun only now, so it is continued well within gcDelay (8 s) however slow the machine: an upload idle
    // longer is GC's to remove, as in Zot.
    const first = Buffer.alloc(400_000, 4);
    const second = Buffer.alloc(100_000, 5);
    const post = await fetch(`${victim.url}/v2/team/crash/blobs/uploads/`, { method: 'POST', headers: auth });
    const patch = await fetch(new URL(post.headers.get('location')!, victim.url), { method: 'PATCH', body: first, headers: { ...auth, 'content-type': 'application/octet-stream' } });
    assert.equal(patch.status, 202);
    const location = patch.headers.get('location')!;
    const running = pushes.running();
    try {
      await cluster.kill9(1);
      assert.ok(running > 0, 'pushes were running when the replica died');
      const rest = await fetch(new URL(location, cluster.url), {
        method: 'PATCH', body: second, headers: { ...auth, 'content-type': 'application/octet-stream', 'content-range': `${first.length}-${first.length + second.length - 1}` },
      });
      assert.equal(rest.status, 202, await rest.text());
      const digest = sha256(Buffer.concat([first, second]));
      const put = new URL(rest.headers.get('location')!, cluster.url);
      put.searchParams.set('digest', digest);
      assert.equal((await fetch(put, { method: 'PUT', headers: auth })).status, 201, 'the upload the dead replica began is finished by another');
      assert.equal(sha256(Buffer.from(await (await fetch(`${cluster.url}/v2/team/crash/blobs/${digest}`)).arrayBuffer())), digest);
      assert.equal((await fetch(`${cluster.url}/v2/team/crash/blobs/${digest}`, { method: 'DELETE', headers: auth })).status, 202);
      // Only now wait for the pushes, so the upload above never idles past gcDelay meanwhile.
      t.diagnostic(`${running} of 4 pushes running at the kill; attempts per push: ${(await pushes.all).join(', ')}`);
    } finally {
      // A failure above must not leave pushes running into the next case, acknowledging behind its back.
      await pushes.all.catch(() => undefined);
    }

    await cluster.restart(1);
    const back = cluster.haproxy.log().length;
    await push(await newImage('after-restart'), 'team/crash', 'after');
    assert.ok(served(cluster.haproxy.log().slice(back), 'r1').length > 0, 'the restarted replica is back in rotation');
    await assertConsistent();
  });

  it('Redis restarted mid-run (AOF on): pushes retried through the outage succeed, dedupe and uploads keep their state', async (t) => {
    const auth = basicAuth('alice', 'alicepw');
    const images = await Promise.all(Array.from({ length: 2 }, (_, i) => newImage(`redis-${i}`)));
    const from = cluster.haproxy.log().length;
    const pushes = concurrently(images.map((image, i) => push(image, 'team/redis', `r${i}`, { attempts: 4 })));
    await eventually(async () => cluster.haproxy.log().slice(from).some((l) => /uploads\//.test(l.uri)), 60_000);
    // An upload in flight across the restart: its session is in Redis. It is continued right after the restart,
    // well within gcDelay (8 s): an upload idle longer is GC's to remove, as in Zot.
    const first = Buffer.alloc(250_000, 8);
    const second = Buffer.alloc(50_000, 9);
    const post = await fetch(`${cluster.url}/v2/team/redis/blobs/uploads/`, { method: 'POST', headers: auth });
    const patch = await fetch(new URL(post.headers.get('location')!, cluster.url), { method: 'PATCH', body: first, headers: { ...auth, 'content-type': 'application/octet-stream' } });
    assert.equal(patch.status, 202);
    const running = pushes.running();
    await cluster.redis.restart();
    assert.ok(running > 0, 'pushes were running when Redis went down');

    // Right after the restart a replica may still be reconnecting: 503 with Retry-After, and the client's retry
    // (HAProxy sends it to any replica) goes on. Each request is retried that way, as a client honouring it does.
    const untilNot503 = async (send: () => Promise<Response>): Promise<Response> => {
      let res!: Response;
      await eventually(async () => {
        res = await send();
        if (res.status !== 503) return true;
        assert.ok(res.headers.get('retry-after'), '503 carries Retry-After');
        await res.arrayBuffer();
        return false;
      });
      return res;
    };
    try {
      const rest = await untilNot503(() => fetch(new URL(patch.headers.get('location')!, cluster.url), {
        method: 'PATCH', body: second, headers: { ...auth, 'content-type': 'application/octet-stream', 'content-range': `${first.length}-${first.length + second.length - 1}` },
      }));
      assert.equal(rest.status, 202, `the upload session survived the restart: ${await rest.text()}`);
      const digest = sha256(Buffer.concat([first, second]));
      const put = new URL(rest.headers.get('location')!, cluster.url);
      put.searchParams.set('digest', digest);
      assert.equal((await untilNot503(() => fetch(put, { method: 'PUT', headers: auth }))).status, 201);
      // Only now wait for the pushes: an upload left idle past gcDelay meanwhile would be GC's to remove.
      t.diagnostic(`${running} of 2 pushes running at the restart; attempts per push: ${(await pushes.all).join(', ')}`);
      assert.equal((await untilNot503(() => fetch(`${cluster.url}/v2/team/redis/blobs/${digest}`, { method: 'DELETE', headers: auth }))).status, 202);
    } finally {
      // A failure above must not leave pushes running into the next case, acknowledging behind its back.
      await pushes.all.catch(() => undefined);
    }
    // The shared layer was first stored long before the restart; copies in new repositories resolve through Redis.
    await push(images[0], 'team/redis-copy', 'v1');
    await assertConsistent();
  });

  it('S3 stopped: 503 with Retry-After while it is down, and the cluster recovers by itself when it is back', async () => {
    const [a] = acked;
    await cluster.s3.stop();
    const direct = await fetch(`${cluster.replicas[0].url}/v2/${a.repo}/blobs/${a.blobs[1]}`);
    assert.equal(direct.status, 503, 'a replica answers 503 while S3 is down');
    assert.ok(direct.headers.get('retry-after'), 'with Retry-After');
    assert.equal(((await direct.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'UNAVAILABLE');
    // /readyz fails on every replica, HAProxy takes them all out and answers for them, in the same terms.
    for (const i of [0, 1, 2]) await cluster.haproxy.waitStatus(`r${i}`, 'DOWN');
    const viaProxy = await fetch(`${cluster.url}/v2/${a.repo}/manifests/${a.tag}`);
    assert.equal(viaProxy.status, 503);
    assert.ok(viaProxy.headers.get('retry-after'));
    assert.equal(((await viaProxy.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'UNAVAILABLE');

    await cluster.s3.start();
    for (const i of [0, 1, 2]) await cluster.haproxy.waitStatus(`r${i}`, 'UP');
    await push(await newImage('after-s3'), 'team/s3', 'v1', { attempts: 2 });
    await assertConsistent();
  });

  it('an API key made on one replica and a token one replica signed work on the others', async () => {
    const [r0, r1, r2] = cluster.replicas;
    const made = await fetch(`${r0.url}/zot/auth/apikey`, { method: 'POST', headers: basicAuth('alice', 'alicepw'), body: JSON.stringify({ label: 'ci' }) });
    assert.equal(made.status, 201);
    const { apiKey } = (await made.json()) as { apiKey: string };
    for (const r of [r1, r2]) {
      const res = await fetch(`${r.url}/v2/_catalog`, { headers: basicAuth('alice', apiKey) });
      assert.equal(res.status, 200, `the key works on ${r.url}`);
    }
    // skopeo with the key as the password: it trades it for a token at whichever replica it reaches.
    await push(await newImage('apikey'), 'team/apikey', 'v1', { creds: `alice:${apiKey}` });

    const tokenRes = await fetch(`${r1.url}/berth/auth/token?service=berth&scope=repository:team/token:pull,push`, { headers: basicAuth('alice', apiKey) });
    assert.equal(tokenRes.status, 200);
    const { token } = (await tokenRes.json()) as { token: string };
    for (const r of [r0, r2]) {
      const res = await fetch(`${r.url}/v2/team/token/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 202, `${r.url} accepts the token r1 signed`);
      await fetch(new URL(res.headers.get('location')!, r.url), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    }
    await assertConsistent();
  });

  it('a replica taken out of HAProxy and put back at run time: the others serve alone meanwhile, none restarts', async () => {
    const pids = cluster.replicas.map((r) => r.daemon.pid);
    await cluster.haproxy.removeServer('r2');
    const from = cluster.haproxy.log().length;
    await push(await newImage('two-replicas'), 'team/resize', 'v1');
    const lines = cluster.haproxy.log().slice(from);
    assert.equal(served(lines, 'r2').length, 0, 'the removed replica gets no requests');
    assert.ok(served(lines, 'r0').length > 0 && served(lines, 'r1').length > 0);
    await cluster.haproxy.addServer({ name: 'r2', port: Number(new URL(cluster.replicas[2].url).port) });
    await cluster.haproxy.waitStatus('r2', 'UP');
    const back = cluster.haproxy.log().length;
    await push(await newImage('three-again'), 'team/resize', 'v2');
    assert.ok(served(cluster.haproxy.log().slice(back), 'r2').length > 0, 'the replica added back serves again');
    assert.deepEqual(cluster.replicas.map((r) => r.daemon.pid), pids, 'no replica was restarted');
    await assertConsistent();
  });
});

// fauxqs here, not s3rver: the repair below walks the bucket with delimiter listings, which s3rver gets wrong.
describe('Redis losing its data under a running cluster (fauxqs, two replicas)', () => {
  let cluster: Cluster;
  let work: string;

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    work = await tempDir('e2e-cluster-flush');
    // GC stays out of the way: with the dedupe index gone it must not run before the repair (docs/cluster.md).
    cluster = await startCluster({ replicas: 2, s3: 'fauxqs', gcDelay: '1h', gcInterval: '1h' });
  });
  after(async () => {
    await cluster?.stop();
    await cleanupTempDirs();
  });

  it('restarting one replica rebuilds the catalog and the dedupe index for all: deduped copies pull again', async () => {
    const image = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ files: { '/etc/name': 'flush\n' } }, { randomBytes: MiB, path: '/data.bin' }] });
    const m = JSON.parse(await readFile(join(image.layoutDir, 'blobs', 'sha256', hex(image.descriptor.digest)), 'utf8')) as Manifest;
    const blobs = [m.config!.digest, ...m.layers!.map((l) => l.digest)];
    // The second repository's copies are dedupe placeholders of the first's.
    for (const repo of ['team/a', 'team/b']) await skopeoCopy(image.ref, `${cluster.url}/${repo}:v1`);
    assert.equal(await cluster.redis.cli('FLUSHALL'), 'OK');

    await cluster.restart(0);
    // The reconcile and the dedupe pass run in the background after start-up; every replica sees their result.
    await eventually(async () => {
      for (const r of cluster.replicas) {
        const { repositories } = (await (await fetch(`${r.url}/v2/_catalog`)).json()) as { repositories: string[] };
        if (JSON.stringify(repositories) !== JSON.stringify(['team/a', 'team/b'])) return false;
        if ((await fetch(`${r.url}/v2/team/b/manifests/v1`, { method: 'HEAD', headers: { accept: MANIFEST_TYPES } })).status !== 200) return false;
      }
      return true;
    });
    for (const repo of ['team/a', 'team/b']) {
      const out = await tempDir('cluster-flush-pull');
      await skopeoCopy(`${cluster.replicas[1].url}/${repo}:v1`, `dir:${out}`);
      assert.equal(sha256(await readFile(join(out, 'manifest.json'))), image.descriptor.digest, `${repo}: manifest bytes`);
      for (const d of blobs) assert.equal(sha256(await readFile(join(out, hex(d)))), d, `${repo}: blob ${d}`);
    }
  });
});

describe('Redis losing its data under running replicas with GC on (fauxqs, two replicas, no restart)', () => {
  let cluster: Cluster;
  let work: string;

  before(async () => {
    await ensureTools(['skopeo', 'umoci']);
    work = await tempDir('e2e-cluster-flush-gc');
    cluster = await startCluster({ replicas: 2, s3: 'fauxqs', gcDelay: '2s', gcInterval: '2s' });
  });
  after(async () => {
    await cluster?.stop();
    await cleanupTempDirs();
  });

  it('GC holds off until the replicas rebuilt the dedupe index: the originals\' bytes move to the copies instead of being deleted', async () => {
    const image = await buildOciImage(join(work, 'img'), { tag: 'v1', layers: [{ files: { '/etc/name': 'flush-gc\n' } }, { randomBytes: MiB, path: '/data.bin' }] });
    const m = JSON.parse(await readFile(join(image.layoutDir, 'blobs', 'sha256', hex(image.descriptor.digest)), 'utf8')) as Manifest;
    const blobs = [m.config!.digest, ...m.layers!.map((l) => l.digest)];
    // team/b's blobs are dedupe placeholders of team/a's, whose bytes only the index in Redis points to.
    for (const repo of ['team/a', 'team/b']) await skopeoCopy(image.ref, `${cluster.url}/${repo}:v1`);
    assert.equal(await cluster.redis.cli('FLUSHALL'), 'OK');
    // team/a's blobs are garbage now: GC takes them after gcDelay, and must keep their bytes for team/b.
    // Deleting the manifest would drop the bytes team/b's placeholder of it needs: while the index is being rebuilt
    // the delete answers 503 with Retry-After and changes nothing; retried, as a client does, it succeeds.
    const statuses: number[] = [];
    await eventually(async () => {
      const del = await fetch(`${cluster.replicas[0].url}/v2/team/a/manifests/${image.descriptor.digest}`, { method: 'DELETE' });
      statuses.push(del.status);
      if (del.status === 503) assert.ok(del.headers.get('retry-after'), 'a 503 says when to retry');
      else assert.equal(del.status, 202);
      return del.status === 202;
    }, 60_000);
    assert.equal(statuses[0], 503, `the first delete, right after the loss, waits for the rebuild (${statuses.join(', ')})`);
    await eventually(async () => {
      for (const r of cluster.replicas) {
        for (const d of blobs) if ((await fetch(`${r.url}/v2/team/a/blobs/${d}`, { method: 'HEAD' })).status !== 404) return false;
      }
      return true;
    }, 60_000);
    for (const r of cluster.replicas) {
      const { repositories } = (await (await fetch(`${r.url}/v2/_catalog`)).json()) as { repositories: string[] };
      assert.ok(repositories.includes('team/b'), `${r.url} lists team/b again: ${JSON.stringify(repositories)}`);
      const out = await tempDir('cluster-flush-gc-pull');
      await skopeoCopy(`${r.url}/team/b:v1`, `dir:${out}`);
      assert.equal(sha256(await readFile(join(out, 'manifest.json'))), image.descriptor.digest);
      for (const d of blobs) assert.equal(sha256(await readFile(join(out, hex(d)))), d, `team/b blob ${d} from ${r.url}`);
    }
  });
});
