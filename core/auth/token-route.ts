/**
 * `GET /berth/auth/token?service=berth&scope=repository:<name>:pull,push`: the token endpoint of berth's own
 * token service. The auth middleware has already checked any Basic credentials (a wrong password is a 401
 * before this runs); without them the caller is anonymous. The token carries, per requested scope, the
 * Docker actions the policies grant this caller now; a scope nothing grants is left out, and a request
 * without scopes (what `docker login` sends) still gets a token, with no grants.
 */
import type { Context } from 'koa';
import type { Identity } from '../extensions/api';
import type { MountedRoute } from '../extensions/host';
import { RegistryError } from '../registry/errors';
import { isRepositoryName } from '../registry/names';
import type { AuthMetrics } from './auth-metrics';
import type { AuthState } from './auth-state';
import type { PolicyEngine } from './policy-engine';
import { ZOT_ACTIONS_OF } from './challenge';
import { type AccessGrant, TOKEN_PATH } from './token-service';


export function tokenRoute(metrics: AuthMetrics): MountedRoute {
  return {
    method: 'get',
    path: TOKEN_PATH,
    extension: 'auth.token',
    handler: async (ctx: Context) => {
      const state = ctx.state.auth as AuthState;
      if (!state.tokens || !state.policy) throw new RegistryError('NOT_FOUND', 404, 'the token service is not in use');
      // Basic credentials or none: the middleware accepts no token here, so a token never buys another one.
      const identity = ctx.state.user as Identity | undefined;
      const access = grantsFor(state.policy, identity, requestedScopes(ctx.query.scope));
      const issued = await state.tokens.issue(identity, access);
      metrics.tokensIssued.inc();
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt };
    },
  };
}

/** `scope` may repeat, and some clients join several with spaces (RFC 6749 3.3). */
function requestedScopes(raw: string | string[] | undefined): string[] {
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return values.flatMap((v) => v.split(' ')).filter((s) => s !== '');
}

/** The grants for `scopes` that the policies give `identity` (undefined: anonymous). */
export function grantsFor(policy: PolicyEngine, identity: Identity | undefined, scopes: string[]): AccessGrant[] {
  const granted = new Map<string, AccessGrant>();
  const add = (type: string, name: string, actions: string[]) => {
    const key = `${type}:${name}`;
    const held = granted.get(key);
    if (held) held.actions = [...new Set([...held.actions, ...actions])];
    else granted.set(key, { type, name, actions });
  };
  for (const scope of scopes) {
    // type:name:actions, where the type may carry a class (`repository(plugin)`) and names have no colon.
    const m = /^([a-z0-9]+)(?:\([a-z0-9]+\))?:([^:]+):([a-z*,]+)$/.exec(scope);
    if (!m) continue;
    const [, type, name, list] = m as unknown as [string, string, string, string];
    const wanted = list.split(',');
    if (type === 'registry' && name === 'catalog' && wanted.includes('*')) {
      add(type, name, ['*']); // the listing itself shows only what the caller may read
      continue;
    }
    if (type !== 'repository' || !isRepositoryName(name)) continue;
    const actions = (wanted.includes('*') ? Object.keys(ZOT_ACTIONS_OF) : wanted).filter((a) =>
      (ZOT_ACTIONS_OF[a] ?? []).some((zot) => policy.allows(identity, name, zot)),
    );
    if (actions.length > 0) add(type, name, actions);
  }
  return [...granted.values()];
}
