/**
 * `http.auth`. Secret material never lives here: LDAP bind credentials, OpenID client secrets and session keys
 * come from files (`credentialsFile`, `sessionKeysFile`) that the auth providers read and validate; this schema
 * only checks the paths' shape. Inline `bindDN`/`bindPassword` are unknown keys, as in current Zot.
 */
import { z } from 'zod';
import { sessionDriverSchema } from './driver-schema';
import { isValidGoRegex } from './pattern-checks';
import { zBool, zDuration, zInt, zNonNegInt, zReqStr, zStr, zStrList } from './zot-scalars';

const ldapSchema = z.strictObject({
  address: zReqStr,
  port: zInt.refine((p) => p >= 0 && p <= 65535, { message: 'must be a port number (0-65535)' }).optional(),
  baseDN: zReqStr,
  userAttribute: zReqStr,
  userFilter: zStr.optional(), // ANDed with the user lookup
  userGroupAttribute: zStr.optional(), // e.g. memberOf; its values are the user's groups
  credentialsFile: zReqStr.optional(), // JSON {"bindDN","bindPassword"}; absent = anonymous bind
  insecure: zBool.default(false),
  startTLS: zBool.default(false),
  skipVerify: zBool.default(false),
  subtreeSearch: zBool.default(false),
  cacert: zStr.optional(),
});

const claimMappingSchema = z.strictObject({
  username: zStr.optional(),
  groups: zStr.optional(),
  variables: z.array(z.strictObject({ name: zReqStr, expression: zReqStr })).optional(),
  validations: z.array(z.strictObject({ expression: zReqStr, message: zStr.optional() })).optional(),
});

const bearerOidcSchema = z.strictObject({
  issuer: zReqStr,
  audiences: zStrList.refine((a) => a.length > 0, { message: 'must list at least one audience' }),
  claimMapping: claimMappingSchema.optional(),
  certificateAuthority: zStr.optional(),
  certificateAuthorityFile: zStr.optional(),
  skipIssuerVerification: zBool.default(false),
});

const bearerSchema = z
  .strictObject({
    realm: zReqStr,
    service: zReqStr,
    cert: zStr.optional(),
    // Where token requests this registry cannot answer itself (an OIDC exchange it does not own) are proxied.
    upstreamTokenEndpoint: z.strictObject({ realm: zStr.default(''), service: zStr.default(''), allowInsecureHttp: zBool.default(false) }).optional(),
    awsSecretsManager: z
      .strictObject({ region: zReqStr, secretName: zReqStr, refreshInterval: zDuration.optional() })
      .refine((a) => (a.refreshInterval ?? 0) >= 0, { message: 'refreshInterval must not be negative', path: ['refreshInterval'] })
      .optional(),
    // Workload identity tokens; Zot examples write one object, its schema a list: both are accepted.
    oidc: z
      .union([z.array(bearerOidcSchema), bearerOidcSchema])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .optional(),
  })
  .superRefine((bearer, ctx) => {
    if (bearer.cert && bearer.awsSecretsManager) {
      ctx.addIssue({ code: 'custom', path: ['awsSecretsManager'], message: 'cannot be set together with cert' });
    }
  });

const openIdProviderSchema = z.strictObject({
  name: zStr.optional(), // label shown on the login page
  credentialsFile: zReqStr.optional(), // JSON {"clientid","clientsecret"}; replaces the deprecated inline keys
  clientid: zStr.optional(),
  clientsecret: zStr.optional(),
  keypath: zStr.optional(),
  issuer: zStr.optional(),
  authurl: zStr.optional(),
  tokenurl: zStr.optional(),
  scopes: zStrList.default([]),
  claimMapping: z.strictObject({ username: zStr.optional(), groups: zStr.optional() }).optional(),
});

export type OpenIdProviderConfig = z.output<typeof openIdProviderSchema>;

// Zot supports exactly these providers; any other name is "unsupported openid/oauth2 provider".
const openIdSchema = z
  .strictObject({
    providers: z
      .strictObject({
        github: openIdProviderSchema.optional(),
        google: openIdProviderSchema.optional(),
        gitlab: openIdProviderSchema.optional(),
        oidc: openIdProviderSchema.optional(),
      })
      .default({}),
    callbackAllowOrigins: zStrList.optional(),
  })
  .superRefine((openid, ctx) => {
    for (const [name, provider] of Object.entries(openid.providers)) {
      if (!provider) continue;
      // credentialsFile supplies clientid (and secret) when the provider starts.
      const hasClient = Boolean(provider.clientid || provider.credentialsFile);
      const issue = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: ['providers', name, key], message });
      if (!hasClient) issue('clientid', 'required (or credentialsFile)');
      if (provider.scopes.length === 0) issue('scopes', 'required');
      if (name !== 'github' && !provider.issuer) issue('issuer', 'required');
    }
  });

/** Identity sources Zot accepts for client certificates (matched case-insensitively). */
const MTLS_IDENTITY_ATTRIBUTES = ['commonname', 'cn', 'subject', 'dn', 'email', 'rfc822name', 'uri', 'url', 'dnsname', 'dns'];

const mtlsSchema = z
  .strictObject({
    identityAttributes: zStrList.default(['CommonName']),
    uriSanPattern: zStr.optional(),
    uriSanIndex: zNonNegInt.optional(),
    dnsSanIndex: zNonNegInt.optional(),
    emailSanIndex: zNonNegInt.optional(),
  })
  .superRefine((mtls, ctx) => {
    const attrs = mtls.identityAttributes.map((a) => a.trim().toLowerCase());
    attrs.forEach((attr, i) => {
      if (!MTLS_IDENTITY_ATTRIBUTES.includes(attr)) {
        ctx.addIssue({ code: 'custom', path: ['identityAttributes', i], message: 'unsupported identity attribute (expected CommonName, Subject, Email, URI or DNSName)' });
      }
    });
    const usesSan = attrs.includes('uri') || attrs.includes('url');
    for (const key of ['uriSanPattern', 'uriSanIndex', 'dnsSanIndex', 'emailSanIndex'] as const) {
      if (mtls[key] && !usesSan) ctx.addIssue({ code: 'custom', path: [key], message: 'only supported with the URI/URL identity attribute' });
    }
    if (mtls.uriSanPattern && !isValidGoRegex(mtls.uriSanPattern)) {
      ctx.addIssue({ code: 'custom', path: ['uriSanPattern'], message: 'regex does not compile' });
    }
  });

export const authSchema = z
  .strictObject({
    failDelay: zNonNegInt.default(0), // seconds slept before answering a failed login
    htpasswd: z.strictObject({ path: zStr.default('') }).optional(),
    ldap: ldapSchema.optional(),
    bearer: bearerSchema.optional(),
    openid: openIdSchema.optional(),
    apikey: zBool.optional(),
    sessionKeysFile: zStr.optional(),
    sessionDriver: sessionDriverSchema.optional(),
    secureSession: zBool.optional(),
    mtls: mtlsSchema.optional(),
  })
  // OpenID login forces API keys on: clients on the data path need something other than a browser session.
  .transform((auth) => ({ ...auth, apikey: auth.openid !== undefined ? true : (auth.apikey ?? false) }))
  .superRefine((auth, ctx) => {
    if (auth.sessionDriver?.name === 'redis' && auth.sessionKeysFile) {
      ctx.addIssue({ code: 'custom', path: ['sessionKeysFile'], message: 'not supported with the redis sessionDriver' });
    }
  });

export type AuthConfig = z.output<typeof authSchema>;

/** Zot's IsBasicAuthnEnabled: a method that authenticates a username/password or API key. */
export function basicAuthEnabled(auth: AuthConfig | undefined): boolean {
  if (!auth) return false;
  const openid = Object.values(auth.openid?.providers ?? {}).some((p) => p !== undefined);
  return Boolean(auth.htpasswd?.path) || auth.ldap !== undefined || openid || auth.apikey;
}
