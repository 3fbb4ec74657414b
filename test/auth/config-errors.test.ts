// Auth config errors stop start-up and name the key: unknown keys, missing files, bad patterns.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../core/config/config-error';
import { parseConfig } from '../../core/config/load';
import { startBerth } from '../helpers/berth.js';
import { BERTH_BIN } from '../helpers/berth-process.js';
import { cleanupTempDirs, run, tempDir } from '../helpers/tools.js';

const issuesOf = (raw: unknown): string[] => {
  try {
    parseConfig(raw, 'test');
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
};

describe('auth config errors', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('auth-config');
  });
  after(cleanupTempDirs);

  it('names unknown auth keys and patterns that do not compile', () => {
    assert.ok(issuesOf({ http: { auth: { htpasswd: { path: '/x' }, ldpa: {} } } }).includes('http.auth.ldpa: unknown key'));
    assert.ok(issuesOf({ http: { auth: { ldap: { address: 'l', baseDN: 'dc=x', userAttribute: 'uid', bindPassword: 's3cret' } } } }).includes('http.auth.ldap.bindPassword: unknown key'));
    const bad = issuesOf({ http: { auth: { htpasswd: { path: '/x' } }, accessControl: { repositories: { 'team/[x': { defaultPolicy: ['read'] } } } } });
    assert.ok(bad.includes('http.accessControl.repositories["team/[x"]: glob does not compile'), bad.join('\n'));
    const noAuth = issuesOf({ http: { accessControl: { repositories: { '**': { defaultPolicy: ['read'] } } } } });
    assert.ok(noAuth.some((i) => i.startsWith('http.accessControl: needs an authentication method')), noAuth.join('\n'));
  });

  it('names the key of a file that cannot be read', async () => {
    const missing = join(dir, 'missing');
    const cases: Array<[object, RegExp]> = [
      [{ htpasswd: { path: missing } }, /http\.auth\.htpasswd\.path: cannot read .*missing \(ENOENT\)/],
      [{ ldap: { address: '127.0.0.1', port: 1, insecure: true, baseDN: 'dc=x', userAttribute: 'uid', credentialsFile: missing } }, /http\.auth\.ldap\.credentialsFile: cannot read/],
      [{ bearer: { realm: 'https://auth/token', service: 's', cert: missing } }, /http\.auth\.bearer\.cert: cannot read/],
    ];
    for (const [auth, message] of cases) await assert.rejects(startBerth({ http: { auth } }), message);
    const badCredentials = join(dir, 'ldap.json');
    await writeFile(badCredentials, '{"bindDN": "cn=admin"}');
    await assert.rejects(
      startBerth({ http: { auth: { ldap: { address: '127.0.0.1', port: 1, insecure: true, baseDN: 'dc=x', userAttribute: 'uid', credentialsFile: badCredentials } } } }),
      /http\.auth\.ldap: expected JSON \{"bindDN"/,
    );
  });

  it('stops `berth serve` with the key in the message', async () => {
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ storage: { rootDirectory: join(dir, 'root') }, http: { port: '0', auth: { htpasswd: { path: join(dir, 'nope') } } } }));
    const res = await run(process.execPath, [BERTH_BIN, 'serve', config], { allowFail: true, timeoutMs: 20_000 });
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /http\.auth\.htpasswd\.path: cannot read/);
  });
});
