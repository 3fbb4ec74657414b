/** The 401/403 answers and their `WWW-Authenticate` challenges (zot-reference §3). */
import type { Context } from 'koa';
import { Denied, type RegistryError, Unauthorized } from '../registry/errors';
import type { Action } from '../http/route-helpers';
import { TOKEN_PATH, TOKEN_SERVICE } from './token-service';

export interface ChallengeSettings {
  realm: string;
  bearer?: { realm: string; service: string };
  /**
   * berth's own token service is in use: challenges are `Bearer` with a realm made per request (see
   * {@link requestSettings}); `externalUrl` is `http.externalUrl` ('' when unset).
   */
  tokens?: { externalUrl: string };
}

const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

/** Docker's token actions and the Zot actions each stands for: `push` covers new tags (create) and overwrites (update). */
export const ZOT_ACTIONS_OF: Readonly<Record<string, readonly Action[]>> = { pull: ['read'], push: ['create', 'update'], delete: ['delete'] };

/** The Docker token action that carries a Zot action (the inverse of {@link ZOT_ACTIONS_OF}). */
export function dockerActionOf(action: Action): string {
  return Object.keys(ZOT_ACTIONS_OF).find((docker) => ZOT_ACTIONS_OF[docker]!.includes(action))!;
}

/** Docker token scopes for an action on a repository. */
export function bearerScope(repo: string, action: Action): string {
  if (action === 'read') return `repository:${repo}:pull`;
  if (action === 'delete') return `repository:${repo}:delete`;
  return `repository:${repo}:pull,push`;
}

/**
 * The scope a request needs, read from its route, for challenges raised before any route runs
 * (`/v2/` asks for none, as Distribution and Zot send `scope=""` there).
 */
export function scopeOfRequest(method: string, path: string): string {
  if (path === '/v2/_catalog') return 'registry:catalog:*';
  const m = /^\/v2\/(.+?)\/(manifests|blobs|tags|referrers)\//.exec(path);
  if (!m) return '';
  const action: Action = method === 'GET' || method === 'HEAD' ? 'read' : method === 'DELETE' ? 'delete' : 'create';
  return bearerScope(m[1]!, action);
}

/**
 * The settings to challenge this request with. With berth's token service, the realm must be an absolute URL
 * the client can reach: `http.externalUrl` when set, else the scheme and `Host` the request came with.
 * Its own endpoint challenges for Basic credentials, which is what it exchanges for tokens.
 */
export function requestSettings(settings: ChallengeSettings, ctx: Context): ChallengeSettings {
  if (!settings.tokens) return settings;
  if (ctx.path === TOKEN_PATH) return { realm: settings.realm };
  const base = settings.tokens.externalUrl.replace(/\/+$/, '') || `${ctx.protocol}://${ctx.host}`;
  return { realm: settings.realm, bearer: { realm: `${base}${TOKEN_PATH}`, service: TOKEN_SERVICE } };
}

export function challengeHeader(settings: ChallengeSettings, scope = '', insufficient = false): string {
  if (settings.bearer) {
    const error = insufficient ? `,error="insufficient_scope"` : '';
    return `Bearer realm=${quote(settings.bearer.realm)},service=${quote(settings.bearer.service)},scope=${quote(scope)}${error}`;
  }
  return `Basic realm=${quote(settings.realm)}`;
}

/** 401: missing or wrong credentials, or an anonymous request the policies do not allow. */
export function unauthorized(settings: ChallengeSettings, scope = '', insufficient = false): RegistryError {
  return Unauthorized(undefined, { 'WWW-Authenticate': challengeHeader(settings, scope, insufficient) });
}

/** 403: authenticated, but not allowed; the challenge stays so a client may retry as someone else. */
export function denied(settings: ChallengeSettings, scope = '', insufficient = false): RegistryError {
  return Denied(undefined, { 'WWW-Authenticate': challengeHeader(settings, scope, insufficient) });
}
