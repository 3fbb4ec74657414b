// The event API extensions see: repository.created from the manifest write path, and ctx.events.emit limited
// to the emitting extension's own kinds.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/berth-process';
import { startBerth, type RunningBerth } from '../helpers/berth';
import { eventually } from '../helpers/eventually';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('extension events', () => {
  let berth: RunningBerth;
  const seen = async () => (await (await fetch(`${berth.url}/emitter/seen`)).json()) as Array<Record<string, string>>;
  const put = (repo: string, ref: string, body: Buffer) =>
    fetch(`${berth.url}/v2/${repo}/manifests/${ref}`, { method: 'PUT', body, headers: { 'Content-Type': OCI_MANIFEST } });

  before(async () => {
    berth = await startBerth({ extensions: { emitter: { module: join(REPO_ROOT, 'test', 'fixtures', 'extensions', 'emitter') } } });
  });
  after(() => berth?.stop());

  it('emits repository.created once, before the first manifest of a repository, and again once it had none', async () => {
    const config = Buffer.from('{}');
    assert.equal((await fetch(`${berth.url}/v2/fresh/app/blobs/uploads/?digest=${sha(config)}`, { method: 'POST', body: config })).status, 201);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: 2 }, layers: [] }));
    assert.equal((await put('fresh/app', 'v1', manifest)).status, 201);
    assert.equal((await put('fresh/app', 'v2', manifest)).status, 201);
    await eventually(async () => (await seen()).length >= 3);
    assert.deepEqual(await seen(), [
      { kind: 'repository.created', repo: 'fresh/app', writer: 'push' },
      { kind: 'manifest.stored', repo: 'fresh/app', writer: 'push', tag: 'v1' },
      { kind: 'manifest.stored', repo: 'fresh/app', writer: 'push', tag: 'v2' },
    ]);
    // Deleting its only manifest empties the repository; the next push creates it again.
    assert.equal((await fetch(`${berth.url}/v2/fresh/app/manifests/${sha(manifest)}`, { method: 'DELETE' })).status, 202);
    assert.equal((await put('fresh/app', 'v3', manifest)).status, 201);
    await eventually(async () => (await seen()).length >= 5);
    assert.deepEqual((await seen()).slice(3).map((e) => e.kind), ['repository.created', 'manifest.stored']);
  });

  it('lets an extension emit its own kinds to every subscriber, and no other kind', async () => {
    const before = (await seen()).length;
    assert.equal((await fetch(`${berth.url}/emitter/emit/emitter.ping`, { method: 'POST' })).status, 200);
    await eventually(async () => (await seen()).length > before);
    assert.deepEqual((await seen()).at(-1), { kind: 'emitter.ping', repo: 'from-emitter' });
    for (const kind of ['sync.result', 'manifest.stored', 'emitterx.ping']) {
      const res = await fetch(`${berth.url}/emitter/emit/${kind}`, { method: 'POST' });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: string }).error, /extension emitter: may emit only its own events \(emitter\.\*\)/);
    }
  });
});
