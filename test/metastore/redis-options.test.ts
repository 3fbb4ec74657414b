// Zot's redis cacheDriver keys as the Redis MetaStore reads them: which server(s), with which settings, and a
// bad value named by its key without printing secrets.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../../core/log/logger';
import { eventually } from '../helpers/eventually';
import { parseRedisParams, redisTarget } from '../../storage-drivers/metadata/redis/redis-options';

const target = (params: Record<string, unknown>) => redisTarget(parseRedisParams(params));
const fixtures = join(__dirname, '../../../test/fixtures/zot-examples');

describe('redis cacheDriver options', () => {
  it('a url: host, port, database, credentials; the description never holds the password', () => {
    const t = target({ name: 'redis', url: 'redis://alice:s3cret@cache.example:6380/2?dial_timeout=3&read_timeout=6s' });
    assert.equal(t.mode, 'single');
    assert.ok(t.mode === 'single');
    assert.equal(t.options.host, 'cache.example');
    assert.equal(t.options.port, 6380);
    assert.equal(t.options.db, 2);
    assert.equal(t.options.username, 'alice');
    assert.equal(t.options.password, 's3cret');
    assert.equal(t.options.connectTimeout, 3_000, 'a bare integer in the URL is seconds, as go-redis reads it');
    assert.equal(t.options.commandTimeout, 6_000);
    assert.equal(t.where, 'cache.example:6380');
    assert.ok(!t.where.includes('s3cret'));
  });

  it("Zot's cluster url: more addr parameters make a Redis Cluster", () => {
    const params = JSON.parse(readFileSync(join(fixtures, 'config-redis-cluster.json'), 'utf8')).storage.cacheDriver;
    const t = target(params);
    assert.equal(t.mode, 'cluster');
    assert.ok(t.mode === 'cluster');
    assert.deepEqual(t.nodes, [{ host: 'host1', port: 6379 }, { host: 'host2', port: 6379 }, { host: 'host3', port: 6379 }]);
    assert.equal(t.options.redisOptions?.username, 'user');
    assert.equal(t.options.redisOptions?.password, 'password');
  });

  it('addr: one is a server, several a cluster, with master_name the sentinels', () => {
    const one = target({ addr: ['127.0.0.1:7000'], db: 3, password: 'pw', client_name: 'berth' });
    assert.ok(one.mode === 'single');
    assert.deepEqual([one.options.host, one.options.port, one.options.db, one.options.connectionName], ['127.0.0.1', 7000, 3, 'berth']);
    const many = target({ addr: ['a:1', 'b:2'], max_redirects: 5 });
    assert.ok(many.mode === 'cluster');
    assert.deepEqual(many.nodes, [{ host: 'a', port: 1 }, { host: 'b', port: 2 }]);
    assert.equal(many.options.maxRedirections, 5);
    const sentinel = target({ addr: ['s1:26379', 's2:26379'], master_name: 'zotmeta', sentinel_password: 'spw', db: 1 });
    assert.ok(sentinel.mode === 'sentinel');
    assert.equal(sentinel.options.name, 'zotmeta');
    assert.deepEqual(sentinel.options.sentinels, [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }]);
    assert.equal(sentinel.options.sentinelPassword, 'spw');
  });

  it("Zot's all-options example is accepted: durations as Go durations, every key known", () => {
    const params = JSON.parse(readFileSync(join(fixtures, 'config-redis-all-options.json'), 'utf8')).storage.cacheDriver;
    const t = target(params);
    assert.equal(t.mode, 'sentinel', 'addr with master_name');
    assert.ok(t.mode === 'sentinel');
    assert.equal(t.options.connectTimeout, 5_000);
    assert.equal(t.options.commandTimeout, 5_000);
    assert.equal(t.options.protocol, 3);
    assert.equal(t.options.connectionName, 'client');
    assert.equal(t.options.sentinelUsername, 'user2');
  });

  it('defaults: go-redis timeouts; calls fail at once while disconnected and are never resent', () => {
    const t = target({ url: 'redis://127.0.0.1' });
    assert.ok(t.mode === 'single');
    assert.equal(t.options.port, 6379);
    assert.equal(t.options.db, 0);
    assert.equal(t.options.connectTimeout, 5_000);
    assert.equal(t.options.commandTimeout, 3_000);
    assert.equal(t.options.enableOfflineQueue, false);
    assert.equal(t.options.autoResendUnfulfilledCommands, false);
    assert.equal(t.options.maxRetriesPerRequest, 0);
    const unlimited = target({ url: 'redis://h', read_timeout: -1 });
    assert.ok(unlimited.mode === 'single');
    assert.equal(unlimited.options.commandTimeout, undefined, '-1: no limit');
    const nanos = target({ addr: ['h:1'], dial_timeout: 2_000_000_000 });
    assert.ok(nanos.mode === 'single');
    assert.equal(nanos.options.connectTimeout, 2_000, 'a bare integer is nanoseconds');
  });

  it('a bad value stops start-up naming storage.cacheDriver.<key>, never its secret', () => {
    assert.throws(() => target({ url: 'redis://h', db: 'first' }), /^Error: storage\.cacheDriver\.db: /);
    assert.throws(() => target({ url: 'redis://h', dial_timeout: 'soon' }), /^Error: storage\.cacheDriver\.dial_timeout: /);
    assert.throws(() => target({ name: 'redis' }), /^Error: storage\.cacheDriver\.url: redis needs url or addr/);
    assert.throws(() => target({ url: 'http://user:hidden@h' }), (err: Error) => /^storage\.cacheDriver\.url: unsupported scheme http:/.test(err.message) && !err.message.includes('hidden'));
    assert.throws(() => target({ url: 'not a url with secret' }), (err: Error) => err.message.startsWith('storage.cacheDriver.url: not a URL') && !err.message.includes('secret'));
    assert.throws(() => target({ url: 'redis://h', protocol: 4 }), /^Error: storage\.cacheDriver\.protocol: expected 2 or 3/);
  });
});

describe('redis cacheDriver secrets in the log', () => {
  it('url, password and sentinel_password are redacted wherever berth logs the block or the factory params', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-redact-'));
    try {
      const file = join(dir, 'log.json');
      const logger = createLogger({ output: file });
      const block = { name: 'redis', url: 'redis://u:secret-in-url@h:6379', password: 'secret-password', sentinel_password: 'secret-sentinel' };
      logger.info({ params: block }, 'factory params');
      logger.info({ storage: { cacheDriver: block } }, 'config');
      logger.info({ cacheDriver: block }, 'block');
      // The destination writes asynchronously: wait for the three lines.
      const lines = () => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).length : 0);
      await eventually(async () => lines() === 3);
      const text = readFileSync(file, 'utf8');
      for (const secret of ['secret-in-url', 'secret-password', 'secret-sentinel']) assert.ok(!text.includes(secret), secret);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
