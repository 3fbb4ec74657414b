/**
 * Zot's `GET /v2/_zot/ext/mgmt` (what zui reads to choose between its home page and its sign-in page, and zli's
 * `server-info`) and the distribution-spec `GET /v2/_oci/ext/discover` listing the `_zot` endpoints served.
 */
import type { AuthSummary, ExtensionContext, RouteRegistrar, ServerInfo } from '../../core/extensions/api';

export const ZOT_ENDPOINTS = ['/v2/_zot/ext/search', '/v2/_zot/ext/userprefs', '/v2/_zot/ext/mgmt'];

/**
 * `http.auth` as Zot's mgmt reports it: `htpasswd: {}` for htpasswd and for LDAP (both sign in with a form),
 * bearer's realm and service, OpenID provider names, `apikey: true`; `{}` when nothing asks for a login, which
 * zui reads as "open the home page".
 */
export function mgmtAuth(auth: AuthSummary): Record<string, unknown> {
  return {
    ...(auth.htpasswd || auth.ldap ? { htpasswd: {} } : {}),
    ...(auth.bearer ? { bearer: { realm: auth.bearer.realm, service: auth.bearer.service } } : {}),
    ...(auth.openid.length > 0 ? { openid: { providers: Object.fromEntries(auth.openid.map((name) => [name, { name }])) } } : {}),
    ...(auth.apikey ? { apikey: true } : {}),
  };
}

export function mgmtBody(server: ServerInfo) {
  return {
    distSpecVersion: server.distSpecVersion,
    commit: '',
    releaseTag: `v${server.version}`,
    // zli lists the features it finds here, split on "-".
    binaryType: `-${['mgmt', 'search', 'userprefs'].join('-')}`,
    http: { auth: mgmtAuth(server.auth()) },
  };
}

export function registerMgmtRoutes(routes: RouteRegistrar, ctx: ExtensionContext<unknown>): void {
  // Public: a browser must learn how to sign in before it has signed in.
  routes.get('/v2/_zot/ext/mgmt', (http) => {
    http.body = mgmtBody(ctx.server);
  }, { access: 'public' });
  routes.get('/v2/_oci/ext/discover', (http) => {
    http.body = {
      extensions: [{
        name: '_zot',
        url: 'https://github.com/project-zot/zot/blob/main/pkg/extensions/_zot.md',
        description: 'zot registry extensions',
        endpoints: ZOT_ENDPOINTS,
      }],
    };
  });
}
