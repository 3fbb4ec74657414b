import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ContentSource, UpstreamBlob, UpstreamManifest } from '../../core/extensions/api';
import type { RegistryRouter } from './routing';
import { isSigned, SIGNATURE_ARTIFACT_TYPES } from './signatures';
import { readBody, UpstreamUnavailable, type UpstreamClient } from './upstream-client';

/** Every manifest type berth stores as is; asking for all of them keeps the upstream's bytes and digests. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const MAX_MANIFEST_BYTES = 4 << 20;
// A tag check or a blob's size runs inside a client's pull: it must be short even when the upstream hangs.
const HEAD_TIMEOUT_MS = 5_000;

export interface SyncSourceOptions {
  name: string;
  router: RegistryRouter;
  client: UpstreamClient;
  manifestCheckInterval: number;
  onlySigned: boolean;
  logger: Logger;
  /** Local manifests (never asks upstream): `onlySigned` admits the children of an index already cached. */
  localManifest(localRepo: string, digest: string): Promise<Buffer | undefined>;
  localManifests(localRepo: string): Promise<Array<{ digest: string; mediaType: string }>>;
  /** Told where pulled-through content was stored (eviction watches these repositories). */
  onCached(localRepo: string): void;
}

const target = (repo: string, kind: 'manifests' | 'blobs', ref: string) => ({ repo, path: `${kind}/${ref}` });
const bounded = { headersTimeoutMs: HEAD_TIMEOUT_MS, idleTimeoutMs: HEAD_TIMEOUT_MS };
const isNotThere = (status: number) => status === 404 || status === 401 || status === 403;

/** One `sync.registries` entry with `onDemand: true`, as a core content source (pull-through). */
export function createSyncSource(o: SyncSourceOptions): ContentSource {
  const { router, client } = o;
  const route = (repo: string, ns: string | undefined) => router.route(repo, ns);
  return {
    name: o.name,
    upstream: client.host,
    tagCheckInterval: o.manifestCheckInterval,
    matches: (repo, ns) => route(repo, ns) !== undefined,
    localRepository: (repo, ns) => route(repo, ns)?.local ?? repo,

    async manifest(repo, reference, _accept, ns): Promise<UpstreamManifest | undefined> {
      const r = route(repo, ns);
      if (!r) return undefined;
      const res = await client.request('GET', target(r.upstream, 'manifests', reference), { headers: { accept: MANIFEST_ACCEPT } });
      if (res.statusCode !== 200) {
        res.resume();
        if (isNotThere(res.statusCode ?? 0)) return undefined;
        throw new Error(`upstream ${client.host} answered ${res.statusCode} for manifest ${r.upstream}:${reference}`);
      }
      const bytes = await readBody(res, MAX_MANIFEST_BYTES);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      const mediaType = mediaTypeOf(res.headers['content-type'], bytes);
      if (o.onlySigned && !(await admitted(o, r, reference, digest, bytes))) {
        o.logger.warn({ repo: r.upstream, reference, digest }, 'skipping unsigned image (onlySigned)');
        return undefined;
      }
      o.onCached(r.local);
      return { digest, mediaType, bytes };
    },

    async manifestDigest(repo, tag, _accept, ns): Promise<string | undefined> {
      const r = route(repo, ns);
      if (!r) return undefined;
      const res = await client.request('HEAD', target(r.upstream, 'manifests', tag), { headers: { accept: MANIFEST_ACCEPT }, ...bounded });
      res.resume();
      if (isNotThere(res.statusCode ?? 0)) return undefined;
      const digest = res.headers['docker-content-digest'];
      if (res.statusCode !== 200 || typeof digest !== 'string') throw new Error(`upstream ${client.host} answered HEAD ${res.statusCode} without a digest for ${r.upstream}:${tag}`);
      return digest;
    },

    async blob(repo, digest, ns, opts): Promise<UpstreamBlob | undefined> {
      const r = route(repo, ns);
      if (!r) return undefined;
      const start = opts?.start ?? 0;
      const headers = start > 0 ? { range: `bytes=${start}-` } : undefined;
      const res = await client.request('GET', target(r.upstream, 'blobs', digest), { headers });
      if (res.statusCode === 200 || res.statusCode === 206) {
        const length = Number(res.headers['content-length']);
        const offset = res.statusCode === 206 ? start : 0;
        return { stream: res, size: Number.isFinite(length) && res.statusCode === 200 ? length : undefined, offset };
      }
      res.resume();
      if (isNotThere(res.statusCode ?? 0)) return undefined;
      throw new Error(`upstream ${client.host} answered ${res.statusCode} for blob ${digest}`);
    },

    async blobSize(repo, digest, ns): Promise<number | undefined> {
      const r = route(repo, ns);
      if (!r) return undefined;
      const res = await client.request('HEAD', target(r.upstream, 'blobs', digest), bounded);
      res.resume();
      const status = res.statusCode ?? 0;
      if (isNotThere(status)) return undefined;
      const size = Number(res.headers['content-length']);
      if (status !== 200 || res.headers['content-length'] === undefined || !Number.isSafeInteger(size) || size < 0) {
        throw new UpstreamUnavailable(`upstream ${client.host} answered ${status} without a size for blob ${digest}`, status);
      }
      return size;
    },
  };
}

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const LEGACY_SIGNATURE_TAG = /^sha256-[a-f0-9]{64}\.sig$/;

/**
 * `onlySigned`, by tag and by digest alike: a manifest is served when it is signed upstream itself, when it
 * is a signature (cosign's legacy tag, or a referrer of a signature artifact type), or, by digest, when an
 * index already cached in the repository lists it (the index passed this check: cosign signs the index, not
 * each platform).
 */
async function admitted(o: SyncSourceOptions, r: { upstream: string; local: string }, reference: string, digest: string, bytes: Buffer): Promise<boolean> {
  if (LEGACY_SIGNATURE_TAG.test(reference)) return true;
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { subject?: unknown; artifactType?: string; config?: { mediaType?: string } };
    const type = parsed.artifactType ?? parsed.config?.mediaType;
    if (parsed.subject !== undefined && type !== undefined && SIGNATURE_ARTIFACT_TYPES.has(type)) return true;
  } catch {
    // not JSON: judged by its signature below
  }
  if (reference.includes(':')) {
    for (const m of await o.localManifests(r.local)) {
      if (!INDEX_TYPES.has(m.mediaType)) continue;
      const index = await o.localManifest(r.local, m.digest);
      if (index && (JSON.parse(index.toString('utf8')) as { manifests?: Array<{ digest: string }> }).manifests?.some((c) => c.digest === digest)) return true;
    }
  }
  return isSigned(o.client, r.upstream, digest);
}

/** The Content-Type without parameters, else the manifest's own mediaType field. */
export function mediaTypeOf(contentType: string | undefined, bytes: Buffer): string {
  const header = contentType?.split(';')[0]?.trim();
  if (header && header !== 'application/json' && header !== 'text/plain') return header;
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
    if (parsed.mediaType) return parsed.mediaType;
    return parsed.manifests ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json';
  } catch {
    return header ?? 'application/octet-stream';
  }
}
