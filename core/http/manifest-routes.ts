import type Router from '@koa/router';
import type { Context } from 'koa';
import { isDigest, parseDigest } from '../registry/digest';
import { ManifestUnknown } from '../registry/errors';
import { MAX_MANIFEST_BYTES } from '../registry/manifest-parse';
import { MANIFEST_MEDIA_TYPES } from '../registry/media-types';
import { assertTag, isTag } from '../registry/names';
import type { Registry } from '../registry/registry';
import { type AccessControl, noContent, paginate, readLimited, repoName, requestOrigin } from './route-helpers';

/** Manifests by tag or digest, tag listing and the referrers API. */
export function registerManifestRoutes(router: Router, registry: Registry, access: AccessControl): void {
  router.get('/v2/*name/manifests/:reference', async (ctx) => {
    const repo = repoName(ctx);
    // A reference outside the grammar names nothing: 404, as the conformance suite requires for reads.
    const reference = existingReference(ctx.params.reference);
    await access.require(ctx, repo, 'read');
    const accept = acceptList(ctx);
    const ns = typeof ctx.query.ns === 'string' ? ctx.query.ns : undefined;
    const manifest = await registry.fetchManifest(repo, reference, accept, ns);
    if (!acceptable(accept, manifest.mediaType)) {
      throw ManifestUnknown({ reason: `manifest is ${manifest.mediaType}, which the Accept header does not allow` });
    }
    ctx.set('Docker-Content-Digest', manifest.digest);
    ctx.set('ETag', `"${manifest.digest}"`);
    ctx.type = manifest.mediaType;
    if (ctx.method === 'HEAD') {
      ctx.status = 200;
      ctx.length = manifest.bytes.length;
      return;
    }
    ctx.body = manifest.bytes;
    registry.emitPulled(repo, reference, manifest.digest);
  });

  router.put('/v2/*name/manifests/:reference', async (ctx) => {
    const repo = repoName(ctx);
    const reference = validReference(ctx.params.reference);
    const extraTags = ([] as string[]).concat(ctx.query.tag ?? []).map(assertTag);
    // Zot's mapping: a digest push is `create`; each tag is `update` if it exists, else `create`.
    if (isDigest(reference)) await access.require(ctx, repo, 'create');
    for (const tag of isDigest(reference) ? extraTags : [reference, ...extraTags]) {
      const exists = await registry.manifests.resolve(repo, tag).catch(() => undefined);
      await access.require(ctx, repo, exists ? 'update' : 'create');
    }
    const bytes = await readLimited(ctx.req, MAX_MANIFEST_BYTES);
    const result = await registry.pushManifest(repo, reference, ctx.get('Content-Type') || undefined, bytes, { writer: 'push', extraTags, origin: requestOrigin(ctx) });
    ctx.set('Location', `/v2/${repo}/manifests/${result.digest}`);
    ctx.set('Docker-Content-Digest', result.digest);
    if (result.info.subject) ctx.set('OCI-Subject', result.info.subject.digest);
    if (extraTags.length > 0) ctx.set('OCI-Tag', extraTags.join(','));
    noContent(ctx, 201);
  });

  router.delete('/v2/*name/manifests/:reference', async (ctx) => {
    const repo = repoName(ctx);
    const reference = existingReference(ctx.params.reference);
    await access.require(ctx, repo, 'delete');
    await registry.deleteManifest(repo, reference, requestOrigin(ctx));
    noContent(ctx, 202);
  });

  router.get('/v2/*name/tags/list', async (ctx) => {
    const repo = repoName(ctx);
    await access.require(ctx, repo, 'read');
    const tags = await registry.listTags(repo);
    ctx.body = { name: repo, tags: paginate(ctx, tags, `/v2/${repo}/tags/list`) };
  });

  router.get('/v2/*name/referrers/:digest', async (ctx) => {
    const repo = repoName(ctx);
    const digest = parseDigest(ctx.params.digest);
    await access.require(ctx, repo, 'read');
    const artifactType = typeof ctx.query.artifactType === 'string' ? ctx.query.artifactType : undefined;
    const { index, filtered } = await registry.referrers(repo, digest, artifactType);
    if (filtered) ctx.set('OCI-Filters-Applied', 'artifactType');
    ctx.type = 'application/vnd.oci.image.index.v1+json';
    ctx.body = index;
  });
}

function validReference(reference: string): string {
  if (isDigest(reference)) return parseDigest(reference).digest;
  return assertTag(reference);
}

function existingReference(reference: string): string {
  if (isDigest(reference)) return parseDigest(reference).digest;
  if (!isTag(reference)) throw ManifestUnknown({ reference });
  return reference;
}

function acceptList(ctx: Context): string[] {
  return ctx
    .get('Accept')
    .split(',')
    .map((s) => s.split(';')[0].trim())
    .filter(Boolean);
}

/**
 * A client that names manifest media types but not this one (and no wildcard) cannot parse it, so it gets
 * MANIFEST_UNKNOWN as from Distribution; a client naming no manifest type at all gets what is stored.
 */
function acceptable(accept: string[], mediaType: string): boolean {
  if (accept.length === 0 || accept.includes(mediaType)) return true;
  if (accept.some((a) => a === '*/*' || a === 'application/*' || a === 'application/json')) return true;
  return !accept.some((a) => MANIFEST_MEDIA_TYPES.has(a));
}
