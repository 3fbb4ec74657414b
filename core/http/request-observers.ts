import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import type { RequestObservation, RequestObserver } from '../extensions/api';

/** The label of a request no route matched (a 404 for an unknown path), so it adds no series per path. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * The request-metrics seam: observers (extensions' `ctx.http.observe`) hear of every finished request once,
 * with its route template rather than its path, so a histogram per route stays a handful of series. With no
 * observer the middleware adds nothing to a request.
 */
export class RequestObservers {
  #observers: RequestObserver[] = [];

  constructor(private readonly logger: Logger) {}

  /** Adds an observer; the returned function removes it. */
  add(observer: RequestObserver): () => void {
    this.#observers = [...this.#observers, observer];
    return () => {
      this.#observers = this.#observers.filter((o) => o !== observer);
    };
  }

  /**
   * Observes each request to `router`'s routes. A request refused before routing (authentication answers 401
   * ahead of the router) is matched against `router` afterwards, so it is labelled with its route too.
   */
  middleware(router: Router) {
    return async (ctx: Context, next: Next): Promise<void> => {
      if (this.#observers.length === 0) return next();
      const started = process.hrtime.bigint();
      // 'close' also fires when the client went away mid-transfer: such a request is observed too.
      ctx.res.once('close', () => this.#notify(observationOf(ctx, started, router)));
      return next();
    };
  }

  #notify(observation: RequestObservation): void {
    for (const observe of this.#observers) {
      try {
        observe(observation);
      } catch (err) {
        this.logger.warn({ err, route: observation.route }, 'failed to observe request');
      }
    }
  }
}

function observationOf(ctx: Context, started: bigint, router: Router): RequestObservation {
  const { route, name } = routeOf(ctx, router);
  const observation: RequestObservation = {
    method: ctx.method,
    route,
    status: ctx.status,
    durationSeconds: Number(process.hrtime.bigint() - started) / 1e9,
    aborted: !ctx.res.writableFinished,
  };
  // Only the Distribution routes (`/v2/*name/...`) name a repository; @koa/router leaves `*name` whole.
  if (route.startsWith('/v2/*name/') && typeof name === 'string') observation.repo = name;
  if (typeof ctx.length === 'number') observation.bytes = ctx.length;
  return observation;
}

/** The route template the request matched (and its `*name`), found again when it was refused before routing. */
function routeOf(ctx: Context, router: Router): { route: string; name?: unknown } {
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof matched === 'string') return { route: matched, name: (ctx.params as { name?: unknown } | undefined)?.name };
  const layer = router.match(ctx.path, ctx.method).pathAndMethod.find((l) => typeof l.path === 'string' && l.methods.length > 0);
  if (!layer || typeof layer.path !== 'string') return { route: UNMATCHED_ROUTE };
  let name: unknown;
  try {
    name = layer.params(ctx.path, layer.captures(ctx.path)).name;
  } catch {
    name = undefined; // a malformed escape in the path: the route still labels it, without a repository
  }
  return { route: layer.path, name };
}
