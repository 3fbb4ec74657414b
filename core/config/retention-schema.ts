/**
 * `storage.retention` (and each `subPaths` entry's). The effective `delay` depends on `gc`/`gcDelay`, so it is
 * resolved by the storage schema; this file keeps the shape, the defaults that stand alone, and the pattern checks
 * Zot runs at start-up (repository globs, tag regexes).
 */
import { z } from 'zod';
import { isValidGlob, isValidGoRegex } from './pattern-checks';
import { zBool, zDuration, zNonNegInt, zStrList } from './zot-scalars';

const keepRules = {
  mostRecentlyPushedCount: zNonNegInt.default(0),
  mostRecentlyPulledCount: zNonNegInt.default(0),
  pushedWithin: zDuration.optional(),
  pulledWithin: zDuration.optional(),
};

const keepTagsSchema = z.strictObject({
  // Go regexes, unanchored; an empty list matches every tag.
  patterns: zStrList.default([]),
  ...keepRules,
});

const keepUntaggedSchema = z.strictObject(keepRules);

const policySchema = z.strictObject({
  repositories: zStrList.default([]),
  deleteReferrers: zBool.default(false),
  // Zot sets true when the key is absent (viper IsSet), so false must be spelled out.
  deleteUntagged: zBool.default(true),
  keepTags: z.array(keepTagsSchema).default([]),
  // Newer Zot: rules that spare untagged manifests; accepted as one rule object or a list of them.
  keepUntagged: z
    .union([z.array(keepUntaggedSchema), keepUntaggedSchema])
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .optional(),
});

export const retentionInputSchema = z
  .strictObject({
    dryRun: zBool.default(false),
    delay: zDuration.optional(),
    policies: z.array(policySchema).default([]),
  })
  .superRefine((retention, ctx) => {
    retention.policies.forEach((policy, p) => {
      policy.repositories.forEach((glob, r) => {
        if (!isValidGlob(glob)) {
          ctx.addIssue({ code: 'custom', path: ['policies', p, 'repositories', r], message: `invalid glob ${JSON.stringify(glob)}` });
        }
      });
      policy.keepTags.forEach((rule, k) => {
        rule.patterns.forEach((pattern, i) => {
          if (!isValidGoRegex(pattern)) {
            ctx.addIssue({ code: 'custom', path: ['policies', p, 'keepTags', k, 'patterns', i], message: `invalid regex ${JSON.stringify(pattern)}` });
          }
        });
      });
    });
  });

export type RetentionInput = z.output<typeof retentionInputSchema>;
export type RetentionPolicy = RetentionInput['policies'][number];

export interface RetentionConfig {
  dryRun: boolean;
  /** Min age (ms) of untagged manifests and orphaned referrers before deletion; defaults to gcDelay. */
  delay: number;
  policies: RetentionPolicy[];
}

/** Whether retention is configured at all (a policy list); GC alone does not need it. */
export function retentionConfigured(retention: RetentionConfig): boolean {
  return retention.policies.length > 0;
}
