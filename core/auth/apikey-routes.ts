/**
 * Zot's API key routes: `POST /zot/auth/apikey` (`{label, scopes, expirationDate}` → 201 with the key, shown
 * once), `GET` (the caller's keys, never the key itself) and `DELETE ?id=<uuid>`. Only the caller's own keys.
 */
import type { Context } from 'koa';
import type { MountedRoute } from '../extensions/host';
import { RegistryError, Unauthorized } from '../registry/errors';
import type { ApiKeyManager, Identity } from '../extensions/api';

export type { ApiKeyDetails, ApiKeyManager, NewApiKey } from '../extensions/api';

const BadRequest = (reason: string) => new RegistryError('BAD_REQUEST', 400, 'invalid request', { reason });

/** The routes; `manager()` is asked per request, so a reload that turns API keys off takes effect at once. */
export function apiKeyRoutes(manager: () => ApiKeyManager | undefined, groupsOf: (id: Identity) => string[]): MountedRoute[] {
  const owner = (ctx: Context): { keys: ApiKeyManager; user: Identity } => {
    const keys = manager();
    if (!keys) {
      ctx.status = 404;
      throw new RegistryError('NOT_FOUND', 404, 'api keys are not enabled (http.auth.apikey)');
    }
    const user = ctx.state.user as Identity | undefined;
    // A token's grants are its own scope; keys are for users who logged in.
    if (!user || user.access) throw Unauthorized();
    return { keys, user };
  };
  const path = '/zot/auth/apikey';
  return [
    {
      method: 'post', path, extension: 'auth.apikey',
      handler: async (ctx) => {
        const { keys, user } = owner(ctx);
        const body = await readJson(ctx);
        const label = typeof body.label === 'string' ? body.label : '';
        const scopes = Array.isArray(body.scopes) ? body.scopes.filter((s): s is string => typeof s === 'string') : [];
        let expirationDate: Date | undefined;
        if (typeof body.expirationDate === 'string' && body.expirationDate !== '') {
          expirationDate = new Date(body.expirationDate);
          if (Number.isNaN(expirationDate.getTime())) throw BadRequest('expirationDate must be an RFC 3339 time');
        }
        const made = await keys.create(user.user, groupsOf(user), { label, scopes, expirationDate, userAgent: ctx.get('User-Agent') });
        ctx.status = 201;
        ctx.body = { ...made.details, apiKey: made.apiKey };
      },
    },
    {
      method: 'get', path, extension: 'auth.apikey',
      handler: async (ctx) => {
        const { keys, user } = owner(ctx);
        ctx.body = { apiKeys: await keys.list(user.user) };
      },
    },
    {
      method: 'delete', path, extension: 'auth.apikey',
      handler: async (ctx) => {
        const { keys, user } = owner(ctx);
        const id = typeof ctx.query.id === 'string' ? ctx.query.id : '';
        if (id === '') throw BadRequest('id is required');
        if (!(await keys.revoke(user.user, id))) throw new RegistryError('NOT_FOUND', 404, 'api key not found');
        ctx.status = 200;
        ctx.body = '';
      },
    },
  ];
}

async function readJson(ctx: Context): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw BadRequest('body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw BadRequest('body must be a JSON object');
}
