import type { Context, Next } from 'koa';
import { toRegistryError } from '../registry/errors';

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
    ctx.set(error.headers);
    ctx.status = error.status;
    ctx.body = { errors: [error.toJSON()] };
  }
}
