import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BUILD, BUILT_FEATURES } from '../../core/builtins';
import { thirdPartyExtensions } from '../../core/config/extensions-schema';
import { loadConfigFile, parseConfig } from '../../core/config/load';
import { describeConfig, startupRefusals, type Build } from '../../core/config/summary';
import { configuredButUnbuilt, FEATURE_IDS, inactiveKeys } from '../../core/config/unbuilt-features';

const examples = path.resolve(__dirname, '../../../examples/zot');
const build: Build = BUILD;
const everything: Build = { features: new Set(FEATURE_IDS), storageDrivers: new Set(['filesystem', 's3', 'gcs', 'azure']), metaStores: new Set(['sqlite', 'redis', 'dynamodb']) };

describe('configuredButUnbuilt', () => {
  it('lists configured, enabled sections whose feature is not built', async () => {
    const c = await loadConfigFile(path.join(examples, 'ldap-htpasswd-acl.json'));
    const auth = ['http.auth.htpasswd', 'http.auth.ldap', 'http.accessControl', 'http.accessControl.metrics'];
    assert.deepEqual(configuredButUnbuilt(c, new Set()).filter((k) => k.startsWith('http.')), auth);
    assert.deepEqual(configuredButUnbuilt(c, new Set([...FEATURE_IDS].filter((id) => id !== 'http.auth.ldap'))), ['http.auth.ldap']);
  });

  it('names the exact key, skips disabled extensions and keys Zot ignores', () => {
    const c = parseConfig({
      storage: {
        rootDirectory: '/x',
        dedupe: false,
        gc: false,
        remoteCache: false,
        cacheDriver: { name: 'redis' }, // ignored without remoteCache, as in Zot
        retention: { policies: [{ repositories: ['**'] }, { repositories: ['a/**'], deleteReferrers: true }] },
        subPaths: { '/a': { rootDirectory: '/y', storageDriver: { name: 's3', bucket: 'b', region: 'r' } } },
      },
      http: {
        accessControl: {
          repositories: { '**': { policies: [{ users: ['u'], actions: ['read', 'detectManifestCollision'], conditions: [{ expression: 'true' }] }] } },
        },
        auth: { htpasswd: { path: '/h' } },
      },
      extensions: {
        search: { enable: false },
        lint: {}, // lint needs enable: true
        metrics: {},
        sync: { downloadDir: '/tmp/dl', registries: [{ urls: ['https://r'], reqPerSec: 2, credentialHelper: 'ecr', disableHTTP2: true }] },
        other: { module: './ext.js' },
      },
      cluster: { members: ['a:1'], hashKey: 'loremipsumdolors' },
      scheduler: { numWorkers: 2 },
    });
    assert.deepEqual(configuredButUnbuilt(c, BUILT_FEATURES), [
      'storage.retention.policies[1].deleteReferrers',
      'http.accessControl.repositories["**"].policies[0].conditions',
      'http.accessControl.repositories["**"].policies[0].actions[1]',
      'extensions.sync.downloadDir',
      'extensions.sync.registries[0].reqPerSec',
      'extensions.sync.registries[0].credentialHelper',
      'scheduler.numWorkers',
    ]);
    assert.deepEqual(configuredButUnbuilt(c, new Set(FEATURE_IDS)), []);
  });

  it('names a subPaths store\'s own keys where it sets them', () => {
    const c = parseConfig({
      storage: {
        rootDirectory: '/x', dedupe: false, gc: false,
        subPaths: { '/a': { rootDirectory: '/y', gc: true, gcDelay: '1h', gcTimeWindow: '01:00-02:00', redirectBlobURL: true }, '/b': { rootDirectory: '/z' } },
      },
    });
    assert.deepEqual(configuredButUnbuilt(c, new Set()).filter((k) => k.startsWith('storage.')), [
      'storage.subPaths["/a"].gc',
      'storage.subPaths["/a"].gcTimeWindow',
      'storage.subPaths["/a"].redirectBlobURL',
      'storage.subPaths',
    ]);
    // An s3 store presigns: its redirectBlobURL is active, whatever the build's feature set.
    const s3 = parseConfig({ storage: { rootDirectory: '/x', remoteCache: false, redirectBlobURL: true, storageDriver: { name: 's3', bucket: 'b', region: 'r' } } });
    assert.ok(!configuredButUnbuilt(s3, new Set()).includes('storage.redirectBlobURL'));
  });

  it('Zot defaults that berth does not run are reported, not only written keys', () => {
    const c = parseConfig({ storage: { rootDirectory: '/x' } });
    // Zot's defaults turn gc and dedupe on: a build without one reports it though the config does not write it.
    assert.deepEqual(configuredButUnbuilt(c, new Set([...BUILT_FEATURES].filter((f) => f !== 'storage.gc'))), ['storage.gc']);
    assert.deepEqual(configuredButUnbuilt(c, BUILT_FEATURES), []);
  });

  it('marks which inactive features refuse to start', () => {
    const c = parseConfig({ storage: { rootDirectory: '/x' }, http: { auth: { openid: { providers: { github: { clientid: 'i', clientsecret: 's', scopes: ['read:org'] } } } } } });
    const refusing = inactiveKeys(c, BUILT_FEATURES).filter((k) => k.refuses).map((k) => k.key);
    assert.deepEqual(refusing, ['http.auth.openid']);
    assert.deepEqual(startupRefusals(c, build), ['http.auth.openid: accepted, not active in this build; berth refuses to serve without the access control you configured']);
  });

  it('keeps third-party extensions at extensions.<name> with their keys untouched', () => {
    const c = parseConfig({ storage: { rootDirectory: '/x' }, extensions: { quota: { Module: '@acme/berth-quota', MaxRepos: 5 } } });
    assert.deepEqual(c.extensions?.['quota'], { module: '@acme/berth-quota', MaxRepos: 5 });
    assert.deepEqual(thirdPartyExtensions(c.extensions), [{ name: 'quota', config: { module: '@acme/berth-quota', MaxRepos: 5 } }]);
  });
});

describe('describeConfig', () => {
  it('says what would run, each inactive key on its own line', async () => {
    const lines = describeConfig(await loadConfigFile(path.join(examples, 'ldap-htpasswd-acl.json')), build);
    assert.ok(lines.includes('listen: 0.0.0.0:8443 over HTTPS'), lines.join('\n'));
    assert.ok(lines.includes('storage: /srv/zot (local filesystem)'));
    assert.ok(lines.includes('  dedupe on'), lines.join('\n'));
    assert.ok(lines.includes('  gc every 1h (blobs older than 1h)'), lines.join('\n'));
    assert.ok(!lines.some((l) => /^\s*storage\.(gc|dedupe):/.test(l)), lines.join('\n'));
    assert.ok(lines.includes('log: level info to /var/log/zot/zot.log, audit to /var/log/zot/zot-audit.log'));
    assert.ok(lines.some((l) => l.startsWith('authentication: htpasswd (/etc/zot/htpasswd), ldap (ldaps://ldap.example.org:636')));
    assert.ok(lines.some((l) => l.startsWith('access control: 3 repository rule(s), admin policy')));
  });

  it('describes built features as running when the build has them', async () => {
    const lines = describeConfig(await loadConfigFile(path.join(examples, 'ldap-htpasswd-acl.json')), everything);
    assert.ok(lines.includes('  dedupe on'), lines.join('\n'));
    assert.ok(lines.includes('  gc every 1h (blobs older than 1h)'));
    assert.ok(!lines.some((l) => l.includes('not active')));
  });

  it('describes each subPaths store with its root and its own settings, and a route that never matches', () => {
    const c = parseConfig({
      storage: {
        rootDirectory: '/x', fastRestart: true,
        subPaths: { '/a': { rootDirectory: '/y', gc: true, gcDelay: '2h', maxRepos: 5 }, '/x/y': { rootDirectory: '/z' } },
      },
    });
    const lines = describeConfig(c, everything);
    const at = lines.indexOf('  subPaths "/a": repositories a/… from /y (local filesystem)');
    assert.ok(at > 0, lines.join('\n'));
    assert.deepEqual(lines.slice(at + 1, at + 3), ['    gc every 1h (blobs older than 2h)', '    at most 5 repositories']);
    assert.ok(lines.includes('  subPaths "/x/y": never matches a repository name (a route is "/" and one name segment); not served'));
    assert.ok(lines.includes('  fastRestart: the start-up walk is skipped while version and storage config stay the same'));
  });

  it('names unbuilt extensions (and search\'s CVE scanning) as not active instead of listing them as running', async () => {
    const c = await loadConfigFile(path.join(examples, 'metrics-search-scrub-lint.json'));
    const lines = describeConfig(c, build);
    assert.ok(lines.includes('extensions: search; metrics at /metrics; scrub every 24h; lint (2 mandatory annotation(s))'), lines.join('\n'));
    for (const name of ['search.cve', 'ui']) {
      assert.ok(lines.some((l) => l.startsWith(`  extensions.${name}: accepted, not active in this build`)), name);
    }
    assert.equal(describeConfig(c, everything).find((l) => l.startsWith('extensions:')),
      'extensions: search with CVE scanning every 2h; metrics at /metrics; scrub every 24h; lint (2 mandatory annotation(s)); ui');
  });

  it('s3 with a redis cache runs; a store or cache not built is said on its line and refused', async () => {
    const c = await loadConfigFile(path.join(examples, 's3-redis.json'));
    const lines = describeConfig(c, build).join('\n');
    assert.match(lines, /storage: \/var\/lib\/zot \(s3 zot-storage prefix \/zot\)/);
    assert.match(lines, /cache and metadata: redis \(remote\)\n/, 'the redis MetaStore is built in');
    assert.deepEqual(startupRefusals(c, build), []);
    const noRedis: Build = { ...build, metaStores: new Set(['sqlite']) };
    assert.match(describeConfig(c, noRedis).join('\n'), /cache and metadata: redis \(remote\): not available in this build/);
    assert.deepEqual(startupRefusals(c, noRedis), [
      'storage.cacheDriver: the "redis" metadata store is not available in this build; berth refuses to start rather than keep shared state on this node only',
    ]);
    const gcs = parseConfig({ storage: { rootDirectory: '/x', remoteCache: false, storageDriver: { name: 'gcs', bucket: 'b' } } });
    assert.match(describeConfig(gcs, build).join('\n'), /storage: \/x \(gcs b prefix \/zot: driver not available in this build\)/);
    assert.deepEqual(startupRefusals(gcs, build), ['storage.storageDriver.name: "gcs" is not available in this build; berth refuses to serve from the local disk instead']);
    assert.match(describeConfig(c, everything).join('\n'), /cache and metadata: redis \(remote\)\n/);
  });

  it('never prints secrets', async () => {
    for (const b of [build, everything]) {
      const lines = describeConfig(await loadConfigFile(path.join(examples, 's3-redis.json')), b).join('\n');
      for (const secret of ['example-secret-key', 'AKIAEXAMPLE', 'example-password']) assert.ok(!lines.includes(secret), secret);
    }
  });

  it('a driver kind that is not built in is left to start-up when third-party modules are loaded', () => {
    const c = parseConfig({ storage: { rootDirectory: '/x', storageDriver: { name: 'localdisk' }, remoteCache: false }, extensions: { localdisk: { module: './driver.js' } } });
    assert.deepEqual(startupRefusals(c, build), []);
    assert.match(describeConfig(c, build).join('\n'), /\(localdisk: not built in; a third-party extension must register it\)/);
  });
});
