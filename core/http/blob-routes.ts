import { pipeline } from 'node:stream';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { pacedPassThrough } from '../registry/young-gc';
import { parseDigest, type ParsedDigest } from '../registry/digest';
import { BlobUnknown, RegistryError } from '../registry/errors';
import type { Registry } from '../registry/registry';
import { type AccessControl, noContent, repoName } from './route-helpers';

/** Blob GET/HEAD (with single byte ranges) and DELETE. */
export function registerBlobRoutes(router: Router, registry: Registry, access: AccessControl, opts: { redirect: boolean }): void {
  const serve = async (ctx: Context) => {
    const repo = repoName(ctx);
    const digest = parseDigest(ctx.params.digest);
    await access.require(ctx, repo, 'read');
    const ns = typeof ctx.query.ns === 'string' ? ctx.query.ns : undefined;
    if (ctx.method === 'HEAD') {
      // A HEAD asks whether the blob exists and how big it is: a miss asks upstream with a HEAD, never a fill.
      const size = await registry.blobSize(repo, digest, ns);
      if (await redirected(ctx, repo, digest, ns)) return;
      describeBlob(ctx, digest, size);
      ctx.status = 200;
      if (size !== undefined) ctx.length = size;
      return;
    }
    const blob = await registry.fetchBlob(repo, digest, ns);
    if (await redirected(ctx, repo, digest, ns)) return;
    const size = blob.size;
    const range = describeBlob(ctx, digest, size);
    ctx.status = range ? 206 : 200;
    if (range) ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    if (size !== undefined) ctx.length = range ? range.end - range.start + 1 : size;
    if (blob.sendTo && size !== undefined) {
      // koa's stream piping allocates a buffer per read; the driver writes into the socket with reused ones.
      ctx.respond = false;
      try {
        await blob.sendTo(ctx.res, range);
        ctx.res.end();
      } catch (err) {
        if (!ctx.res.headersSent) {
          ctx.respond = true;
          throw (err as { code?: string }).code === 'ENOENT' ? BlobUnknown({ digest: digest.digest }) : err;
        }
        ctx.res.destroy(); // the client sees a short body, never a complete wrong one
        if (!ctx.req.destroyed) ctx.state.log?.warn({ err }, 'failed to send blob');
      }
    } else {
      // Each chunk such a stream reads is a fresh Buffer: counted, so young GCs keep pace (young-gc.ts).
      ctx.body = pipeline(await blob.open(range), pacedPassThrough(), () => undefined);
    }
    if (size !== undefined) registry.emitBlobPulled(repo, digest.digest, size);
  };
  router.get('/v2/*name/blobs/:digest', serve);

  /**
   * With `redirectBlobURL`, a whole-blob request for a blob committed to the local repository goes to the
   * driver's URL; one still being filled from upstream is served from the fill (nothing is in the bucket yet).
   */
  const redirected = async (ctx: Context, repo: string, digest: ParsedDigest, ns: string | undefined): Promise<boolean> => {
    if (!opts.redirect || ctx.get('Range')) return false;
    const url = await registry.blobRedirectURL(repo, digest, ns, ctx.method === 'HEAD' ? 'HEAD' : 'GET');
    if (!url) return false;
    ctx.status = 307;
    ctx.redirect(url);
    return true;
  };

  router.delete('/v2/*name/blobs/:digest', async (ctx) => {
    const repo = repoName(ctx);
    const digest = parseDigest(ctx.params.digest);
    await access.require(ctx, repo, 'delete');
    await registry.deleteBlob(repo, digest);
    noContent(ctx, 202);
  });
}

/** The headers every blob answer carries; returns the satisfiable range asked for (416 when it is not). */
function describeBlob(ctx: Context, digest: ParsedDigest, size: number | undefined): { start: number; end: number } | undefined {
  ctx.set('Docker-Content-Digest', digest.digest);
  ctx.set('ETag', `"${digest.digest}"`);
  ctx.set('Cache-Control', 'max-age=31536000');
  ctx.set('Accept-Ranges', 'bytes');
  ctx.type = 'application/octet-stream';
  const range = size === undefined ? undefined : parseRange(ctx.get('Range'), size);
  if (range === 'unsatisfiable') {
    ctx.set('Content-Range', `bytes */${size}`);
    throw new RegistryError('BLOB_UNKNOWN', 416, 'requested range not satisfiable', { range: ctx.get('Range'), size });
  }
  return range;
}

/**
 * One `bytes=a-b`, `bytes=a-` or `bytes=-n` range; undefined (serve it all, as RFC 9110 allows) for
 * none, a malformed header or several ranges.
 */
export function parseRange(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}
