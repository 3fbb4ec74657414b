/**
 * `extensions.sync`: mirror upstream registries on demand (pull-through) and/or periodically. Defaults and the
 * fatal combinations follow Zot's loader (validateSync); `preserveDigest` also needs `http.compat`, checked in
 * cross-checks.ts because it spans sections.
 */
import { z } from 'zod';
import { isValidGlob, isValidGoRegex } from './pattern-checks';
import { zBool, zDuration, zInt, zList, zNonNegInt, zNumber, zReqStr, zStr, zStrList } from './zot-scalars';

const HOUR_MS = 3_600_000;

// Zot's sync `platforms` (zot PR #3128): `arch`, `os/arch` or `os/arch/variant`, e.g. "linux/amd64".
const platformsSchema = zStrList.superRefine((list, ctx) => {
  list.forEach((p, i) => {
    if (!/^[^/\s]+(\/[^/\s]+){0,2}$/.test(p)) ctx.addIssue({ code: 'custom', path: [i], message: `"${p}" is not "arch", "os/arch" or "os/arch/variant"` });
  });
});

const contentSchema = z.strictObject({
  prefix: zReqStr, // doublestar glob over upstream repository names
  destination: zStr.optional(), // local repository (prefix) to store under
  stripPrefix: zBool.default(false),
  platforms: platformsSchema.optional(), // periodic sync: platforms of an index copied for this rule (overrides the registry's)
  tags: z
    .strictObject({
      regex: zStr.optional(), // Go regex a tag must match
      excludeRegex: zStr.optional(), // Go regex a tag must not match
      semver: zBool.optional(), // only semver-looking tags
    })
    .optional(),
});

// The oauth2 credential helper's options; Zot decodes them strictly (unknown keys rejected).
const oauth2HelperSchema = z
  .strictObject({
    tokenURL: zReqStr,
    assertionFile: zStr.optional(),
    signingFile: zStr.optional(),
    grantType: zStr.optional(),
    clientID: zStr.optional(),
    clientSecretFile: zStr.optional(),
    scopes: zStrList.optional(),
    username: zStr.optional(),
    audience: zStr.optional(),
    subjectTokenType: zStr.optional(),
    requestedTokenType: zStr.optional(),
  })
  .superRefine((helper, ctx) => {
    const has = (v: string | undefined) => v !== undefined && v.trim() !== '';
    if (has(helper.assertionFile) === has(helper.signingFile)) {
      ctx.addIssue({ code: 'custom', path: ['assertionFile'], message: 'set exactly one of assertionFile or signingFile' });
    }
  });

const registrySchema = z
  .strictObject({
    // urls[0] is the upstream, the rest its mirrors.
    urls: zStrList.refine((u) => u.length > 0, { message: 'must list at least one URL' }),
    onDemand: zBool.default(false),
    pollInterval: zDuration.default(0), // periodic sync only with content and a non-zero interval
    content: z.array(contentSchema).optional(),
    platforms: platformsSchema.optional(), // periodic sync: platforms of an index copied; unset = all
    tlsVerify: zBool.default(true),
    certDir: zStr.optional(),
    maxRetries: zNonNegInt.optional(),
    retryDelay: zDuration.optional(),
    maxRetryDelay: zDuration.optional(), // backoff cap; unset = fixed retryDelay
    onlySigned: zBool.default(false),
    preserveDigest: zBool.default(false), // no Docker → OCI conversion
    syncLegacyCosignTags: zBool.default(true),
    manifestCheckInterval: zDuration.default(0),
    ttl: zDuration.default(0), // berth's addition (Distribution proxy's ttl): evict cached content not pulled this long; 0 keeps it
    syncTimeout: zDuration.default(3 * HOUR_MS),
    responseHeaderTimeout: zDuration.optional(), // Zot fills it in itself; accepted because mapstructure does
    reqConcurrent: zInt.refine((n) => n > 0, { message: 'must be positive' }).default(3),
    reqPerSec: zNumber.refine((n) => n > 0, { message: 'must be positive' }).optional(), // unset = unlimited
    disableHTTP2: zBool.default(false),
    maxIdleConnsPerHost: zInt.refine((n) => n > 0, { message: 'must be positive' }).default(2),
    credentialHelper: z.enum(['', 'ecr', 'gcp', 'oauth2']).default(''),
    oauth2CredentialHelper: oauth2HelperSchema.optional(),
  })
  .superRefine((reg, ctx) => {
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (reg.maxRetries !== undefined && reg.retryDelay === undefined) issue(['retryDelay'], 'required when maxRetries is set');
    if (reg.credentialHelper === 'oauth2' && !reg.oauth2CredentialHelper) issue(['oauth2CredentialHelper'], 'required when credentialHelper is "oauth2"');
    reg.content?.forEach((c, i) => {
      if (!isValidGlob(c.prefix)) issue(['content', i, 'prefix'], 'glob does not compile');
      if (c.tags?.regex !== undefined && !isValidGoRegex(c.tags.regex)) issue(['content', i, 'tags', 'regex'], 'regex does not compile');
      if (c.tags?.excludeRegex !== undefined && !isValidGoRegex(c.tags.excludeRegex)) {
        issue(['content', i, 'tags', 'excludeRegex'], 'regex does not compile');
      }
      if (c.stripPrefix && !c.prefix.includes('/*') && c.destination === '/') {
        issue(['content', i, 'stripPrefix'], 'stripPrefix with destination "/" needs a glob ("/*") in prefix');
      }
    });
  })
  .transform((reg) => ({ ...reg, maxRetryDelay: reg.maxRetryDelay ?? reg.retryDelay }));

export type SyncRegistryConfig = z.output<typeof registrySchema>;

export const syncSchema = z.strictObject({
  enable: zBool.default(true),
  credentialsFile: zStr.optional(), // JSON map of registry host → {username, password}
  downloadDir: zStr.optional(), // staging directory; required with cloud storage
  registries: zList(registrySchema).default([]),
});

export type SyncConfig = z.output<typeof syncSchema>;
