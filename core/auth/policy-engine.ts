/**
 * Zot's accessControl semantics (zot-reference §4). For a repository, only the entry whose pattern is the
 * longest matching string counts; within it the user's policies, then the groups' policies, then `defaultPolicy`
 * (any authenticated user), then `anonymousPolicy` (unauthenticated only) grant actions; `adminPolicy` is asked
 * only when that entry denies. Nothing matches → denied.
 */
import picomatch from 'picomatch';
import type { AccessControlConfig } from '../config/access-control-schema';
import type { Identity } from '../extensions/api';
import type { Action } from '../http/route-helpers';

type Policy = AccessControlConfig['adminPolicy'] & object;
type Rule = AccessControlConfig['repositories'][string];

interface CompiledRule {
  pattern: string;
  match: (repo: string) => boolean;
  rule: Rule;
}

// doublestar semantics: no negation (`!`), no extglobs; `*` stays within a segment, `a/**` also matches `a`.
const GLOB_OPTIONS: picomatch.PicomatchOptions = { nonegate: true, noextglob: true, dot: true };

export class PolicyEngine {
  readonly #rules: CompiledRule[];
  readonly #groupsOf = new Map<string, string[]>();
  readonly #admin: Policy | undefined;

  constructor(private readonly acl: AccessControlConfig) {
    this.#rules = Object.entries(acl.repositories).map(([pattern, rule]) => ({ pattern, match: picomatch(pattern, GLOB_OPTIONS), rule }));
    for (const [group, { users }] of Object.entries(acl.groups)) {
      for (const user of users) this.#groupsOf.set(user, [...(this.#groupsOf.get(user) ?? []), group]);
    }
    this.#admin = acl.adminPolicy;
  }

  /** The pattern whose entry decides for `repo` (longest string; the first written wins a tie), if any. */
  patternFor(repo: string): string | undefined {
    return this.#ruleFor(repo)?.pattern;
  }

  /** Whether any rule lets unauthenticated requests in, so anonymous requests are worth routing at all. */
  get hasAnonymousRules(): boolean {
    return this.#rules.some((r) => r.rule.anonymousPolicy.length > 0);
  }

  /** Whether some rule needs an authenticated identity (Zot's Docker quirk keys off this). */
  get hasAuthenticatedRules(): boolean {
    return this.#rules.some((r) => r.rule.defaultPolicy.length > 0 || r.rule.policies.length > 0) || this.#admin !== undefined;
  }

  allows(identity: Identity | undefined, repo: string, action: Action): boolean {
    const entry = this.#ruleFor(repo);
    if (entry && this.#permitted(entry.rule, identity, action)) return true;
    return identity !== undefined && this.#admin !== undefined && grants(this.#admin, identity.user, this.groups(identity), action);
  }

  /** The identity's groups: those its source reported (LDAP) merged with `accessControl.groups`. */
  groups(identity: Identity): string[] {
    return [...new Set([...identity.groups, ...(this.#groupsOf.get(identity.user) ?? [])])];
  }

  /**
   * `accessControl.metrics`, as Zot's MetricsAuthzHandler reads it: an authenticated user must be listed in
   * `users` (none listed, or no `metrics` block: no one), an anonymous one needs `anonymousPolicy: ["read"]`.
   * Zot does not let a logged-in user who is not listed fall back to the anonymous policy; neither does berth.
   */
  allowsMetrics(identity: Identity | undefined): boolean {
    const metrics = this.acl.metrics;
    if (!identity) return metrics?.anonymousPolicy.includes('read') ?? false;
    return metrics?.users.includes(identity.user) ?? false;
  }

  #ruleFor(repo: string): CompiledRule | undefined {
    let best: CompiledRule | undefined;
    for (const r of this.#rules) {
      if (r.match(repo) && (!best || r.pattern.length > best.pattern.length)) best = r;
    }
    return best;
  }

  #permitted(rule: Rule, identity: Identity | undefined, action: Action): boolean {
    if (!identity) return rule.anonymousPolicy.includes(action);
    const groups = this.groups(identity);
    if (rule.policies.some((p) => grants(p, identity.user, groups, action))) return true;
    return rule.defaultPolicy.includes(action);
  }
}

function grants(policy: Policy, user: string, groups: string[], action: Action): boolean {
  // CEL conditions are not evaluated yet: a conditional grant is withheld rather than given unconditionally.
  if (policy.conditions.length > 0 || !policy.actions.includes(action)) return false;
  return policy.users.includes(user) || policy.groups.some((g) => groups.includes(g));
}
