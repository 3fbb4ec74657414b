// Live reload of http.auth and http.accessControl: a config replaced by a rename is picked up, an invalid one
// is ignored (the running config stays and keeps serving), and the CLI reloads instead of exiting on SIGHUP.
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createApp, type BerthApp } from '../../core/app';
import { loadConfigFile } from '../../core/config/load';
import { basicAuth, OCI_MANIFEST, seedArtifact, writeHtpasswd } from '../helpers/auth.js';
import { spawnBerth } from '../helpers/berth-process.js';
import { cleanupTempDirs, sleep, tempDir } from '../helpers/tools.js';

/** Writes `config` the way config management does: a temp file renamed over the old one. */
async function replaceConfig(file: string, config: unknown): Promise<void> {
  await writeFile(`${file}.tmp`, JSON.stringify(config));
  await rename(`${file}.tmp`, file);
}

async function until(probe: () => Promise<number>, want: number): Promise<number> {
  let got = 0;
  for (let i = 0; i < 80 && got !== want; i++) {
    got = await probe();
    if (got !== want) await sleep(50);
  }
  return got;
}

describe('config live reload', () => {
  let dir: string;
  let app: BerthApp;
  let url: string;
  let file: string;
  let manifest: Buffer;
  const base = (dir: string, htpasswd: string, actions: string[]) => ({
    storage: { rootDirectory: join(dir, 'root') },
    http: {
      address: '127.0.0.1', port: '0',
      auth: { htpasswd: { path: htpasswd } },
      accessControl: { repositories: { 'team/**': { policies: [{ users: ['alice'], actions }] } } },
    },
    log: { level: 'info', output: join(dir, 'berth.log') },
  });

  before(async () => {
    dir = await tempDir('reload');
    await writeHtpasswd(join(dir, 'users-a'), [{ user: 'alice', password: 'alicepw' }]);
    await writeHtpasswd(join(dir, 'users-b'), [{ user: 'alice', password: 'alicepw' }, { user: 'bob', password: 'bobpw' }]);
    file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify(base(dir, join(dir, 'users-a'), ['read'])));
    app = await createApp(await loadConfigFile(file), { configFile: file });
    url = (await app.listen()).url;
    manifest = await seedArtifact(app.registry, 'team/app', 'v1');
  });
  after(async () => {
    await app?.close(1000);
    await cleanupTempDirs();
  });

  const push = async (user: string, password: string, tag: string) => {
    const res = await fetch(`${url}/v2/team/app/manifests/${tag}`, { method: 'PUT', headers: { ...basicAuth(user, password), 'content-type': OCI_MANIFEST }, body: manifest });
    await res.arrayBuffer();
    return res.status;
  };

  it('applies new policies and users from a config replaced by a rename', async () => {
    assert.equal(await push('alice', 'alicepw', 'a1'), 403);
    await replaceConfig(file, base(dir, join(dir, 'users-b'), ['read', 'create']));
    assert.equal(await until(() => push('alice', 'alicepw', 'a2'), 201), 201);
    assert.equal(await push('bob', 'bobpw', 'b1'), 403); // bob now logs in (users-b), but has no policy
  });

  it('keeps the running config when the new one is invalid, and says so', async () => {
    await replaceConfig(file, { ...base(dir, join(dir, 'users-a'), ['read']), http: { port: '0', auth: { htpasswd: { path: join(dir, 'users-a') }, bogus: true } } });
    assert.equal(await app.reload(), false);
    await replaceConfig(file, base(dir, join(dir, 'missing-htpasswd'), ['read']));
    assert.equal(await app.reload(), false);
    assert.equal(await push('alice', 'alicepw', 'a3'), 201); // still the previous policy
    assert.equal(await push('bob', 'bobpw', 'b2'), 403); // and the previous users
    await replaceConfig(file, base(dir, join(dir, 'users-a'), ['read']));
    assert.equal(await app.reload(), true);
    assert.equal(await push('alice', 'alicepw', 'a4'), 403);
    assert.equal(await push('bob', 'bobpw', 'b3'), 401);
  });

  it('reloads on file change in the CLI process and survives SIGHUP (Zot exits)', async () => {
    const proc = await spawnBerth({});
    try {
      assert.equal((await fetch(`${proc.url}/v2/`)).status, 200);
      const config = { ...base(dir, join(dir, 'users-a'), ['read']), storage: { rootDirectory: proc.root } };
      config.http = { ...config.http, port: proc.host.split(':')[1]! };
      config.log = { level: 'info', output: proc.logFile };
      await replaceConfig(proc.configFile, config);
      assert.equal(await until(async () => (await fetch(`${proc.url}/v2/`)).status, 401), 401);
      process.kill(proc.daemon.pid, 'SIGHUP');
      await sleep(300);
      const res = await fetch(`${proc.url}/v2/`, { headers: basicAuth('alice', 'alicepw') });
      assert.equal(res.status, 200);
    } finally {
      await proc.stop();
    }
  });
});
