// The first start after an upgrade imports `_berth/apikeys.json` and `_berth/access-times.json` (written here
// exactly as the earlier writers wrote them) into a real SQLite MetaStore, renames them `.migrated`, never
// imports twice, and imports again to the same result when a crash came before the rename.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { importLegacyFiles } from '../../core/metastore/legacy-import';
import type { ApiKeyRecord, MetaStore } from '../../core/metastore/meta-store';
import { AccessTimes } from '../../core/registry/access-times';
import { createSqliteMetaStore } from '../../storage-drivers/metadata/sqlite';

const silent = pino({ level: 'silent' });
const key = (uuid: string, user: string, hash: string): ApiKeyRecord => ({
  uuid, user, groups: ['dev'], hash, label: uuid, scopes: [], createdAt: '2026-01-01T00:00:00.000Z', expirationDate: null, creatorUa: 'curl/8',
});
const SINCE = Date.parse('2026-01-01T00:00:00Z');

/** An old root: the two files as the earlier ApiKeyStore (pretty JSON) and AccessTimes (compact JSON) wrote them. */
async function oldRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'berth-legacy-'));
  await mkdir(join(root, '_berth'), { mode: 0o700 });
  await writeFile(join(root, '_berth', 'apikeys.json'), JSON.stringify({ keys: [key('k1', 'alice', 'aa'), key('k2', 'bob', 'bb')] }, null, 2));
  await writeFile(join(root, '_berth', 'access-times.json'), JSON.stringify({
    since: SINCE,
    pulled: { 'sha256:aaa': SINCE + 1000, 'sha256:bbb': SINCE + 2000 },
    pushed: { 'team/app@sha256:aaa': SINCE + 500 },
  }));
  return root;
}

describe('import of the _berth/*.json records', () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });
  async function open(root: string): Promise<MetaStore> {
    const meta = createSqliteMetaStore({ rootDirectory: root });
    cleanup.push(() => meta.close(), () => rm(root, { recursive: true, force: true }));
    return meta;
  }

  it('imports both files, renames them .migrated, and a second start imports nothing', async () => {
    const root = await oldRoot();
    const meta = await open(root);
    await importLegacyFiles(root, meta, silent);
    assert.deepEqual(await meta.apiKeys.getByHash('aa'), key('k1', 'alice', 'aa'));
    assert.deepEqual((await meta.apiKeys.listByUser('bob')).map((k) => k.uuid), ['k2']);
    assert.equal(await meta.accessTimes.get('pulled', 'sha256:bbb'), SINCE + 2000);
    assert.equal(await meta.accessTimes.get('pushed', 'team/app@sha256:aaa'), SINCE + 500);
    for (const f of ['apikeys.json', 'access-times.json']) {
      assert.ok(!existsSync(join(root, '_berth', f)), `${f} renamed`);
      assert.ok(existsSync(join(root, '_berth', `${f}.migrated`)), `${f}.migrated kept`);
    }
    const times = await AccessTimes.open(meta, silent);
    assert.equal(times.since, SINCE, 'the record keeps its start: content never pulled counts from the old record\'s creation');
    assert.equal((await times.pulledAt(['sha256:never'])).get('sha256:never'), SINCE);

    // Revoked after the upgrade: a later start must not bring it back from the .migrated file.
    assert.equal(await meta.apiKeys.delete('bob', 'k2'), true);
    await importLegacyFiles(root, meta, silent);
    assert.equal(await meta.apiKeys.getByHash('bb'), undefined, 'never imported twice');
  });

  it('a crash before the rename imports again to the same result', async () => {
    const root = await oldRoot();
    const meta = await open(root);
    await copyFile(join(root, '_berth', 'apikeys.json'), join(root, 'keys.copy'));
    await copyFile(join(root, '_berth', 'access-times.json'), join(root, 'times.copy'));
    await importLegacyFiles(root, meta, silent);
    await meta.accessTimes.record('pulled', [{ subject: 'sha256:aaa', at: SINCE + 9000 }]); // pulled since the upgrade
    // As if the process died after importing and before renaming.
    await copyFile(join(root, 'keys.copy'), join(root, '_berth', 'apikeys.json'));
    await copyFile(join(root, 'times.copy'), join(root, '_berth', 'access-times.json'));
    await importLegacyFiles(root, meta, silent);
    assert.deepEqual((await meta.apiKeys.listByUser('alice')).map((k) => k.uuid), ['k1'], 'no duplicate key');
    assert.equal(await meta.accessTimes.get('pulled', 'sha256:aaa'), SINCE + 9000, 'a newer time is not moved back');
    assert.equal((await meta.accessTimes.page('pulled', { limit: 10 })).length, 2);
    assert.ok(!existsSync(join(root, '_berth', 'apikeys.json')));
  });

  it('a damaged key file stops start-up naming it and stays; damaged access times are skipped and stay', async () => {
    const root = await oldRoot();
    const meta = await open(root);
    await writeFile(join(root, '_berth', 'apikeys.json'), '{"keys": [');
    await assert.rejects(importLegacyFiles(root, meta, silent), /apikeys\.json: cannot import into the metadata store: not JSON/);
    assert.equal(await readFile(join(root, '_berth', 'apikeys.json'), 'utf8'), '{"keys": [');
    await writeFile(join(root, '_berth', 'apikeys.json'), JSON.stringify({ keys: [] }));
    await writeFile(join(root, '_berth', 'access-times.json'), 'garbage');
    await importLegacyFiles(root, meta, silent);
    assert.equal(await readFile(join(root, '_berth', 'access-times.json'), 'utf8'), 'garbage', 'left in place');
    assert.equal(await meta.accessTimes.get('pulled', 'sha256:aaa'), undefined, 'nothing imported from it');
  });
});
