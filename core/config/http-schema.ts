/**
 * `http`: listener, TLS, authentication (auth-schema), authorization (access-control-schema), rate limits and
 * media-type compatibility. Zot keeps `port` a string; a number (YAML's unquoted `port: 5000`) is accepted and
 * normalised to its decimal string.
 */
import { z } from 'zod';
import { accessControlSchema } from './access-control-schema';
import { authSchema } from './auth-schema';
import { zDuration, zInt, zStr } from './zot-scalars';

const MINUTE_MS = 60_000;

export const tlsSchema = z.strictObject({
  cert: zStr.optional(),
  key: zStr.optional(),
  // With cacert, client certificates are verified (mTLS) but stay optional unless auth.mtls needs them.
  cacert: zStr.optional(),
});

export type TlsConfig = z.output<typeof tlsSchema>;

const ratelimitSchema = z.strictObject({
  rate: zInt.refine((n) => n > 0, { message: 'must be positive' }).optional(), // requests per second per client IP
  methods: z
    .array(z.strictObject({ method: z.string().transform((m) => m.toUpperCase()), rate: zInt.refine((n) => n > 0, { message: 'must be positive' }) }))
    .default([]),
});

export const COMPAT_MODES = ['docker2s2'] as const;

export const httpSchema = z
  .strictObject({
    address: zStr.default('127.0.0.1'),
    port: zStr.default('8080'),
    externalUrl: zStr.default(''), // public URL, used for OpenID redirects
    // Zot sends "Authorization Required" when realm is empty.
    realm: zStr.transform((r) => (r === '' ? 'Authorization Required' : r)).default('Authorization Required'),
    allowOrigin: zStr.default(''), // CORS; empty means "*"
    // Whole-request deadlines (Zot ≥ v2.1.17 defaults both to 60s); ≤ 0 disables.
    readTimeout: zDuration.default(MINUTE_MS),
    writeTimeout: zDuration.default(MINUTE_MS),
    tls: tlsSchema.optional(),
    auth: authSchema.prefault({}),
    accessControl: accessControlSchema.optional(),
    ratelimit: ratelimitSchema.optional(),
    compat: z.array(z.enum(COMPAT_MODES)).default([]),
  })
  .superRefine((http, ctx) => {
    const port = http.port.trim();
    if (!/^[-+]?\d+$/.test(port) || Number(port) < 0 || Number(port) > 65535) {
      ctx.addIssue({ code: 'custom', path: ['port'], message: `invalid port ${JSON.stringify(http.port)} (expected 0-65535; 0 picks a free port)` });
    }
  })
  .transform((http) => ({ ...http, port: String(Number(http.port.trim())) }));

export type HttpConfig = z.output<typeof httpSchema>;

/** TLS is served when both cert and key are set, as in Zot. */
export function tlsEnabled(tls: TlsConfig | undefined): tls is TlsConfig & { cert: string; key: string } {
  return Boolean(tls?.cert && tls.key);
}
