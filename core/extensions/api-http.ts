/** The extension API's HTTP side: routes, the access check for them, request observers (see api.ts). */
import type { Context as KoaContext } from 'koa';

/** A koa context; `ctx.state.user` holds the authenticated identity when there is one. */
export type HttpContext = KoaContext;
export type RouteHandler = (ctx: HttpContext) => Promise<void> | void;

export type AccessAction = 'read' | 'create' | 'update' | 'delete';

/**
 * The core's authorization for an extension's routes. The core authenticates every request before an
 * extension's handler runs, but only the extension knows which repository a route touches: call these.
 */
export interface AccessCheck {
  /** Throws UNAUTHORIZED (401 with the challenge) or DENIED (403) unless the request may do `action` on `repo`. */
  require(ctx: HttpContext, repo: string, action: AccessAction): Promise<void>;
  /** The repositories among `repos` that the request may read (for listings and search results). */
  readable(ctx: HttpContext, repos: string[]): Promise<string[]>;
}

/**
 * Who may call a route, when the core decides it rather than the handler:
 * - `metrics`: a Prometheus scrape, as Zot guards its metrics route. With authentication on, the caller is
 *   authenticated as on any route and must be one of `http.accessControl.metrics.users`; an anonymous one gets
 *   in only with `metrics.anonymousPolicy: ["read"]`. Otherwise 401 (anonymous) or 403, with the challenge.
 *   Without `accessControl`, any authenticated caller; without authentication, anyone.
 * - `public`: anyone; no authentication runs, even with credentials sent (`ctx.state.user` stays unset), as
 *   for the health probes.
 * Without it, the core authenticates as on /v2 and the handler authorizes with {@link AccessCheck}.
 */
export type RouteAccess = 'metrics' | 'public';

export interface RouteOptions {
  access?: RouteAccess;
}

/**
 * Mounts HTTP handlers. Paths use @koa/router syntax (`/v2/_zot/ext/x`, `/items/:id`). The core applies
 * request ids, access logging, authentication and OCI error mapping around them: throw a {@link RegistryError}
 * (see `berth` exports) to answer with OCI error JSON.
 */
export interface RouteRegistrar {
  get(path: string, handler: RouteHandler, opts?: RouteOptions): void;
  post(path: string, handler: RouteHandler, opts?: RouteOptions): void;
  put(path: string, handler: RouteHandler, opts?: RouteOptions): void;
  patch(path: string, handler: RouteHandler, opts?: RouteOptions): void;
  delete(path: string, handler: RouteHandler, opts?: RouteOptions): void;
}

/** One finished HTTP request, as {@link RequestObserver}s hear of it. */
export interface RequestObservation {
  method: string;
  /**
   * The @koa/router path template that matched (`/v2/*name/manifests/:reference`, `/metrics`), or `unmatched`:
   * a stable, low-cardinality label, never the raw path.
   */
  route: string;
  status: number;
  /** From the request's arrival to the end of its response (or the client hanging up). */
  durationSeconds: number;
  /** The repository a Distribution route (`/v2/<name>/manifests|blobs|tags|referrers/...`) names. */
  repo?: string;
  /** The response body's length, when it was known (Content-Length). */
  bytes?: number;
  /** The client went away before the response ended. */
  aborted: boolean;
}

/**
 * Called once per finished request, synchronously on the response's `close`: count or observe, never wait or
 * do I/O (every request pays for it). A throw is logged and ignored.
 */
export type RequestObserver = (observation: RequestObservation) => void;
