// Zot's accessControl semantics in the policy engine: doublestar patterns, the longest matching pattern
// alone decides, the order users → groups → defaultPolicy → anonymousPolicy, adminPolicy after a deny.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyEngine } from '../../core/auth/policy-engine';
import { accessControlSchema } from '../../core/config/access-control-schema';
import type { Identity } from '../../core/extensions/api';

const engine = (acl: unknown) => new PolicyEngine(accessControlSchema.parse(acl));
const user = (name: string, groups: string[] = []): Identity => ({ user: name, groups, via: 'test' });

describe('policy engine', () => {
  it('matches patterns like doublestar', () => {
    const e = engine({ repositories: { 'tmp/**': { anonymousPolicy: ['read'] }, 'one/*': { anonymousPolicy: ['read'] }, '{x,y}/?z': { anonymousPolicy: ['read'] }, 'b[0-9]': { anonymousPolicy: ['read'] } } });
    const table: Array<[string, boolean]> = [
      ['tmp', true], ['tmp/a', true], ['tmp/a/b/c', true], ['tmpx', false],
      ['one/a', true], ['one/a/b', false], ['one', false],
      ['x/az', true], ['y/bz', true], ['z/az', false], ['x/abz', false],
      ['b7', true], ['bx', false],
    ];
    for (const [repo, want] of table) assert.equal(e.allows(undefined, repo, 'read'), want, repo);
  });

  it('lets the longest matching pattern alone decide; the first written wins a tie', () => {
    const e = engine({
      repositories: {
        '**': { defaultPolicy: ['read', 'create'] },
        'team/**': { policies: [{ users: ['alice'], actions: ['read'] }] },
        'team/ab*': { policies: [{ users: ['bob'], actions: ['read'] }] },
        'team/*ab': { policies: [{ users: ['carol'], actions: ['read'] }] },
      },
    });
    assert.equal(e.patternFor('team/abab'), 'team/ab*');
    assert.equal(e.allows(user('dave'), 'elsewhere', 'create'), true);
    assert.equal(e.allows(user('dave'), 'team/x', 'read'), false); // team/** decides, ** is not consulted
    assert.equal(e.allows(user('alice'), 'team/abab', 'read'), false); // team/ab* decides, not team/**
    assert.equal(e.allows(user('bob'), 'team/abab', 'read'), true);
    assert.equal(e.allows(user('carol'), 'team/abab', 'read'), false); // team/*ab is as long, but written later
  });

  it('grants by user, group (config and identity), defaultPolicy and anonymousPolicy, and nothing else', () => {
    const e = engine({
      repositories: {
        'r/**': {
          policies: [{ users: ['alice'], actions: ['update'] }, { groups: ['devs'], actions: ['create'] }],
          defaultPolicy: ['read'],
          anonymousPolicy: ['delete'],
        },
      },
      groups: { devs: { users: ['bob'] } },
    });
    const can = (id: Identity | undefined) => (['read', 'create', 'update', 'delete'] as const).filter((a) => e.allows(id, 'r/x', a));
    assert.deepEqual(can(user('alice')), ['read', 'update']);
    assert.deepEqual(can(user('bob')), ['read', 'create']); // devs from accessControl.groups
    assert.deepEqual(can(user('dave', ['devs'])), ['read', 'create']); // devs from LDAP
    assert.deepEqual(can(user('erin')), ['read']);
    assert.deepEqual(can(undefined), ['delete']); // anonymousPolicy is for anonymous requests only
    assert.deepEqual(e.groups(user('bob', ['ops'])).sort(), ['devs', 'ops']);
  });

  it('asks adminPolicy only after the repository entry denies, and denies unmatched names', () => {
    const e = engine({
      repositories: { 'r/**': { anonymousPolicy: ['read'] } },
      adminPolicy: { users: ['root'], groups: ['admins'], actions: ['read', 'delete'] },
    });
    assert.equal(e.allows(user('root'), 'elsewhere', 'delete'), true);
    assert.equal(e.allows(user('x', ['admins']), 'r/a', 'delete'), true);
    assert.equal(e.allows(user('root'), 'r/a', 'create'), false);
    assert.equal(e.allows(user('x'), 'elsewhere', 'read'), false);
    assert.equal(e.allows(undefined, 'elsewhere', 'read'), false);
  });

  it('withholds grants that carry CEL conditions (not evaluated yet) instead of granting them unconditionally', () => {
    const e = engine({ repositories: { '**': { policies: [{ users: ['alice'], actions: ['read'], conditions: [{ expression: 'false' }] }] } } });
    assert.equal(e.allows(user('alice'), 'a', 'read'), false);
  });

  it('decides metrics access from accessControl.metrics', () => {
    assert.equal(engine({ metrics: { users: ['prom'] } }).allowsMetrics(user('prom')), true);
    assert.equal(engine({ metrics: { users: ['prom'] } }).allowsMetrics(user('alice')), false);
    assert.equal(engine({ metrics: { anonymousPolicy: ['read'] } }).allowsMetrics(undefined), true);
    // Zot's MetricsAuthzHandler: a logged-in user must be listed, whatever the anonymous policy; with no
    // `metrics` block, no one is.
    assert.equal(engine({ metrics: { anonymousPolicy: ['read'] } }).allowsMetrics(user('alice')), false);
    assert.equal(engine({}).allowsMetrics(user('alice')), false);
    assert.equal(engine({}).allowsMetrics(undefined), false);
  });
});
