import type { Context, Next } from 'koa';
import { toRegistryError } from '../registry/errors';

/**
 * Zot's web UI marks its requests `X-ZOT-API-CLIENT: zot-ui` and signs in with its own form; as Zot does, its
 * 401s carry no `WWW-Authenticate`, which would make the browser open its own login dialog over the page.
 */
function withoutChallengeForUi(ctx: Context, headers: Record<string, string>): Record<string, string> {
  if (ctx.get('x-zot-api-client') !== 'zot-ui' || !('WWW-Authenticate' in headers)) return headers;
  const { 'WWW-Authenticate': _challenge, ...rest } = headers;
  return rest;
}

/** The one place registry errors become HTTP: `{"errors":[{code,message,detail}]}` with the error's status. */
export async function errorMiddleware(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
    if (ctx.body === undefined && ctx.status === 404) {
      ctx.status = 404;
      ctx.body = { errors: [{ code: 'NOT_FOUND', message: 'no route for this request' }] };
    } else if (ctx.body === undefined && ctx.status === 405) {
      ctx.status = 405;
      ctx.body = { errors: [{ code: 'UNSUPPORTED', message: 'method not allowed on this route' }] };
    }
  } catch (err) {
    const { error, unexpected } = toRegistryError(err);
    if (unexpected) {
      const aborted = ctx.req.destroyed || (err as NodeJS.ErrnoException)?.code === 'ECONNRESET' || (err as Error)?.message === 'aborted';
      if (aborted) ctx.state.log?.info({ err }, 'client aborted the request');
      else ctx.state.log?.error({ err }, 'failed to handle request');
    }
    if (ctx.headerSent || !ctx.writable) return;
    // An error is about this request: never cached (a blob route may have set a year-long Cache-Control, and
    // a shared cache must not hand one client's challenge, with its realm, to another).
    ctx.set('Cache-Control', 'no-store');
    ctx.set(withoutChallengeForUi(ctx, error.headers));
    ctx.status = error.status;
    ctx.body = { errors: [error.toJSON()] };
  }
}
