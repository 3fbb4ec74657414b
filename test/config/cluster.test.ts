// Zot's `cluster` section: accepted when every member shares storage and metadata (then nothing needs proxying),
// refused naming `cluster` when a member would keep data of its own, and described in the same words by
// `berth verify` (describeConfig) as at start-up.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BUILD } from '../../core/builtins';
import { ConfigError } from '../../core/config/config-error';
import { loadConfigFile, parseConfig } from '../../core/config/load';
import { describeConfig, startupRefusals } from '../../core/config/summary';

const zotExamples = path.resolve(__dirname, '../../../test/fixtures/zot-examples');
const s3 = { name: 's3', bucket: 'zot-storage', region: 'us-east-1' };
const redis = { name: 'redis', url: 'redis://127.0.0.1:6379' };
const cluster = { members: ['127.0.0.1:9000', '127.0.0.1:9001'], hashKey: 'loremipsumdolors' };

function issuesOf(raw: unknown): string[] {
  try {
    parseConfig(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues;
  }
  return [];
}

describe("Zot's cluster section", () => {
  it("Zot's scale-out examples (S3 + DynamoDB) are accepted and described as served by any member, without proxying", async () => {
    for (const file of ['scale-out-cluster-cloud--config-cluster-member0.json', 'scale-out-cluster-cloud--tls--config-cluster-member1.json']) {
      const config = await loadConfigFile(path.join(zotExamples, file));
      assert.deepEqual(startupRefusals(config, BUILD), [], file);
      const lines = describeConfig(config, BUILD);
      assert.ok(lines.includes('cluster: 3 members, accepted: any member serves any repository itself, without proxying (storage and metadata are shared)'), lines.join('\n'));
      const unused = file.includes('tls') ? 'hashKey and tls' : 'hashKey';
      assert.ok(lines.includes(`  ${unused}: not used (no request is proxied between members); a request carrying X-Zot-Cluster-Hop-Count is served like any other`), lines.join('\n'));
      assert.ok(!lines.some((l) => /^\s*cluster.*not active/.test(l)), lines.join('\n'));
    }
  });

  it('S3 and Redis: accepted', () => {
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x', remoteCache: true, storageDriver: s3, cacheDriver: redis }, cluster }), []);
  });

  it('members on their local disks: refused naming cluster and the store', () => {
    const issues = issuesOf({ storage: { rootDirectory: '/x', remoteCache: true, cacheDriver: redis }, cluster });
    assert.deepEqual(issues, [
      "cluster: berth serves every repository on every member without proxying, so storage must be shared: storage is on each member's local disk (set storage.storageDriver, e.g. s3)",
    ]);
  });

  it('a subPaths route on the local disk is refused too, naming the route', () => {
    const issues = issuesOf({
      storage: { rootDirectory: '/x', remoteCache: true, storageDriver: s3, cacheDriver: redis, subPaths: { '/a': { rootDirectory: '/y' }, '/b': { rootDirectory: '/z', storageDriver: s3 } } },
      cluster,
    });
    assert.deepEqual(issues, [
      'cluster: berth serves every repository on every member without proxying, so storage must be shared: storage.subPaths["/a"] is on each member\'s local disk (set storage.subPaths["/a"].storageDriver, e.g. s3)',
    ]);
  });

  it('metadata that is not shared: no cacheDriver, remoteCache off, or a local boltdb; each refused naming cluster and why', () => {
    const why = 'cluster: berth serves every repository on every member without proxying, so the metadata must be shared: storage.cacheDriver must be a remote cache (redis or dynamodb) with remoteCache on; ';
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x', dedupe: false, storageDriver: s3 }, cluster }), [`${why}there is none`]);
    assert.deepEqual(issuesOf({ storage: { rootDirectory: '/x', remoteCache: false, storageDriver: s3, cacheDriver: redis }, cluster }), [
      `${why}storage.remoteCache is false, so it is not used`,
    ]);
    // Zot itself refuses boltdb as a remote cache on S3; the cluster line says why it matters here.
    assert.ok(issuesOf({ storage: { rootDirectory: '/x', remoteCache: true, storageDriver: s3, cacheDriver: { name: 'boltdb' } }, cluster }).includes(`${why}"boltdb" is a local database`));
  });

  it('both at once: one line for each, and the same lines stop serve (a config error)', () => {
    const issues = issuesOf({ storage: { rootDirectory: '/x' }, cluster });
    assert.equal(issues.length, 2, issues.join('\n'));
    assert.ok(issues.every((i) => i.startsWith('cluster: ')));
  });

  it('one member is not a cluster (as in Zot): served alone, whatever the storage', () => {
    const config = parseConfig({ storage: { rootDirectory: '/x' }, cluster: { members: ['127.0.0.1:9000'], hashKey: 'loremipsumdolors' } });
    assert.ok(describeConfig(config, BUILD).includes('cluster: 1 member, serving alone (as in Zot, one member is not a cluster)'));
  });
});
