/**
 * The AccessControl every route calls, over the request's auth snapshot. Identities from `http.auth.bearer`
 * tokens are judged by their token's `access` claims only; those from berth's own tokens by the claims and
 * then the policies (a `push` grant covers both a new tag and an overwrite, which only `update` allows);
 * everyone else by `http.accessControl` (or, without it: authenticated → all).
 * Denials reveal nothing about the repository: the same 401/403 whether it exists or not.
 */
import type { Context } from 'koa';
import type { Identity } from '../extensions/api';
import type { AccessControl, Action } from '../http/route-helpers';
import type { AuthMetrics } from './auth-metrics';
import type { AuthState } from './auth-state';
import { sleep } from './auth-middleware';
import { bearerScope, denied, dockerActionOf, requestSettings, unauthorized } from './challenge';
import { TOKEN_VIA } from './token-service';


export function createAccessControl(current: () => AuthState, metrics: AuthMetrics): AccessControl {
  const snapshot = (ctx: Context): AuthState => (ctx.state.auth as AuthState | undefined) ?? current();
  const allowed = (state: AuthState, identity: Identity | undefined, repo: string, action: Action): boolean => {
    if (identity?.via === TOKEN_VIA) {
      return tokenGrants(identity, repo, dockerActionOf(action)) && state.policy?.allows(identity, repo, action) === true;
    }
    if (identity?.access) return tokenGrants(identity, repo, dockerActionOf(action));
    if (state.bearer) return false;
    if (state.policy) return state.policy.allows(identity, repo, action);
    return identity !== undefined || !state.enabled;
  };
  return {
    async require(ctx, repo, action) {
      const state = snapshot(ctx);
      const identity = ctx.state.user as Identity | undefined;
      if (allowed(state, identity, repo, action)) return;
      // Zot delays every authorization failure, so timing does not tell a denied name from an unknown one.
      if (state.failDelayMs > 0) await sleep(state.failDelayMs);
      const settings = requestSettings(state.settings, ctx);
      // A token lacking a scope is answered with a challenge for it, so the client fetches a better token.
      if (state.bearer) throw unauthorized(settings, bearerScope(repo, action), identity !== undefined);
      const scope = state.tokens ? bearerScope(repo, action) : '';
      if (!identity) throw unauthorized(settings, scope);
      metrics.failures.inc({ reason: 'denied' });
      throw denied(settings, scope, identity.via === TOKEN_VIA);
    },
    async requireMetrics(ctx) {
      const state = snapshot(ctx);
      const identity = ctx.state.user as Identity | undefined;
      // Zot's MetricsAuthzHandler: no auth, anyone; auth without accessControl, anyone authenticated (the
      // middleware let no one else through); else accessControl.metrics decides.
      if (!state.enabled || (identity && !state.policy) || state.policy?.allowsMetrics(identity)) return;
      if (state.failDelayMs > 0) await sleep(state.failDelayMs);
      const settings = requestSettings(state.settings, ctx);
      if (!identity) throw unauthorized(settings);
      metrics.failures.inc({ reason: 'denied' });
      throw denied(settings);
    },
    async readable(ctx, repos) {
      const state = snapshot(ctx);
      const identity = ctx.state.user as Identity | undefined;
      // A listing is the caller's, whatever scope the token was fetched for: berth's tokens by policy alone.
      if (identity?.via === TOKEN_VIA) return repos.filter((repo) => state.policy?.allows(identity, repo, 'read') === true);
      return repos.filter((repo) => allowed(state, identity, repo, 'read'));
    },
  };
}

function tokenGrants(identity: Identity, repo: string, action: string): boolean {
  return (identity.access ?? []).some(
    (c) => c.type === 'repository' && c.name === repo && (c.actions.includes(action) || c.actions.includes('*')),
  );
}
