import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/berth-process';
import { basicAuth, seedArtifact, writeHtpasswd } from '../helpers/auth';
import { tempDir } from '../helpers/tools';
import { startBerth, type RunningBerth } from '../helpers/berth';

const fixture = (name: string) => join(REPO_ROOT, 'test', 'fixtures', 'extensions', name);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

type StoredEventJson = Record<string, unknown> & { digest: string; bytes: { data: number[] }; origin?: { method: string } };

/**
 * The hello fixture's `manifest.stored` events, once at least `n` arrived (handlers run after the response),
 * with `bytes` checked against the digest and `origin` against the writer, then left out.
 */
async function eventsOf(berth: RunningBerth, n: number): Promise<Array<Record<string, unknown>>> {
  for (let i = 0; ; i++) {
    const events = (await (await fetch(`${berth.url}/hello/events`)).json()) as StoredEventJson[];
    if (events.length >= n || i === 100) {
      return events.map(({ bytes, origin, ...rest }) => {
        assert.equal(sha(Buffer.from(bytes.data)), rest.digest, 'the event carries the bytes stored');
        assert.equal(origin?.method, rest.writer === 'push' ? 'PUT' : undefined, 'a push names its request, other writers none');
        return rest;
      });
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('third-party extensions loaded by extensions.<name>.module', () => {
  let berth: RunningBerth | undefined;
  after(() => berth?.stop());

  it('adds routes, reads its config slice, receives events and uses the registry facade', async () => {
    berth = await startBerth({ extensions: { hello: { module: fixture('hello'), greeting: 'hi', times: 2 } } });
    const hello = await fetch(`${berth.url}/hello`);
    assert.equal(hello.status, 200);
    assert.deepEqual(await hello.json(), { greeting: 'hihi' });

    const config = Buffer.from('{}');
    const up = await fetch(`${berth.url}/v2/ext/app/blobs/uploads/?digest=${sha(config)}`, { method: 'POST', body: config });
    assert.equal(up.status, 201);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [],
    }));
    const put = await fetch(`${berth.url}/v2/ext/app/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(put.status, 201);
    const retag = await fetch(`${berth.url}/hello/retag/ext%2Fapp/v1/v2`, { method: 'POST' });
    assert.deepEqual(await retag.json(), { digest: sha(manifest) });
    const stored = { repo: 'ext/app', digest: sha(manifest), mediaType: 'application/vnd.oci.image.manifest.v1+json' };
    assert.deepEqual(await eventsOf(berth, 2), [{ ...stored, tag: 'v1', writer: 'push' }, { ...stored, tag: 'v2', writer: 'hello' }]);
    assert.deepEqual(await (await fetch(`${berth.url}/hello/repos`)).json(), ['ext/app']);
  });

  it('serves a local miss from its content source and keeps the copy', async () => {
    assert.ok(berth);
    const m = await fetch(`${berth.url}/v2/upstream/img/manifests/latest`);
    assert.equal(m.status, 200);
    const manifest = JSON.parse(await m.text()) as { layers: Array<{ digest: string }> };
    const layerDigest = manifest.layers[0].digest;
    const blob = await fetch(`${berth.url}/v2/upstream/img/blobs/${layerDigest}`);
    assert.equal(blob.status, 200);
    assert.equal(await blob.text(), 'layer from hi');
    const [cached] = (await eventsOf(berth, 3)).slice(2);
    assert.deepEqual(cached, { repo: 'upstream/img', digest: m.headers.get('docker-content-digest'), mediaType: 'application/vnd.oci.image.manifest.v1+json', tag: 'latest', writer: 'pull-through' });
    await new Promise((r) => setTimeout(r, 100));
    // Second time: local, the source is not asked again.
    assert.equal((await fetch(`${berth.url}/v2/upstream/img/manifests/latest`)).status, 200);
    assert.equal(await (await fetch(`${berth.url}/v2/upstream/img/blobs/${layerDigest}`)).text(), 'layer from hi');
    assert.deepEqual(await (await fetch(`${berth.url}/hello/fetched`)).json(), { manifests: 1, blobs: 1 });
    const tags = await (await fetch(`${berth.url}/v2/upstream/img/tags/list`)).json();
    assert.deepEqual(tags, { name: 'upstream/img', tags: ['latest'] });
    // A repository the source does not match stays unknown.
    assert.equal((await fetch(`${berth.url}/v2/other/img/manifests/latest`)).status, 404);
  });

  it("applies the core's access control to its routes through ctx.access", async () => {
    const htpasswd = join(await tempDir('berth-ext-auth-'), 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }, { user: 'bob', password: 'bobpw' }]);
    const secured = await startBerth({
      http: {
        auth: { htpasswd: { path: htpasswd } },
        accessControl: {
          repositories: {
            'team/**': { policies: [{ users: ['alice'], actions: ['read'] }] },
            'public/**': { anonymousPolicy: ['read'], defaultPolicy: ['read'] },
          },
        },
      },
      extensions: { hello: { module: fixture('hello'), greeting: 'hi' } },
    });
    try {
      await seedArtifact(secured.app.registry, 'team/app', 'v1');
      await seedArtifact(secured.app.registry, 'public/app', 'v1');
      const get = (path: string, headers: Record<string, string> = {}) => fetch(`${secured.url}${path}`, { headers });
      const anon = await get('/hello/tags/team%2Fapp');
      assert.equal(anon.status, 401);
      // Anonymous reads beside authenticated ones: berth's token service is in use (docs/auth.md).
      assert.match(anon.headers.get('www-authenticate') ?? '', /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/berth\/auth\/token",service="berth",scope="repository:team\/app:pull"$/);
      assert.doesNotMatch(await anon.text(), /v1/);
      assert.equal((await get('/hello/tags/team%2Fapp', basicAuth('bob', 'bobpw'))).status, 403);
      const alice = await get('/hello/tags/team%2Fapp', basicAuth('alice', 'alicepw'));
      assert.equal(alice.status, 200);
      assert.deepEqual(await alice.json(), ['v1']);
      assert.deepEqual(await (await get('/hello/tags/public%2Fapp')).json(), ['v1']);
      assert.deepEqual(await (await get('/hello/repos')).json(), ['public/app']);
      assert.deepEqual(await (await get('/hello/repos', basicAuth('alice', 'alicepw'))).json(), ['public/app', 'team/app']);
    } finally {
      await secured.stop();
    }
  });

  it('runs register, then onStart with the registry and MetaStore open, then its schedules', async () => {
    const b = await startBerth({ extensions: { lifecycle: { module: fixture('lifecycle') } } });
    try {
      let body: { timeline: string[]; usableInRegister: boolean };
      for (let i = 0; ; i++) {
        body = (await (await fetch(`${b.url}/lifecycle`)).json()) as typeof body;
        if (body.timeline.length >= 3 || i === 200) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(body, { timeline: ['register', 'start:0', 'run:after-start'], usableInRegister: false });
    } finally {
      await b.stop();
    }
    await assert.rejects(
      startBerth({ extensions: { lifecycle: { module: fixture('lifecycle'), failStart: true } } }),
      /extension lifecycle: failed to start: the database it needs is not there/,
    );
  });

  it('stops start-up with an error naming the extension or key when it is unusable', async () => {
    await assert.rejects(startBerth({ extensions: { hello: { module: fixture('hello'), greeting: 5 } } }), /extensions\.hello\.greeting/);
    await assert.rejects(startBerth({ extensions: { badversion: { module: fixture('bad-version') } } }), /badversion.*API version 2/);
    await assert.rejects(startBerth({ extensions: { needy: { module: fixture('missing-dep') } } }), /needy: depends on nothere/);
    await assert.rejects(startBerth({ extensions: { ghost: { module: fixture('does-not-exist') } } }), /extensions\.ghost\.module/);
    await assert.rejects(startBerth({ extensions: { mystery: { enable: true } } }), /extensions\.mystery/);
  });
});
