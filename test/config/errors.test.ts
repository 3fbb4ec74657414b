import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../core/config/config-error';
import { parseConfig } from '../../core/config/load';

const base = () => ({ storage: { rootDirectory: '/tmp/zot' } as Record<string, unknown>, http: {} as Record<string, unknown> });

function issuesOf(raw: unknown): string[] {
  try {
    parseConfig(raw, 'test.json');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.ok(err.message.includes('test.json'));
    for (const issue of err.issues) assert.ok(err.message.includes(issue), 'the message lists every issue');
    return err.issues;
  }
  assert.fail('config was accepted');
}

function assertIssue(raw: unknown, expected: string | RegExp): void {
  const issues = issuesOf(raw);
  const found = issues.some((i) => (typeof expected === 'string' ? i === expected : expected.test(i)));
  assert.ok(found, `no issue ${String(expected)} in:\n${issues.join('\n')}`);
}

describe('config errors name the full key path', () => {
  it('unknown key at depth', () => {
    assertIssue({ ...base(), http: { auth: { ldap: { address: 'h', baseDN: 'b', userAttribute: 'uid', bindPassword: 'hunter2' } } } }, 'http.auth.ldap.bindPassword: unknown key');
    assertIssue({ ...base(), http: { foo: 1 } }, 'http.foo: unknown key');
    assertIssue({ ...base(), extensions: { sync: { registries: [{ urls: ['https://x'], pollIntervall: '1h' }] } } }, 'extensions.sync.registries[0].pollIntervall: unknown key');
  });

  it('never echoes a secret value', () => {
    const issues = issuesOf({ ...base(), http: { auth: { ldap: { address: 'h', baseDN: 'b', userAttribute: 'uid', bindPassword: 'hunter2' } } } });
    assert.ok(issues.every((i) => !i.includes('hunter2')));
    const more = issuesOf({ storage: { rootDirectory: '/x', storageDriver: { name: 's3', bucket: 'b', region: 'r', secretkey: { s: 'topsecret' } } } });
    assert.ok(more.every((i) => !i.includes('topsecret')), more.join('\n'));
  });

  it('wrong type, with canonical names even when the file used another case', () => {
    assertIssue({ storage: { rootDirectory: '/tmp/zot' }, HTTP: { Auth: { LDAP: { Address: 'h', BaseDN: 'b', UserAttribute: 'uid', PORT: 'abc' } } } }, 'http.auth.ldap.port: expected number, received string');
    assertIssue({ ...base(), storage: { rootDirectory: '/tmp/zot', dedupe: 'yes' } }, 'storage.dedupe: expected boolean, received string');
    assertIssue({ ...base(), http: { compat: 'docker2s2x' } }, 'http.compat: expected array, received string');
  });

  it('weakly typed values that Zot (viper) accepts', () => {
    const c = parseConfig({ ...base(), http: { port: 5000, auth: { failDelay: '3', ldap: { address: 'h', baseDN: 'b', userAttribute: 'uid', port: '389', insecure: 'true' } } } });
    assert.equal(c.http.port, '5000');
    assert.equal(c.http.auth.failDelay, 3);
    assert.equal(c.http.auth.ldap?.port, 389);
    assert.equal(c.http.auth.ldap?.insecure, true);
  });

  it('missing required key', () => {
    assertIssue({ storage: {} }, 'storage.rootDirectory: required');
    assertIssue({ ...base(), http: { auth: { ldap: { address: 'h', userAttribute: 'uid' } } } }, 'http.auth.ldap.baseDN: required');
  });

  it('bad duration', () => {
    assertIssue({ storage: { rootDirectory: '/tmp/zot', gcDelay: '5 min' } }, 'storage.gcDelay: invalid duration "5 min"');
    assertIssue({ ...base(), extensions: { scrub: { interval: '1d' } } }, 'extensions.scrub.interval: invalid duration "1d"');
    assertIssue({ storage: { rootDirectory: '/tmp/zot', gcInterval: true } }, /^storage\.gcInterval: expected duration string/);
  });

  it('bad enum', () => {
    assertIssue({ ...base(), log: { level: 'verbose' } }, /^log\.level: expected one of "panic", .*"trace"/);
    assertIssue({ ...base(), storage: { rootDirectory: '/x', storageDriver: { name: 'swift' } } }, /^storage\.storageDriver\.name: unsupported storage driver "swift"/);
    assertIssue({ ...base(), extensions: { events: { sinks: [{ type: 'kafka', address: 'x' }] } } }, /^extensions\.events\.sinks\[0\]\.type: expected one of "http", "nats"/);
  });

  it('bad port', () => {
    assertIssue({ ...base(), http: { port: '70000' } }, /^http\.port: invalid port "70000"/);
  });

  it('unknown extension without module', () => {
    assertIssue({ ...base(), extensions: { quota: { limit: 5 } } }, /^extensions\.quota: unknown extension/);
  });

  it('not an object, no keys', () => {
    assertIssue([], /^\(root\): expected an object/);
    assertIssue({}, '(root): config has no keys');
  });

  it('colliding keys are reported with the other problems', () => {
    const issues = issuesOf({ storage: { rootDirectory: '/a', RootDirectory: '/b' }, http: { bogus: 1 } });
    assert.ok(issues.some((i) => /^storage\.rootDirectory: keys "rootDirectory" and "RootDirectory"/.test(i)));
    assert.ok(issues.includes('http.bogus: unknown key'));
  });

  it('map keys that are not identifiers are quoted', () => {
    assertIssue(
      { ...base(), http: { auth: { htpasswd: { path: '/h' } }, accessControl: { repositories: { 'infra/**': { policies: [{ users: ['a'], actionz: [] }] } } } } },
      'http.accessControl.repositories["infra/**"].policies[0].actionz: unknown key',
    );
  });
});
