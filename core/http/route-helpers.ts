import type { Context } from 'koa';
import type { Readable } from 'node:stream';
import { assertRepositoryName } from '../registry/names';
import type { RequestOrigin } from '../extensions/api';
import { ManifestTooLarge, PaginationInvalid } from '../registry/errors';

export type Action = 'read' | 'create' | 'update' | 'delete';

/**
 * Decides whether the request may do `action` on `repo`; throws UNAUTHORIZED / DENIED otherwise. The core's
 * default allows everything; the auth layer replaces it.
 */
export interface AccessControl {
  require(ctx: Context, repo: string, action: Action): Promise<void>;
  /** Filters a list of repositories down to those the request may read. */
  readable(ctx: Context, repos: string[]): Promise<string[]>;
  /** Throws UNAUTHORIZED / DENIED unless the request may read metrics (a route with `access: 'metrics'`). */
  requireMetrics(ctx: Context): Promise<void>;
}

export const allowAll: AccessControl = {
  require: async () => undefined,
  readable: async (_ctx, repos) => repos,
  requireMetrics: async () => undefined,
};

/** The repository name from the route, validated against the spec grammar before it touches a path. */
export function repoName(ctx: Context): string {
  const raw = (ctx.params as { name?: string | string[] }).name;
  return assertRepositoryName(Array.isArray(raw) ? raw.join('/') : String(raw ?? ''));
}

/** Who made the request, for events (as Zot: the socket's `ip:port`, the method and User-Agent, the user). */
export function requestOrigin(ctx: Context): RequestOrigin {
  const { remoteAddress, remotePort } = ctx.req.socket;
  const addr = remoteAddress?.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
  const user = (ctx.state.user as { user?: string } | undefined)?.user;
  const userAgent = ctx.get('User-Agent');
  return { ...(user ? { user } : {}), addr, method: ctx.method, ...(userAgent ? { userAgent } : {}) };
}

/** Ends the response with a status and no body (koa would otherwise write a text status message). */
export function noContent(ctx: Context, status: number): void {
  ctx.body = '';
  ctx.status = status;
  ctx.remove('Content-Type');
}

/** Reads a small request body (a manifest) whole, refusing anything over `limit` bytes. */
export async function readLimited(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      stream.resume();
      throw ManifestTooLarge({ limit });
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** `n` and `last` of a paginated listing (tags/list, _catalog); PAGINATION_NUMBER_INVALID for a bad `n`. */
export function pageParams(ctx: Context): { n: number | undefined; last: string | undefined } {
  const nRaw = ctx.query.n;
  const last = typeof ctx.query.last === 'string' ? ctx.query.last : undefined;
  if (nRaw === undefined) return { n: undefined, last };
  if (typeof nRaw !== 'string' || !/^\d+$/.test(nRaw)) throw PaginationInvalid({ n: nRaw });
  return { n: Number(nRaw), last };
}

/** The Link header to the page after the one that ended with `lastName`. */
export function setNextLink(ctx: Context, basePath: string, n: number, lastName: string): void {
  const next = new URLSearchParams({ n: String(n), last: lastName });
  ctx.set('Link', `<${basePath}?${next.toString()}>; rel="next"`);
}

/** `n` and `last` of a paginated listing over a list in memory, then the page and its Link header. */
export function paginate(ctx: Context, all: string[], basePath: string): string[] {
  const { n, last } = pageParams(ctx);
  const start = last === undefined ? all : all.filter((x) => x > last);
  if (n === undefined) return start;
  const page = start.slice(0, n);
  if (n > 0 && start.length > n) setNextLink(ctx, basePath, n, page[page.length - 1]);
  return page;
}
