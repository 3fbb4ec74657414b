/** The 401/403 answers and their `WWW-Authenticate` challenges (zot-reference §3). */
import { Denied, type RegistryError, Unauthorized } from '../registry/errors';
import type { Action } from '../http/route-helpers';

export interface ChallengeSettings {
  realm: string;
  bearer?: { realm: string; service: string };
}

const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

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
export function denied(settings: ChallengeSettings): RegistryError {
  return Denied(undefined, { 'WWW-Authenticate': challengeHeader(settings) });
}
