import type { BerthConfig } from '../config/schema';
import { DIST_SPEC_VERSION } from '../config/schema';
import { berthVersion } from '../version';
import type { AuthSummary, ServerInfo } from './api';

/** The public part of `http.auth`: which methods are on, and the bearer realm and service clients are sent to. */
export function authSummary(config: BerthConfig): AuthSummary {
  const auth = config.http.auth;
  return {
    htpasswd: Boolean(auth.htpasswd?.path),
    ldap: auth.ldap !== undefined,
    ...(auth.bearer ? { bearer: { realm: auth.bearer.realm, service: auth.bearer.service } } : {}),
    openid: Object.entries(auth.openid?.providers ?? {}).filter(([, p]) => p !== undefined).map(([name]) => name).sort(),
    apikey: auth.apikey === true,
    mtls: Boolean(auth.mtls) || Boolean(config.http.tls?.cert && config.http.tls.key && config.http.tls.cacert),
  };
}

/** `ctx.server` for extensions; `current` gives the config in effect now (swapped by a reload). */
export function serverInfo(current: () => BerthConfig): ServerInfo {
  return { version: berthVersion(), distSpecVersion: DIST_SPEC_VERSION, auth: () => authSummary(current()) };
}
