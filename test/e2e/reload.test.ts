// Live reload of every section berth classes as reloadable, proven by what clients see next: sync switched to
// another upstream (written in place and by rename), retention policies and gcInterval, accessControl; a reload
// with any invalid part applies none of it.
import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createApp, type BerthApp } from '../../core/app';
import { loadConfigFile } from '../../core/config/load';
import { startDockerRegistry, type DockerRegistry, accessLogEntries, logOffset } from '../helpers/docker-registry.js';
import { buildOciImage } from '../helpers/images.js';
import { skopeoCopy, skopeoListTags } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, sleep, tempDir } from '../helpers/tools.js';
import { writeHtpasswd } from '../helpers/auth.js';

type Json = Record<string, unknown>;

const writeInPlace = (file: string, config: Json) => writeFile(file, JSON.stringify(config));
/** The way config management writes: a temp file renamed over the old one. */
async function writeByRename(file: string, config: Json): Promise<void> {
  await writeFile(`${file}.tmp`, JSON.stringify(config));
  await rename(`${file}.tmp`, file);
}

async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(100);
  }
}

describe('config reload applies every reloadable section', () => {
  let upA: DockerRegistry;
  let upB: DockerRegistry;
  let dir: string;
  let file: string;
  let app: BerthApp;
  let url: string;
  const digests: Record<string, string> = {};

  const config = (over: { urls?: string[]; retention?: Json; gcInterval?: string; anonymous?: string[]; htpasswd?: string } = {}): Json => ({
    storage: { rootDirectory: join(dir, 'root'), gcInterval: over.gcInterval ?? '1h', ...(over.retention ? { retention: over.retention } : {}) },
    http: {
      address: '127.0.0.1',
      port: '0',
      auth: { htpasswd: { path: over.htpasswd ?? join(dir, 'htpasswd') } },
      accessControl: {
        repositories: {
          'lib/**': { anonymousPolicy: ['read'] },
          'apps/**': { anonymousPolicy: over.anonymous ?? ['read', 'create', 'update', 'delete'] },
        },
      },
    },
    log: { level: 'info', output: join(dir, 'berth.log') },
    extensions: { sync: { registries: [{ urls: over.urls ?? [upA.url], onDemand: true }] } },
  });

  const manifestDigest = async (repo: string, ref: string) => {
    const res = await fetch(`${url}/v2/${repo}/manifests/${ref}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    await res.arrayBuffer();
    return res.status === 200 ? res.headers.get('docker-content-digest') : `status ${res.status}`;
  };

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'docker-registry', 'htpasswd']);
    dir = await tempDir('reload-e2e');
    await writeHtpasswd(join(dir, 'htpasswd'), [{ user: 'admin', password: 'adminpw' }]);
    [upA, upB] = await Promise.all([startDockerRegistry(), startDockerRegistry()]);
    for (const [name, up] of [['a', upA], ['b', upB]] as const) {
      const image = await buildOciImage(join(dir, `img-${name}`), { tag: 'v1', layers: [{ files: { '/etc/who': `upstream ${name}\n` } }] });
      await skopeoCopy(image.ref, `${up.url}/lib/app:v1`);
      await skopeoCopy(image.ref, `${up.url}/lib/${name}-only:v1`);
      await skopeoCopy(image.ref, `${up.url}/lib/${name}-late:v1`); // asked for only in the last test
      digests[name] = image.descriptor.digest;
    }
    file = join(dir, 'config.json');
    await writeInPlace(file, config());
    app = await createApp(await loadConfigFile(file), { configFile: file });
    url = (await app.listen()).url;
  });

  after(async () => {
    await app?.close(1000);
    await Promise.all([upA?.stop(), upB?.stop()]);
    await cleanupTempDirs();
  });

  it('switches sync to another upstream when the file is written in place, and back when it is renamed over', async () => {
    assert.equal(await manifestDigest('lib/app', 'v1'), digests.a);
    assert.equal(await manifestDigest('lib/b-only', 'v1'), 'status 404');

    await writeInPlace(file, config({ urls: [upB.url] }));
    // The cached tag is revalidated against the new upstream, and content only B has is found.
    assert.equal(await eventually(() => manifestDigest('lib/app', 'v1'), (d) => d === digests.b), digests.b);
    const fromA = await logOffset(upA.logFile);
    assert.equal(await manifestDigest('lib/b-only', 'v1'), digests.b);
    assert.equal(await manifestDigest('lib/app', 'v1'), digests.b);
    assert.deepEqual((await accessLogEntries(upA.logFile, fromA)).filter((e) => e.userAgent === 'berth-sync'), [], 'the old upstream is not asked');

    await writeByRename(file, config({ urls: [upA.url] }));
    assert.equal(await eventually(() => manifestDigest('lib/app', 'v1'), (d) => d === digests.a), digests.a);
  });

  it('applies new retention policies and gcInterval', async () => {
    for (const tag of ['keep-1', 'drop-1', 'drop-2']) await skopeoCopy(`${upA.url}/lib/app:v1`, `${url}/apps/web:${tag}`);
    assert.deepEqual((await skopeoListTags(`${url}/apps/web`)).sort(), ['drop-1', 'drop-2', 'keep-1']);
    await writeByRename(file, config({ gcInterval: '1s', retention: { policies: [{ repositories: ['apps/**'], keepTags: [{ patterns: ['^keep-'] }] }] } }));
    const tags = await eventually(async () => (await skopeoListTags(`${url}/apps/web`)).sort(), (t) => t.join() === 'keep-1');
    assert.deepEqual(tags, ['keep-1']);
  });

  it('applies new accessControl policies', async () => {
    const anonymousPush = async (tag: string) => {
      const body = Buffer.from('{}');
      const res = await fetch(`${url}/v2/apps/web/blobs/uploads/?digest=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a`, { method: 'POST', body });
      await res.arrayBuffer();
      return `${tag}:${res.status}`;
    };
    assert.equal(await anonymousPush('before'), 'before:201');
    await writeInPlace(file, config({ gcInterval: '1s', anonymous: ['read'] }));
    assert.equal(await eventually(() => anonymousPush('after'), (s) => s === 'after:401'), 'after:401');
  });

  it('names the changed keys that need a restart, and applies the rest', async () => {
    const next = config({ gcInterval: '1s', anonymous: ['read'] });
    (next.http as Json).port = '5999';
    (next.http as Json).realm = 'changed';
    await writeInPlace(file, next);
    assert.equal(await app.reload(), true);
    const text = await eventually(async () => readFile(join(dir, 'berth.log'), 'utf8'), (t) => t.includes('take effect after a restart'));
    const line = text.split('\n').filter((l) => l.includes('take effect after a restart')).map((l) => JSON.parse(l) as { level: number; keys: string[] }).pop();
    assert.equal(line?.level, 40);
    assert.deepEqual(line?.keys.sort(), ['http.port', 'http.realm']);
    assert.equal((await fetch(`${url}/v2/`)).status, 200, 'still serving on the old port');
  });

  it('applies nothing once the app is closing or closed', async () => {
    const other = join(dir, 'closing.json');
    await writeInPlace(other, { ...config(), storage: { rootDirectory: join(dir, 'root-closing') }, log: { level: 'info', output: join(dir, 'closing.log') } });
    const closing = await createApp(await loadConfigFile(other), { configFile: other });
    await closing.listen();
    await writeInPlace(other, { ...config({ urls: [upB.url] }), storage: { rootDirectory: join(dir, 'root-closing') }, log: { level: 'info', output: join(dir, 'closing.log') } });
    const during = closing.reload(); // under way while the app closes
    await closing.close(500);
    await during;
    assert.equal(await closing.reload(), false);
    await sleep(200);
    const log = await readFile(join(dir, 'closing.log'), 'utf8');
    const after = log.slice(log.indexOf('"msg":"stopped"'));
    assert.doesNotMatch(after, /extension reloaded|config reloaded/, 'nothing came back to life after stop');
  });

  it('applies nothing of a reload in which one part is invalid', async () => {
    // sync would switch to B, but the htpasswd file does not exist: the whole reload is refused.
    await writeInPlace(file, config({ urls: [upB.url], anonymous: ['read'], htpasswd: join(dir, 'missing') }));
    assert.equal(await app.reload(), false);
    const fromB = await logOffset(upB.logFile);
    assert.equal(await manifestDigest('lib/app', 'v1'), digests.a);
    assert.equal(await manifestDigest('lib/b-late', 'v1'), 'status 404');
    assert.deepEqual((await accessLogEntries(upB.logFile, fromB)).filter((e) => e.userAgent === 'berth-sync'), []);
  });
});
