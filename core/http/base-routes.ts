import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Registry } from '../registry/registry';
import type { ReadinessReport } from './readiness';
import { type AccessControl, pageParams, setNextLink } from './route-helpers';

export interface HealthState {
  started: boolean;
  ready: boolean;
  /** The stores' and MetaStore's reachability (readiness.ts), asked only while `ready`. */
  reachable?: () => Promise<ReadinessReport>;
}

/** `/v2/`, `_catalog` and Zot's health probes. */
export function registerBaseRoutes(router: Router, registry: Registry, access: AccessControl, health: HealthState): void {
  const base = (ctx: Context) => {
    ctx.set('Docker-Distribution-API-Version', 'registry/2.0');
    ctx.type = 'application/json';
    ctx.body = {};
  };
  router.get('/v2/', base);
  router.get('/v2', base);

  // Pages from the catalog index (a range read at any size), filled with the names the caller may read.
  router.get('/v2/_catalog', async (ctx) => {
    const { n, last } = pageParams(ctx);
    const { repos, more } = await registry.catalogPage(n, last, (names) => access.readable(ctx, names));
    if (more && n !== undefined) setNextLink(ctx, '/v2/_catalog', n, repos[repos.length - 1]);
    ctx.body = { repositories: repos };
  });

  router.get('/livez', (ctx) => {
    ctx.body = 'ok';
  });
  router.get('/readyz', async (ctx) => {
    if (!health.ready) {
      ctx.status = 503;
      ctx.body = 'not ready';
      return;
    }
    const report = await health.reachable?.();
    if (!report || report.ok) {
      ctx.body = 'ok';
      return;
    }
    ctx.status = 503;
    ctx.set('Retry-After', '1');
    ctx.body = { status: 'unavailable', checks: report.checks };
  });
  router.get('/startupz', (ctx) => {
    ctx.status = health.started ? 200 : 503;
    ctx.body = health.started ? 'ok' : 'starting';
  });
}
