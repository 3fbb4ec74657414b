import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../core/config/config-error';
import { parseConfig } from '../../core/config/load';

const s3 = { name: 's3', bucket: 'b', region: 'us-east-2' };

function issuesOf(raw: unknown): string[] {
  try {
    parseConfig(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues;
  }
  return [];
}

function assertFatal(raw: unknown, expected: RegExp): void {
  const issues = issuesOf(raw);
  assert.ok(issues.some((i) => expected.test(i)), `no issue ${String(expected)} in:\n${issues.join('\n') || '(accepted)'}`);
}

describe("Zot's fatal combinations", () => {
  it('cloud storage + dedupe + remoteCache without cacheDriver (remoteCache defaults on)', () => {
    assertFatal({ storage: { rootDirectory: '/x', storageDriver: s3 } }, /^storage\.cacheDriver: required/);
    assertFatal({ storage: { rootDirectory: '/x', subPaths: { '/a': { rootDirectory: '/y', dedupe: true, storageDriver: s3 } } } }, /^storage\.subPaths\["\/a"\]\.cacheDriver: required/);
    // remoteCache:false or dedupe:false makes it valid.
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x', storageDriver: s3, remoteCache: false } }), []);
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x', storageDriver: s3, dedupe: false } }), []);
  });

  it('remote cache driver rules', () => {
    assertFatal({ storage: { rootDirectory: '/x', remoteCache: true, cacheDriver: { name: 'dynamodb' } } }, /^storage\.cacheDriver\.name: unsupported cache driver "dynamodb": local storage/);
    assertFatal({ storage: { rootDirectory: '/x', storageDriver: s3, cacheDriver: { name: 'boltdb' } } }, /^storage\.cacheDriver\.name: unsupported cache driver "boltdb"/);
    // A cacheDriver with remoteCache off is ignored by Zot (warning), not fatal.
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x', remoteCache: false, cacheDriver: { name: 'whatever' } } }), []);
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x', remoteCache: true, cacheDriver: { name: 'redis', url: 'redis://r:6379' } } }), []);
  });

  it('storageDriver checks', () => {
    assertFatal({ storage: { rootDirectory: '/x', storageDriver: { name: 's3', region: 'r' }, remoteCache: false } }, /^storage\.storageDriver\.bucket: required/);
    assertFatal({ storage: { rootDirectory: '/x', storageDriver: { name: 's3', bucket: 'b' }, remoteCache: false } }, /^storage\.storageDriver\.region: required/);
    // berth's own S3 timeouts are checked with the config, so `berth verify` refuses what serve would.
    assertFatal({ storage: { rootDirectory: '/x', storageDriver: { name: 's3', bucket: 'b', region: 'r', responsetimeout: 'soon' }, remoteCache: false } }, /^storage\.storageDriver\.responsetimeout: invalid duration/);
    assertFatal({ storage: { rootDirectory: '/x', storageDriver: { name: 's3', bucket: 'b', region: 'r', connecttimeout: '0s' }, remoteCache: false } }, /^storage\.storageDriver\.connecttimeout: must be more than 0/);
  });

  it('gc and subPaths rules', () => {
    assertFatal({ storage: { rootDirectory: '/x', gcDelay: '-1h' } }, /^storage\.gcDelay: must not be negative/);
    assertFatal({ storage: { rootDirectory: '/x', subPaths: { '/a': { rootDirectory: '/y', gc: true, gcDelay: '0' } } } }, /^storage\.subPaths\["\/a"\]\.gcDelay: must be positive/);
    assertFatal({ storage: { rootDirectory: '/x', subPaths: { '/a': { rootDirectory: '/x' } } } }, /^storage\.subPaths\["\/a"\]\.rootDirectory: same root directory/);
    assertFatal({ storage: { rootDirectory: '/x', subPaths: { '/a': { rootDirectory: '/x/a' } } } }, /^storage\.subPaths\["\/a"\]\.rootDirectory: root directory is inside/);
    // Zot: two routes may share a root (one image store) only with equal gc, dedupe, gcDelay, gcInterval.
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x', subPaths: { '/a': { rootDirectory: '/y' }, '/b': { rootDirectory: '/y' } } } }), []);
    assertFatal({ storage: { rootDirectory: '/x', subPaths: { '/a': { rootDirectory: '/y' }, '/b': { rootDirectory: '/y', dedupe: true } } } }, /^storage\.subPaths\["\/b"\]\.rootDirectory: same root directory as subPaths "\/a" with other gc, dedupe/);
    assertFatal({ storage: { rootDirectory: '/x', subPaths: { '/a': { rootDirectory: '/y' }, '/b': { rootDirectory: '/y/b' } } } }, /^storage\.subPaths\["\/b"\]\.rootDirectory: root directory is inside the root of subPaths "\/a"/);
    assertFatal({ storage: { rootDirectory: '/x', gcTimeWindow: '08:00-08:00' } }, /^storage\.gcTimeWindow: invalid time window/);
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x', gcTimeWindow: '23.30 - 2.15' } }), []);
  });

  it('retention patterns must compile', () => {
    assertFatal({ storage: { rootDirectory: '/x', retention: { policies: [{ repositories: ['infra/[a-'] }] } } }, /^storage\.retention\.policies\[0\]\.repositories\[0\]: invalid glob/);
    assertFatal({ storage: { rootDirectory: '/x', retention: { policies: [{ keepTags: [{ patterns: ['v(1'] }] }] } } }, /^storage\.retention\.policies\[0\]\.keepTags\[0\]\.patterns\[0\]: invalid regex/);
  });

  it('cluster: members non-empty, hashKey exactly 16 bytes', () => {
    assertFatal({ storage: { rootDirectory: '/x' }, cluster: { members: [], hashKey: 'loremipsumdolors' } }, /^cluster\.members: must list at least one member/);
    assertFatal({ storage: { rootDirectory: '/x' }, cluster: { members: ['a:1'], hashKey: 'short' } }, /^cluster\.hashKey: must be exactly 16 characters \(got 5\)/);
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x' }, cluster: { members: ['a:1'], hashKey: 'loremipsumdolors' } }), []);
  });

  it('ldap mandatory keys', () => {
    assertFatal({ storage: { rootDirectory: '/x' }, http: { auth: { ldap: { address: '', baseDN: 'b', userAttribute: 'uid' } } } }, /^http\.auth\.ldap\.address: must not be empty/);
    assertFatal({ storage: { rootDirectory: '/x' }, http: { auth: { ldap: { address: 'h', baseDN: 'b' } } } }, /^http\.auth\.ldap\.userAttribute: required/);
  });

  it('sync rules', () => {
    const reg = { urls: ['https://r'] };
    assertFatal({ storage: { rootDirectory: '/x' }, extensions: { sync: { registries: [{ ...reg, maxRetries: 3 }] } } }, /^extensions\.sync\.registries\[0\]\.retryDelay: required when maxRetries/);
    assertFatal({ storage: { rootDirectory: '/x' }, extensions: { sync: { registries: [{ ...reg, preserveDigest: true }] } } }, /^extensions\.sync\.registries\[0\]\.preserveDigest: needs http\.compat/);
    // Zot's downloadDir rule with cloud storage does not apply: the spool is local whatever the store.
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x', storageDriver: s3, remoteCache: false }, extensions: { sync: { registries: [reg] } } }), []);
    assertFatal({ storage: { rootDirectory: '/x' }, extensions: { sync: { registries: [{ ...reg, content: [{ prefix: 'a', destination: '/', stripPrefix: true }] }] } } }, /^extensions\.sync\.registries\[0\]\.content\[0\]\.stripPrefix/);
    assertFatal({ storage: { rootDirectory: '/x' }, extensions: { sync: { registries: [{ ...reg, content: [{ prefix: 'a', tags: { regex: '(' } }] }] } } }, /content\[0\]\.tags\.regex: regex does not compile/);
  });

  it('extension combinations', () => {
    assertFatal({ storage: { rootDirectory: '/x' }, extensions: { ui: {} } }, /^extensions\.ui\.enable: the ui extension needs the search extension/);
    assertFatal({ storage: { rootDirectory: '/x', storageDriver: s3, remoteCache: false }, extensions: { search: { cve: {} } } }, /^extensions\.search\.cve: CVE scanning does not work/);
  });

  it('access control needs an authentication method unless it is anonymous-only', () => {
    const acl = { repositories: { '**': { defaultPolicy: ['read'] } } };
    assertFatal({ storage: { rootDirectory: '/x' }, http: { accessControl: acl } }, /^http\.accessControl: needs an authentication method/);
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x' }, http: { accessControl: { repositories: { '**': { anonymousPolicy: ['read'] } } } } }), []);
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x' }, http: { auth: { htpasswd: { path: '/h' } }, accessControl: acl } }), []);
  });

  it('auth rules', () => {
    assertFatal({ storage: { rootDirectory: '/x' }, http: { auth: { mtls: {} } } }, /^http\.auth\.mtls: needs http\.tls with cert, key and cacert/);
    assertFatal({ storage: { rootDirectory: '/x' }, http: { auth: { openid: { providers: { google: { scopes: ['openid'] } } } } } }, /^http\.auth\.openid\.providers\.google\.clientid: required/);
    assertFatal({ storage: { rootDirectory: '/x' }, http: { auth: { openid: { providers: { okta: {} } } } } }, /^http\.auth\.openid\.providers\.okta: unknown key/);
    assertFatal({ storage: { rootDirectory: '/x' }, http: { auth: { sessionKeysFile: '/k', sessionDriver: { name: 'redis' } } } }, /^http\.auth\.sessionKeysFile: not supported with the redis sessionDriver/);
  });

  it('applies defaults that depend on other keys', () => {
    const openid = parseConfig({ storage: { rootDirectory: '/x' }, http: { auth: { openid: { providers: { github: { clientid: 'c', scopes: ['read:org'] } } } } } });
    assert.equal(openid.http.auth.apikey, true, 'OpenID forces API keys on');
    const scrub = parseConfig({ storage: { rootDirectory: '/x' }, extensions: { scrub: { interval: '30m' }, search: { cve: { updateInterval: '1h' } } } });
    assert.equal(scrub.extensions?.scrub?.interval, 7_200_000, 'scrub interval raised to the 2h minimum');
    assert.equal(scrub.extensions?.search?.cve?.updateInterval, 7_200_000, 'cve interval raised to the 2h minimum');
    const retention = parseConfig({ storage: { rootDirectory: '/x', gcDelay: '3h', retention: { policies: [{ repositories: ['**'] }] } } });
    assert.equal(retention.storage.retention.delay, 10_800_000);
    assert.equal(retention.storage.retention.policies[0]!.deleteUntagged, true);
  });
});
