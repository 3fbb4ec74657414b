import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadConfigFile } from '../../core/config/load';

const examples = path.resolve(__dirname, '../../../examples/zot');
const load = (name: string) => loadConfigFile(path.join(examples, name));
const HOUR = 3_600_000;

describe('Zot example configs', () => {
  it('minimal.json gets Zot defaults', async () => {
    const c = await load('minimal.json');
    assert.equal(c.distSpecVersion, '1.1.1');
    assert.deepEqual(
      { ...c.storage },
      {
        rootDirectory: '/tmp/zot', dedupe: true, gc: true, gcDelay: HOUR, gcInterval: HOUR,
        retention: { dryRun: false, delay: HOUR, policies: [] }, commit: false, remoteCache: false,
        redirectBlobURL: false, maxRepos: 0, fastRestart: false,
      },
    );
    assert.equal(c.http.address, '127.0.0.1');
    assert.equal(c.http.port, '8080');
    assert.equal(c.http.realm, 'Authorization Required');
    assert.equal(c.http.readTimeout, 60_000);
    assert.deepEqual(c.http.auth, { failDelay: 0, apikey: false });
    assert.deepEqual(c.http.compat, []);
    assert.equal(c.log.level, 'debug');
    assert.equal(c.extensions, undefined);
    assert.equal(c.cluster, undefined);
    assert.equal(c.scheduler, undefined, 'absent unless written');
  });

  it('sync-mirror.json: several registries with defaults filled in', async () => {
    const c = await load('sync-mirror.json');
    const sync = c.extensions?.sync;
    assert.ok(sync);
    assert.equal(sync.enable, true, 'a present sync block is enabled');
    assert.equal(sync.registries.length, 4);
    const [hub, ghcr, k8s, internal] = sync.registries;
    assert.equal(hub!.retryDelay, 5 * 60_000);
    assert.equal(hub!.maxRetryDelay, 5 * 60_000, 'maxRetryDelay defaults to retryDelay');
    assert.equal(hub!.tlsVerify, true);
    assert.equal(hub!.syncTimeout, 3 * HOUR);
    assert.equal(hub!.syncLegacyCosignTags, true);
    assert.equal(hub!.reqConcurrent, 3);
    assert.equal(ghcr!.preserveDigest, true);
    assert.deepEqual(k8s!.urls, ['https://registry.k8s.io', 'https://k8s.gcr.io']);
    assert.equal(k8s!.pollInterval, 6 * HOUR);
    assert.equal(k8s!.onDemand, false);
    assert.equal(k8s!.content?.[0]?.tags?.regex, '^3\\.[0-9]+$');
    assert.equal(internal!.tlsVerify, false);
    assert.equal(internal!.onlySigned, true);
    assert.equal(c.storage.gcInterval, 24 * HOUR);
    assert.deepEqual(c.http.compat, ['docker2s2']);
  });

  it('ldap-htpasswd-acl.json: both auth methods and access control', async () => {
    const c = await load('ldap-htpasswd-acl.json');
    const { auth, accessControl } = c.http;
    assert.equal(auth.htpasswd?.path, '/etc/zot/htpasswd');
    assert.equal(auth.ldap?.port, 636);
    assert.equal(auth.ldap?.insecure, false);
    assert.equal(auth.ldap?.subtreeSearch, true);
    assert.equal(auth.failDelay, 5);
    assert.equal(c.http.realm, 'zot');
    assert.ok(accessControl);
    assert.deepEqual(Object.keys(accessControl.repositories), ['**', 'infra/**', 'public/**']);
    assert.deepEqual(accessControl.repositories['infra/**']!.policies[0]!.groups, ['platform']);
    assert.deepEqual(accessControl.groups['platform']!.users, ['alice', 'bob']);
    assert.deepEqual(accessControl.adminPolicy?.users, ['admin']);
    assert.equal(c.log.audit, '/var/log/zot/zot-audit.log');
  });

  it('s3-redis.json: cloud storage with a redis cache', async () => {
    const c = await load('s3-redis.json');
    const driver = c.storage.storageDriver;
    assert.equal(driver?.name, 's3');
    assert.equal(driver?.bucket, 'zot-storage');
    assert.equal(driver?.secure, false);
    assert.equal(driver?.forcepathstyle, true, 'regionendpoint without forcepathstyle forces it on, as Zot does');
    assert.equal(c.storage.remoteCache, true);
    assert.equal(c.storage.cacheDriver?.name, 'redis');
    assert.equal(c.storage.cacheDriver?.['pool_size'], 10, 'driver-specific keys pass through');
    assert.equal(c.storage.gcInterval, 90 * 60_000);
    assert.equal(c.storage.retention.delay, 2 * HOUR, 'retention.delay follows gcDelay');
    assert.equal(c.extensions?.sync?.downloadDir, '/var/lib/zot/sync-tmp');
  });

  it('metrics-search-scrub-lint.json: extension defaults', async () => {
    const c = await load('metrics-search-scrub-lint.json');
    const ext = c.extensions!;
    assert.deepEqual(ext.metrics, { enable: true, prometheus: { path: '/metrics' } });
    assert.equal(ext.search?.enable, true);
    assert.equal(ext.search?.cve?.updateInterval, 2 * HOUR);
    assert.equal(ext.search?.cve?.trivy.dbRepository, 'ghcr.io/aquasecurity/trivy-db');
    assert.deepEqual(ext.scrub, { enable: true, interval: 24 * HOUR });
    assert.equal(ext.lint?.enable, true);
    assert.equal(ext.lint?.mandatoryAnnotations.length, 2);
    assert.equal(ext.ui?.enable, true);
    // gc:false without gcDelay/gcInterval: both 0, as in Zot.
    assert.equal(c.storage.gc, false);
    assert.equal(c.storage.gcDelay, 0);
    assert.equal(c.storage.gcInterval, 0);
    assert.equal(c.storage.retention.delay, 0);
  });

  it('mixed-case.yaml: YAML with keys in any case', async () => {
    const c = await load('mixed-case.yaml');
    assert.equal(c.distSpecVersion, '1.1.1');
    assert.equal(c.storage.rootDirectory, '/var/lib/registry');
    assert.equal(c.storage.gcDelay, 90_000);
    assert.equal(c.storage.gcInterval, 90 * 60_000);
    const teamA = c.storage.subPaths?.['/team-a'];
    assert.ok(teamA, 'subPaths route keeps its spelling');
    assert.equal(teamA.rootDirectory, '/var/lib/registry-team-a');
    assert.equal(teamA.gc, true);
    assert.equal(teamA.dedupe, false, 'a subPaths store starts from Go zero values');
    assert.equal(teamA.gcDelay, HOUR);
    assert.equal(c.http.port, '5000', 'an unquoted YAML port becomes Zot\'s string port');
    assert.equal(c.http.auth.htpasswd?.path, '/etc/zot/htpasswd');
    assert.equal(c.log.level, 'info');
    assert.equal(c.extensions?.search?.enable, true, 'an empty (null) block is present, hence enabled');
    assert.equal(c.extensions?.metrics?.prometheus.path, '/metrics');
  });
});
