import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { thirdPartyExtensions } from '../../core/config/extensions-schema';
import { loadConfigFile, parseConfig } from '../../core/config/load';
import { describeConfig } from '../../core/config/summary';
import { configuredButUnbuilt, FEATURE_IDS } from '../../core/config/unbuilt-features';

const examples = path.resolve(__dirname, '../../../examples/zot');

describe('configuredButUnbuilt', () => {
  it('lists configured, enabled sections whose feature is not built', async () => {
    const c = await loadConfigFile(path.join(examples, 'ldap-htpasswd-acl.json'));
    assert.deepEqual(configuredButUnbuilt(c, new Set()), ['http.auth.htpasswd', 'http.auth.ldap', 'http.accessControl']);
    assert.deepEqual(configuredButUnbuilt(c, new Set(['http.auth.htpasswd', 'http.accessControl'])), ['http.auth.ldap']);
  });

  it('names the exact key for stores and skips disabled extensions', () => {
    const c = parseConfig({
      storage: {
        rootDirectory: '/x',
        remoteCache: false,
        cacheDriver: { name: 'redis' }, // ignored without remoteCache, as in Zot
        subPaths: { '/a': { rootDirectory: '/y', storageDriver: { name: 's3', bucket: 'b', region: 'r' } } },
      },
      extensions: { search: { enable: false }, lint: {}, metrics: {}, other: { module: './ext.js' } },
      cluster: { members: ['a:1'], hashKey: 'loremipsumdolors' },
    });
    assert.deepEqual(configuredButUnbuilt(c, new Set()), [
      'storage.subPaths["/a"].storageDriver',
      'storage.subPaths',
      'extensions.metrics',
      'cluster',
    ]);
    assert.deepEqual(configuredButUnbuilt(c, new Set(FEATURE_IDS)), []);
  });

  it('keeps third-party extensions at extensions.<name> with their keys untouched', () => {
    const c = parseConfig({ storage: { rootDirectory: '/x' }, extensions: { quota: { Module: '@acme/berth-quota', MaxRepos: 5 } } });
    assert.deepEqual(c.extensions?.['quota'], { module: '@acme/berth-quota', MaxRepos: 5 });
    assert.deepEqual(thirdPartyExtensions(c.extensions), [{ name: 'quota', config: { module: '@acme/berth-quota', MaxRepos: 5 } }]);
  });
});

describe('describeConfig', () => {
  it('says what would run', async () => {
    const lines = describeConfig(await loadConfigFile(path.join(examples, 'ldap-htpasswd-acl.json')));
    assert.ok(lines.includes('listen: 0.0.0.0:8443 over HTTPS'), lines.join('\n'));
    assert.ok(lines.includes('storage: /srv/zot (local filesystem)'));
    assert.ok(lines.includes('  dedupe on, gc every 1h (blobs older than 1h)'));
    assert.ok(lines.includes('log: level info to /var/log/zot/zot.log, audit to /var/log/zot/zot-audit.log'));
    assert.ok(lines.some((l) => l.startsWith('authentication: htpasswd (/etc/zot/htpasswd), ldap (ldaps://ldap.example.org:636')));
    assert.ok(lines.some((l) => l.startsWith('access control: 3 repository rule(s), admin policy')));
  });

  it('lists enabled extensions', async () => {
    const lines = describeConfig(await loadConfigFile(path.join(examples, 'metrics-search-scrub-lint.json')));
    const ext = lines.find((l) => l.startsWith('extensions:'));
    assert.equal(ext, 'extensions: search with CVE scanning every 2h; metrics at /metrics; scrub every 24h; lint (2 mandatory annotation(s)); ui');
  });

  it('never prints secrets', async () => {
    const lines = describeConfig(await loadConfigFile(path.join(examples, 's3-redis.json'))).join('\n');
    for (const secret of ['example-secret-key', 'AKIAEXAMPLE', 'example-password']) assert.ok(!lines.includes(secret), secret);
    assert.match(lines, /storage: \/var\/lib\/zot \(s3 zot-storage prefix \/zot\)/);
    assert.match(lines, /cache and metadata: redis \(remote\)/);
  });
});
