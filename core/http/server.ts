import Koa from 'koa';
import Router from '@koa/router';
import type { Logger } from 'pino';
import type { MountedRoute } from '../extensions/host';
import type { Registry } from '../registry/registry';
import { accessLog } from './access-log';
import { registerBaseRoutes, type HealthState } from './base-routes';
import { registerBlobRoutes } from './blob-routes';
import { errorMiddleware } from './error-middleware';
import { idleTimeoutSpansClientOnly } from './idle-timeout';
import { registerManifestRoutes } from './manifest-routes';
import type { AccessControl } from './route-helpers';
import { registerUploadRoutes } from './upload-routes';
import type { RequestObservers } from './request-observers';
import { routeAccessMiddleware } from './route-access';

export interface HttpAppOptions {
  logger: Logger;
  audit?: Logger;
  registry: Registry;
  access: AccessControl;
  health: HealthState;
  extensionRoutes: MountedRoute[];
  /** Middleware run before routing (authentication); it sets ctx.state.user. */
  before?: Koa.Middleware[];
  redirectBlobs: boolean;
  /** Extensions' request observers (`ctx.http.observe`), told of every finished request. */
  requests?: RequestObservers;
}

/**
 * The koa application: the idle timeout's span, request observers, request id + access log, OCI error mapping, the access extension
 * routes declared, authentication, then extension and Distribution routes.
 */
export function createHttpApp(opts: HttpAppOptions): Koa {
  const app = new Koa();
  app.silent = true; // errors are logged once by errorMiddleware, not again by koa
  const router = new Router();
  for (const r of opts.extensionRoutes) {
    if (r.access === 'metrics') router[r.method](r.path, (ctx, next) => opts.access.requireMetrics(ctx).then(next), r.handler);
    else router[r.method](r.path, r.handler);
  }
  registerBaseRoutes(router, opts.registry, opts.access, opts.health);
  registerUploadRoutes(router, opts.registry, opts.access);
  registerBlobRoutes(router, opts.registry, opts.access, { redirect: opts.redirectBlobs });
  registerManifestRoutes(router, opts.registry, opts.access);
  app.use(idleTimeoutSpansClientOnly);
  if (opts.requests) app.use(opts.requests.middleware(router));
  app.use(accessLog(opts.logger, opts.audit));
  app.use(errorMiddleware);
  app.use(routeAccessMiddleware(opts.extensionRoutes));
  for (const m of opts.before ?? []) app.use(m);
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
