// A root an earlier berth wrote (repositories, `_berth/apikeys.json`, `_berth/access-times.json`, no MetaStore
// records of either) served by this berth: the old API key still logs in (curl, skopeo), retention judges by the
// old push times, and the two files are kept as `.migrated`.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeHtpasswd } from '../helpers/auth.js';
import { startBerth, type RunningBerth } from '../helpers/berth.js';
import { eventually } from '../helpers/eventually.js';
import { buildOciImage, type BuiltImage } from '../helpers/images.js';
import { skopeoCopy, skopeoListTags } from '../helpers/skopeo.js';
import { cleanupTempDirs, ensureTools, run, tempDir } from '../helpers/tools.js';

const API_KEY = `zak_${'k'.repeat(43)}`;
const HOUR = 3_600_000;

describe('upgrade from the _berth/*.json records', () => {
  let root: string;
  let htpasswd: string;
  let berth: RunningBerth | undefined;
  const images: BuiltImage[] = [];

  before(async () => {
    await ensureTools(['skopeo', 'umoci', 'curl', 'htpasswd']);
    const work = await tempDir('legacy');
    root = join(work, 'root');
    htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'alice', password: 'alicepw' }]);
    for (const i of [0, 1]) images.push(await buildOciImage(join(work, `img${i}`), { tag: 'x', layers: [{ randomBytes: 20_000 }] }));
    // The repositories, pushed by a berth; then its MetaStore removed, as a root from before the MetaStore has none.
    const first = await startBerth({ storage: { rootDirectory: root } });
    await skopeoCopy(images[0]!.ref, `${first.url}/team/app:fresh`);
    await skopeoCopy(images[1]!.ref, `${first.url}/team/app:old`);
    await first.stop();
    for (const f of ['berth.db', 'berth.db-wal', 'berth.db-shm']) await rm(join(root, '_berth', f), { force: true });

    // The two files exactly as the earlier writers wrote them (ApiKeyStore: pretty JSON; AccessTimes: compact).
    await mkdir(join(root, '_berth'), { recursive: true, mode: 0o700 });
    const now = Date.now();
    await writeFile(join(root, '_berth', 'apikeys.json'), JSON.stringify({
      keys: [{
        uuid: '0b8e7d2c-2f1a-4c5e-9d3b-7a6f5e4d3c2b', user: 'alice', groups: [], hash: createHash('sha256').update(API_KEY).digest('hex'),
        label: 'ci', scopes: [], createdAt: new Date(now - 72 * HOUR).toISOString(), expirationDate: null, creatorUa: 'curl/7.88.1',
      }],
    }, null, 2));
    await writeFile(join(root, '_berth', 'access-times.json'), JSON.stringify({
      since: now - 72 * HOUR,
      pulled: {},
      pushed: { [`team/app@${images[0]!.descriptor.digest}`]: now - 60_000, [`team/app@${images[1]!.descriptor.digest}`]: now - 48 * HOUR },
    }));
  });

  after(async () => {
    await berth?.stop();
    await cleanupTempDirs();
  });

  it('imports both files on the first start: the key logs in, retention sees the old push times', async () => {
    berth = await startBerth({
      storage: { rootDirectory: root, gcInterval: '1s', retention: { delay: '1s', policies: [{ repositories: ['team/**'], keepTags: [{ pushedWithin: '24h' }] }] } },
      http: { auth: { htpasswd: { path: htpasswd }, apikey: true } },
    });
    for (const f of ['apikeys.json', 'access-times.json']) {
      assert.ok(!existsSync(join(root, '_berth', f)), `${f} is renamed`);
      assert.ok(existsSync(join(root, '_berth', `${f}.migrated`)), `${f}.migrated is kept`);
    }
    const curl = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-u', `alice:${API_KEY}`, `${berth.url}/v2/`]);
    assert.equal(curl.stdout, '200');
    const wrong = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-u', `alice:zak_${'x'.repeat(43)}`, `${berth.url}/v2/`]);
    assert.equal(wrong.stdout, '401');
    // "old" was pushed 48 h ago by the imported record (without it, it would count as pushed now and stay).
    await eventually(async () => (await skopeoListTags(`${berth!.url}/team/app`, { creds: `alice:${API_KEY}` })).join() === 'fresh');
    await skopeoCopy(`${berth.url}/team/app:fresh`, `dir:${await tempDir('legacy-pull')}`, { creds: `alice:${API_KEY}` });
  });

  it('a restart imports nothing again and still accepts the key', async () => {
    await berth!.stop();
    berth = await startBerth({ storage: { rootDirectory: root }, http: { auth: { htpasswd: { path: htpasswd }, apikey: true } } });
    const curl = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-u', `alice:${API_KEY}`, `${berth.url}/v2/`]);
    assert.equal(curl.stdout, '200');
    assert.ok(!existsSync(join(root, '_berth', 'apikeys.json')));
  });
});
