/**
 * The root schema of a Zot `config.json`, assembled from one schema per section. Validation runs once at start-up
 * (and on reload); each component then receives only its own typed slice (`config.http.auth.ldap`, ...).
 * Every object is strict: an unknown key stops start-up, as in Zot.
 */
import { z } from 'zod';
import { clusterSchema, schedulerSchema } from './cluster-schema';
import { checkAcrossSections } from './cross-checks';
import { extensionsSchema } from './extensions-schema';
import { httpSchema } from './http-schema';
import { logSchema } from './log-schema';
import { storageSchema } from './storage-schema';
import { zStr } from './zot-scalars';

/** The distribution-spec version berth implements; Zot warns on a different `distSpecVersion` and uses its own. */
export const DIST_SPEC_VERSION = '1.1.1';

export const rootSchema = z
  .strictObject({
    distSpecVersion: zStr.default(DIST_SPEC_VERSION),
    // Build metadata that Zot's own config struct carries; accepted and unused.
    goVersion: zStr.optional(),
    commit: zStr.optional(),
    releaseTag: zStr.optional(),
    binaryType: zStr.optional(),
    storage: storageSchema.prefault({}),
    http: httpSchema.prefault({}),
    log: logSchema.prefault({}),
    extensions: z.preprocess((v) => (v === null ? {} : v), extensionsSchema).optional(),
    // Absent unless written, so `berth verify` can tell a configured worker count from Zot's default.
    scheduler: schedulerSchema.optional(),
    cluster: clusterSchema.optional(),
  })
  .superRefine(checkAcrossSections);

export type BerthConfig = z.output<typeof rootSchema>;
