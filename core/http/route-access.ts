import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { RouteAccess } from '../extensions/api';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * Which access a request's route declared (an extension route's `access` option), found before routing:
 * authentication runs ahead of the router, and must know that a route is public or for metrics scrapers.
 * Only the routes that declared one are matched, so every other request costs one empty lookup.
 */
export function routeAccessMiddleware(routes: ReadonlyArray<{ method: Method; path: string; access?: RouteAccess }>) {
  const declared = routes.filter((r) => r.access !== undefined);
  const router = new Router();
  // The layer's name carries the access; the handler never runs (this router is only matched, not mounted).
  for (const r of declared) router[r.method](r.access!, r.path, () => undefined);
  return async (ctx: Context, next: Next): Promise<void> => {
    if (declared.length > 0) {
      const layer = router.match(ctx.path, ctx.method).pathAndMethod.find((l) => l.name !== undefined && l.name !== null);
      if (layer) ctx.state.routeAccess = layer.name as RouteAccess;
    }
    return next();
  };
}

/** The access the request's route declared, if any (see {@link routeAccessMiddleware}). */
export function routeAccessOf(ctx: Context): RouteAccess | undefined {
  return ctx.state.routeAccess as RouteAccess | undefined;
}
