/**
 * `extensions.sync`: mirror upstream registries on demand (pull-through) and/or periodically. Defaults and the
 * fatal combinations follow Zot's loader (validateSync); `preserveDigest` also needs `http.compat`, checked in
 * cross-checks.ts because it spans sections.
 */
import { z } from 'zod';
import { zot } from '../../core/extensions/api';


const HOUR_MS = 3_600_000;

// Zot's sync `platforms` (zot PR #3128): `arch`, `os/arch` or `os/arch/variant`, e.g. "linux/amd64".
const platformsSchema = zot.strList.superRefine((list, ctx) => {
  list.forEach((p, i) => {
    if (!/^[^/\s]+(\/[^/\s]+){0,2}$/.test(p)) ctx.addIssue({ code: 'custom', path: [i], message: `"${p}" is not "arch", "os/arch" or "os/arch/variant"` });
  });
});

const contentSchema = z.strictObject({
  prefix: zot.reqStr, // doublestar glob over upstream repository names
  destination: zot.str.optional(), // local repository (prefix) to store under
  stripPrefix: zot.bool.default(false),
  platforms: platformsSchema.optional(), // periodic sync: platforms of an index copied for this rule (overrides the registry's)
  tags: z
    .strictObject({
      regex: zot.str.optional(), // Go regex a tag must match
      excludeRegex: zot.str.optional(), // Go regex a tag must not match
      semver: zot.bool.optional(), // only semver-looking tags
    })
    .optional(),
});

// The oauth2 credential helper's options; Zot decodes them strictly (unknown keys rejected).
const oauth2HelperSchema = z
  .strictObject({
    tokenURL: zot.reqStr,
    assertionFile: zot.str.optional(),
    signingFile: zot.str.optional(),
    grantType: zot.str.optional(),
    clientID: zot.str.optional(),
    clientSecretFile: zot.str.optional(),
    scopes: zot.strList.optional(),
    username: zot.str.optional(),
    audience: zot.str.optional(),
    subjectTokenType: zot.str.optional(),
    requestedTokenType: zot.str.optional(),
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
    urls: zot.strList.refine((u) => u.length > 0, { message: 'must list at least one URL' }),
    onDemand: zot.bool.default(false),
    pollInterval: zot.duration.default(0), // periodic sync only with content and a non-zero interval
    content: z.array(contentSchema).optional(),
    platforms: platformsSchema.optional(), // periodic sync: platforms of an index copied; unset = all
    tlsVerify: zot.bool.default(true),
    certDir: zot.str.optional(),
    maxRetries: zot.nonNegInt.optional(),
    retryDelay: zot.duration.optional(),
    maxRetryDelay: zot.duration.optional(), // backoff cap; unset = fixed retryDelay
    onlySigned: zot.bool.default(false),
    preserveDigest: zot.bool.default(false), // no Docker → OCI conversion
    syncLegacyCosignTags: zot.bool.default(true),
    manifestCheckInterval: zot.duration.default(0),
    ttl: zot.duration.default(0), // berth's addition (Distribution proxy's ttl): evict cached content not pulled this long; 0 keeps it
    syncTimeout: zot.duration.default(3 * HOUR_MS),
    responseHeaderTimeout: zot.duration.optional(), // Zot fills it in itself; accepted because mapstructure does
    reqConcurrent: zot.int.refine((n) => n > 0, { message: 'must be positive' }).default(3),
    reqPerSec: zot.number.refine((n) => n > 0, { message: 'must be positive' }).optional(), // unset = unlimited
    disableHTTP2: zot.bool.default(false),
    maxIdleConnsPerHost: zot.int.refine((n) => n > 0, { message: 'must be positive' }).default(2),
    credentialHelper: z.enum(['', 'ecr', 'gcp', 'oauth2']).default(''),
    oauth2CredentialHelper: oauth2HelperSchema.optional(),
  })
  .superRefine((reg, ctx) => {
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (reg.maxRetries !== undefined && reg.retryDelay === undefined) issue(['retryDelay'], 'required when maxRetries is set');
    if (reg.credentialHelper === 'oauth2' && !reg.oauth2CredentialHelper) issue(['oauth2CredentialHelper'], 'required when credentialHelper is "oauth2"');
    reg.content?.forEach((c, i) => {
      if (!zot.isGlob(c.prefix)) issue(['content', i, 'prefix'], 'glob does not compile');
      if (c.tags?.regex !== undefined && !zot.isGoRegex(c.tags.regex)) issue(['content', i, 'tags', 'regex'], 'regex does not compile');
      if (c.tags?.excludeRegex !== undefined && !zot.isGoRegex(c.tags.excludeRegex)) {
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
  enable: zot.bool.default(true),
  credentialsFile: zot.str.optional(), // JSON map of registry host → {username, password}
  downloadDir: zot.str.optional(), // staging directory; required with cloud storage
  registries: zot.list(registrySchema).default([]),
});

export type SyncConfig = z.output<typeof syncSchema>;
