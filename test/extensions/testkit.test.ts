import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defineExtension, type ManifestStoredEvent } from '../../core/extensions/api';
import { buildImage, pushManifest, PushError, startBerth, type TestBerth } from '../../core/testkit';
import { skopeoCopy } from '../helpers/skopeo';
import { cleanupTempDirs, ensureTools, run, tempDir } from '../helpers/tools';

/** An extension object as an author's test hands it to the kit: records what was stored. */
const recorder = defineExtension({
  name: 'recorder',
  apiVersion: 1,
  configSchema: z.object({ prefix: z.string() }),
  register(ctx) {
    const seen: Array<Omit<ManifestStoredEvent, 'bytes' | 'origin'>> = [];
    // The bytes and the request are left out: the test compares the rest.
    ctx.events.on('manifest.stored', ({ bytes: _bytes, origin: _origin, ...rest }) => void seen.push(rest));
    ctx.routes.get(`/${ctx.config.prefix}/seen`, (c) => { c.body = seen; });
  },
});

describe('berth/testkit', () => {
  let berth: TestBerth | undefined;
  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('starts berth with an extension object and its config slice, and pushes an image built in memory', async () => {
    berth = await startBerth({ config: { extensions: { recorder: { prefix: 'rec' } } }, extensions: [recorder] });
    const image = await berth.pushImage('kit/app', 'v1');
    const got = await fetch(`${berth.url}/v2/kit/app/manifests/v1`, { headers: { accept: image.mediaType } });
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('docker-content-digest'), image.digest);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), image.manifest);
    let seen: Array<Omit<ManifestStoredEvent, 'bytes' | 'origin'>> = [];
    for (let i = 0; i < 100 && seen.length === 0; i++) {
      seen = (await (await fetch(`${berth.url}/rec/seen`)).json()) as typeof seen;
      if (seen.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(seen, [{ repo: 'kit/app', digest: image.digest, mediaType: image.mediaType, tag: 'v1', writer: 'push' }]);
  });

  it('builds an image that real clients copy and unpack', async () => {
    await ensureTools(['skopeo', 'umoci']);
    assert.ok(berth);
    await berth.pushImage('kit/files', 'latest', { image: buildImage({ files: { 'etc/greeting': 'hi there\n' }, labels: { team: 'a' } }) });
    const work = await tempDir('berth-kit-');
    await skopeoCopy(`${berth.url}/kit/files:latest`, `oci:${join(work, 'layout')}:latest`);
    await run('umoci', ['unpack', '--rootless', '--image', `${join(work, 'layout')}:latest`, join(work, 'bundle')]);
    assert.equal(await readFile(join(work, 'bundle', 'rootfs', 'etc', 'greeting'), 'utf8'), 'hi there\n');
  });

  it('rejects a refused push with its status and OCI error body', async () => {
    assert.ok(berth);
    const image = buildImage({ files: { a: 'never uploaded' } }); // its blobs are not pushed
    await assert.rejects(pushManifest(berth.url, 'kit/app', 'v2', image.mediaType, image.manifest), (err: unknown) => {
      assert.ok(err instanceof PushError);
      assert.equal(err.status, 400);
      assert.equal((JSON.parse(err.body) as { errors: Array<{ code: string }> }).errors[0].code, 'MANIFEST_BLOB_UNKNOWN');
      return true;
    });
  });

  it('refuses an invalid slice naming the key, and removes its temp directory on stop', async () => {
    await assert.rejects(startBerth({ config: { extensions: { recorder: { prefix: 5 } } }, extensions: [recorder] }), /extensions\.recorder\.prefix/);
    const other = await startBerth();
    await other.pushImage('kit/app', 'v1');
    assert.equal(existsSync(other.root), true);
    await other.stop();
    assert.equal(existsSync(join(other.root, '..')), false);
  });
});
