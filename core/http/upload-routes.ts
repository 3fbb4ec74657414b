import type Router from '@koa/router';
import type { Context } from 'koa';
import { parseDigest } from '../registry/digest';
import { DigestInvalid, RangeInvalid } from '../registry/errors';
import type { Registry } from '../registry/registry';
import { type AccessControl, noContent, repoName } from './route-helpers';

/** Blob uploads: monolithic, POST+PUT, chunked PATCH, status, cancel, cross-repository mount. */
export function registerUploadRoutes(router: Router, registry: Registry, access: AccessControl): void {
  const start = async (ctx: Context) => {
    const repo = repoName(ctx);
    await access.require(ctx, repo, 'create');
    const { digest, mount, from } = ctx.query;
    if (typeof mount === 'string' && typeof from === 'string') {
      const d = parseDigest(mount);
      // Mounting reveals the source's content: the caller must be able to read it.
      const allowed = await access.require(ctx, from, 'read').then(() => true, () => false);
      if (allowed && (await registry.mountBlob(repo, from, d).catch(() => false))) {
        return blobCreated(ctx, repo, d.digest);
      }
      // Spec: when the mount cannot happen, fall back to an ordinary upload session (202).
    }
    if (typeof digest === 'string') {
      const d = parseDigest(digest);
      await registry.putBlob(repo, d.digest, ctx.req, contentLength(ctx));
      return blobCreated(ctx, repo, d.digest);
    }
    const id = await registry.uploads.start(repo);
    uploadAccepted(ctx, repo, id, 0);
  };
  router.post('/v2/*name/blobs/uploads/', start);
  router.post('/v2/*name/blobs/uploads', start);

  router.get('/v2/*name/blobs/uploads/:uuid', async (ctx) => {
    const repo = repoName(ctx);
    await access.require(ctx, repo, 'read');
    const size = await registry.uploads.status(repo, ctx.params.uuid);
    uploadAccepted(ctx, repo, ctx.params.uuid, size);
    ctx.status = 204;
  });

  router.patch('/v2/*name/blobs/uploads/:uuid', async (ctx) => {
    const repo = repoName(ctx);
    await access.require(ctx, repo, 'create');
    const size = await registry.uploads.append(repo, ctx.params.uuid, ctx.req, contentRange(ctx));
    uploadAccepted(ctx, repo, ctx.params.uuid, size);
  });

  router.put('/v2/*name/blobs/uploads/:uuid', async (ctx) => {
    const repo = repoName(ctx);
    await access.require(ctx, repo, 'create');
    if (typeof ctx.query.digest !== 'string') throw DigestInvalid({ reason: 'the digest query parameter is required' });
    const d = parseDigest(ctx.query.digest);
    const hasBody = (contentLength(ctx) ?? 0) > 0 || ctx.get('Transfer-Encoding') !== '';
    await registry.finishUpload(repo, ctx.params.uuid, d, hasBody ? ctx.req : undefined, hasBody ? contentRange(ctx) : undefined);
    blobCreated(ctx, repo, d.digest);
  });

  router.delete('/v2/*name/blobs/uploads/:uuid', async (ctx) => {
    const repo = repoName(ctx);
    await access.require(ctx, repo, 'delete');
    await registry.uploads.cancel(repo, ctx.params.uuid);
    noContent(ctx, 204);
  });
}

function uploadAccepted(ctx: Context, repo: string, id: string, size: number): void {
  ctx.set('Location', `/v2/${repo}/blobs/uploads/${id}`);
  ctx.set('Range', `0-${Math.max(size - 1, 0)}`);
  ctx.set('Docker-Upload-UUID', id);
  ctx.set('Blob-Upload-Session-ID', id);
  noContent(ctx, 202);
}

function blobCreated(ctx: Context, repo: string, digest: string): void {
  ctx.set('Location', `/v2/${repo}/blobs/${digest}`);
  ctx.set('Docker-Content-Digest', digest);
  noContent(ctx, 201);
}

function contentLength(ctx: Context): number | undefined {
  const raw = ctx.get('Content-Length');
  return /^\d+$/.test(raw) ? Number(raw) : undefined;
}

/** `Content-Range: <start>-<end>` of a chunk (inclusive); 416 when malformed or not matching Content-Length. */
function contentRange(ctx: Context): { start: number; end: number } | undefined {
  const raw = ctx.get('Content-Range');
  if (!raw) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(raw.trim());
  if (!m) throw RangeInvalid({ contentRange: raw, reason: 'malformed Content-Range' });
  const range = { start: Number(m[1]), end: Number(m[2]) };
  const length = contentLength(ctx);
  if (range.end < range.start || (length !== undefined && length !== range.end - range.start + 1)) {
    throw RangeInvalid({ contentRange: raw, contentLength: length, reason: 'Content-Range does not match Content-Length' });
  }
  return range;
}
