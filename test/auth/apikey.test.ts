// API keys through Zot's routes: created (shown once), listed (never shown again), used as the Basic password
// by skopeo and curl, stored hashed in the MetaStore, kept across a restart, expired and revoked.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basicAuth, writeHtpasswd } from '../helpers/auth.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { buildOciImage } from '../helpers/images.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, run, tempDir } from '../helpers/tools.js';

interface Created { apiKey: string; uuid: string; label: string; scopes: string[]; isExpired: boolean; expirationDate: string; lastUsed: string }

describe('API keys', () => {
  let dir: string;
  let root: string;
  let config: Record<string, unknown>;
  let berth: RunningBerth;

  const create = async (who: [string, string], body: object): Promise<{ status: number; key: Created }> => {
    const res = await fetch(`${berth.url}/zot/auth/apikey`, { method: 'POST', headers: basicAuth(...who), body: JSON.stringify(body) });
    return { status: res.status, key: (await res.json()) as Created };
  };
  const login = async (user: string, password: string, path = '/v2/') => {
    const res = await fetch(`${berth.url}${path}`, { headers: basicAuth(user, password) });
    await res.arrayBuffer();
    return res.status;
  };

  before(async () => {
    await ensureTools(['htpasswd', 'skopeo', 'umoci', 'curl']);
    dir = await tempDir('apikey');
    root = join(dir, 'root');
    const htpasswd = join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }, { user: 'bob', password: 'bobpw' }]);
    config = {
      storage: { rootDirectory: root },
      http: {
        auth: { htpasswd: { path: htpasswd }, apikey: true },
        accessControl: { repositories: { 'alice/**': { policies: [{ users: ['alice'], actions: ['read', 'create', 'update', 'delete'] }] } } },
      },
    };
    berth = await startBerth(config);
  });
  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('creates a key for the logged-in user only', async () => {
    const anonymous = await fetch(`${berth.url}/zot/auth/apikey`, { method: 'POST', body: '{}' });
    assert.equal(anonymous.status, 401);
    const { status, key } = await create(['alice', 'alicepw'], { label: 'ci', scopes: ['alice/app'] });
    assert.equal(status, 201);
    assert.match(key.apiKey, /^zak_[A-Za-z0-9_-]{40,}$/);
    assert.equal(key.label, 'ci');
    assert.deepEqual(key.scopes, ['alice/app']);
    assert.equal(key.isExpired, false);
    const bad = await create(['alice', 'alicepw'], { label: 'x', expirationDate: 'next tuesday' });
    assert.equal(bad.status, 400);
  });

  it('uses the key as the password with curl and skopeo, only for its owner', async () => {
    const { key } = await create(['alice', 'alicepw'], { label: 'skopeo' });
    assert.equal(await login('alice', key.apiKey), 200);
    assert.equal(await login('bob', key.apiKey), 401);
    assert.equal(await login('alice', `${key.apiKey}x`), 401);
    const curl = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-u', `alice:${key.apiKey}`, `${berth.url}/v2/`]);
    assert.equal(curl.stdout, '200');
    const image = await buildOciImage(join(dir, 'img'), { tag: 'v1', layers: [{ files: { '/k': 'key\n' } }] });
    await skopeoCopy(image.ref, `${berth.url}/alice/app:v1`, { creds: `alice:${key.apiKey}` });
    assert.equal(await login('alice', key.apiKey, '/v2/alice/app/manifests/v1'), 200);
  });

  it('lists keys without the key and stores only hashes', async () => {
    const { key } = await create(['alice', 'alicepw'], { label: 'listed' });
    const res = await fetch(`${berth.url}/zot/auth/apikey`, { headers: basicAuth('alice', 'alicepw') });
    const text = await res.text();
    assert.equal(res.status, 200);
    assert.ok(!text.includes(key.apiKey));
    const list = (JSON.parse(text) as { apiKeys: Created[] }).apiKeys;
    assert.ok(list.some((k) => k.uuid === key.uuid && k.label === 'listed'));
    const bobs = (await (await fetch(`${berth.url}/zot/auth/apikey`, { headers: basicAuth('bob', 'bobpw') })).json()) as { apiKeys: Created[] };
    assert.deepEqual(bobs.apiKeys, []);
    // The MetaStore's file and its write-ahead log (where a fresh write may still be) hold the record, not the key.
    const db = join(root, '_berth', 'berth.db');
    const stored = Buffer.concat([await readFile(db), await readFile(`${db}-wal`).catch(() => Buffer.alloc(0))]).toString('latin1');
    assert.ok(!stored.includes(key.apiKey) && !stored.includes(key.apiKey.slice(4)));
    assert.ok(stored.includes(key.uuid));
    assert.ok(!existsSync(join(root, '_berth', 'apikeys.json')), 'no key file any more');
    assert.equal(list.find((k) => k.uuid === key.uuid)?.lastUsed, '0001-01-01T00:00:00Z', 'never used yet');
    assert.equal(await login('alice', key.apiKey), 200);
    const used = (await (await fetch(`${berth.url}/zot/auth/apikey`, { headers: basicAuth('alice', 'alicepw') })).json()) as { apiKeys: Array<{ uuid: string; lastUsed: string }> };
    assert.ok(Date.now() - Date.parse(used.apiKeys.find((k) => k.uuid === key.uuid)!.lastUsed) < 60_000, 'its use is recorded');
  });

  it('refuses expired keys, revokes keys, and keeps keys across a restart', async () => {
    const { key: expired } = await create(['alice', 'alicepw'], { label: 'old', expirationDate: new Date(Date.now() - 60_000).toISOString() });
    assert.equal(await login('alice', expired.apiKey), 401);
    const { key: kept } = await create(['alice', 'alicepw'], { label: 'kept' });
    const { key: revoked } = await create(['alice', 'alicepw'], { label: 'revoked' });
    const notMine = await fetch(`${berth.url}/zot/auth/apikey?id=${revoked.uuid}`, { method: 'DELETE', headers: basicAuth('bob', 'bobpw') });
    assert.equal(notMine.status, 404);
    const del = await fetch(`${berth.url}/zot/auth/apikey?id=${revoked.uuid}`, { method: 'DELETE', headers: basicAuth('alice', 'alicepw') });
    assert.equal(del.status, 200);
    assert.equal(await login('alice', revoked.apiKey), 401);

    await berth.stop();
    berth = await startBerth(config);
    assert.equal(await login('alice', kept.apiKey), 200);
    assert.equal(await login('alice', revoked.apiKey), 401);
  });
});
