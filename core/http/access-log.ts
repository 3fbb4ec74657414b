import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives each request an id (the client's X-Request-Id when sane, echoed back) and a child logger, and writes
 * one access line when the response ends — also when the client went away mid-transfer. Mutating requests
 * also go to the audit log when `log.audit` is set. Headers are never logged (they carry credentials).
 */
export function accessLog(root: Logger, audit: Logger | undefined) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('X-Request-Id');
    const reqId = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.set('X-Request-Id', reqId);
    ctx.state.reqId = reqId;
    ctx.state.log = root.child({ reqId });
    const remote = ctx.request.ip; // read now: the socket may be gone when 'close' fires
    ctx.res.once('close', () => {
      const line = {
        method: ctx.method,
        path: ctx.path,
        query: ctx.querystring || undefined,
        status: ctx.status,
        bytes: typeof ctx.length === 'number' ? ctx.length : undefined,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        user: (ctx.state.user as { user?: string } | undefined)?.user,
        remote,
        aborted: ctx.res.writableFinished ? undefined : true,
      };
      ctx.state.log.info(line, 'request');
      if (audit && MUTATING.has(ctx.method)) audit.info(line, 'audit');
    });
    await next();
  };
}
