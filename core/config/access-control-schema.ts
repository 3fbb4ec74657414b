/**
 * `http.accessControl` (Zot v2 layout): `repositories` maps doublestar globs to policies; the longest glob that
 * matches a repository decides (see zot-reference §4, core/auth/policy-engine.ts). Glob keys are free-form and kept as written; Zot refuses a
 * glob that does not compile.
 */
import { z } from 'zod';
import { isValidGlob } from './pattern-checks';
import { zReqStr, zStrList } from './zot-scalars';

/** Zot's actions; matched exactly at request time, so a misspelt one never grants anything. */
export const ACCESS_ACTIONS = ['read', 'create', 'update', 'delete', 'detectManifestCollision'] as const;

const conditionSchema = z.strictObject({
  expression: zReqStr, // a CEL expression (recent Zot)
  message: zReqStr.optional(),
});

const policySchema = z.strictObject({
  users: zStrList.default([]),
  groups: zStrList.default([]),
  actions: zStrList.default([]),
  conditions: z.array(conditionSchema).default([]),
});

const repositoryRuleSchema = z.strictObject({
  policies: z.array(policySchema).default([]),
  defaultPolicy: zStrList.default([]),
  anonymousPolicy: zStrList.default([]),
});

export const accessControlSchema = z
  .strictObject({
    repositories: z.record(z.string(), repositoryRuleSchema).default({}),
    adminPolicy: policySchema.optional(),
    groups: z.record(z.string(), z.strictObject({ users: zStrList.default([]) })).default({}),
    metrics: z.strictObject({ users: zStrList.default([]), anonymousPolicy: zStrList.default([]) }).optional(),
  })
  .superRefine((acl, ctx) => {
    for (const glob of Object.keys(acl.repositories)) {
      if (!isValidGlob(glob)) ctx.addIssue({ code: 'custom', path: ['repositories', glob], message: 'glob does not compile' });
    }
  });

export type AccessControlConfig = z.output<typeof accessControlSchema>;

/** Zot's ContainsOnlyAnonymousPolicy: anonymous rules present and no rule that names users or defaults. */
export function onlyAnonymousPolicies(acl: AccessControlConfig): boolean {
  const admin = acl.adminPolicy;
  if (admin && admin.actions.length + admin.users.length > 0) return false;
  let anonymous = false;
  for (const rule of Object.values(acl.repositories)) {
    if (rule.defaultPolicy.length > 0) return false;
    if (rule.policies.some((p) => p.actions.length + p.users.length > 0)) return false;
    if (rule.anonymousPolicy.length > 0) anonymous = true;
  }
  return anonymous;
}
