import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import picomatch from 'picomatch';
import type { RegistryFacade, SyncResultEvent } from '../../core/extensions/api';
import type { SyncRegistryConfig } from './schema';
import type { RegistryRouter } from './routing';
import { cosignTag, isSigned } from './signatures';
import { MANIFEST_ACCEPT, mediaTypeOf } from './sync-source';
import type { SyncMetrics, SyncRun } from './sync-metrics';
import { LimitedUpstream } from './limited-upstream';
import { readBody, type UpstreamClient } from './upstream-client';
import { ALL_PLATFORMS, platformFilter, type Platform, type PlatformFilter } from './platforms';
import type { RequestTarget } from './upstream-url';

type Content = NonNullable<SyncRegistryConfig['content']>[number];

// Masterminds/semver (Zot's tags.semver) accepts a leading v and missing minor/patch parts.
const SEMVER = /^v?\d+(\.\d+)?(\.\d+)?(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

/** Zot's tag filters, in Zot's order: regex, then excludeRegex, then semver. */
export function tagFilter(tags: Content['tags']): (tag: string) => boolean {
  const include = tags?.regex ? new RegExp(tags.regex) : undefined;
  const exclude = tags?.excludeRegex ? new RegExp(tags.excludeRegex) : undefined;
  return (tag) => (!include || include.test(tag)) && !(exclude && exclude.test(tag)) && (!tags?.semver || SEMVER.test(tag));
}

const hasGlob = (s: string) => /[*?[{]/.test(s);

interface Image {
  repo: string;
  tag: string;
  platforms: PlatformFilter;
}

export interface PeriodicSyncOptions {
  reg: SyncRegistryConfig;
  router: RegistryRouter;
  client: Pick<UpstreamClient, 'request'>;
  registry: () => RegistryFacade;
  metrics: SyncMetrics;
  logger: Logger;
  /** Aborted when the schedule stops (shutdown, reload): no new image is started. */
  signal?: AbortSignal;
  /** Told of each image copied or failed (after its retries); not of images already up to date. */
  onResult?: (result: SyncResultEvent) => void;
}

/**
 * One run of periodic sync for an `onDemand: false` registry: the images its `content` rules select are
 * copied whole (every platform, as Zot), with retries. A prefix without wildcards is a repository name, so
 * the upstream `_catalog` is needed only for globs (registry.k8s.io and Docker Hub have none).
 */
export async function runPeriodicSync(o: PeriodicSyncOptions): Promise<void> {
  const { reg, router, client, logger, metrics } = o;
  const label = router.host;
  const images: Image[] = [];
  let catalog: string[] | undefined;
  for (const rule of router.rules) {
    let repos = [rule.prefix];
    if (hasGlob(rule.prefix)) {
      catalog ??= (await listPaged(client, '/v2/_catalog', 'repositories')).flatMap((name) => router.fromCatalog(name) ?? []);
      const match = picomatch(rule.prefix, { dot: true });
      repos = catalog.filter((r) => match(r));
    }
    const keep = tagFilter(rule.tags);
    const platforms = platformFilter(rule.platforms ?? reg.platforms);
    for (const repo of repos) {
      const tags = await listPaged(client, { repo, path: 'tags/list' }, 'tags', repo).catch((err: unknown) => {
        logger.warn({ upstream: label, repo, err }, 'failed to list upstream tags');
        return [] as string[];
      });
      for (const tag of tags) if (keep(tag) && !tag.endsWith('.sig')) images.push({ repo, tag, platforms });
    }
  }
  const run = metrics.startRun(label, images.length);
  logger.info({ upstream: label, images: images.length }, 'periodic sync started');
  const limited = new LimitedUpstream(client, reg.reqConcurrent);
  const copyOne = async ({ repo, tag, platforms }: Image) => {
    const attempt = () => limited.operation(reg.syncTimeout, (up) => copyImage({ ...o, client: up }, run, repo, tag, platforms));
    const outcome: CopyOutcome = await withRetries<CopyOutcome>(reg, attempt, (err, n) => {
      logger.warn({ upstream: label, repo, tag, attempt: n, err }, 'failed to sync image, retrying');
    }).catch((err: unknown) => {
      logger.warn({ upstream: label, repo, tag, err }, 'failed to sync image');
      return { result: 'failed' as const, error: err instanceof Error ? err.message : String(err) };
    });
    run.imageDone(outcome.result);
    if (outcome.result !== 'skipped') {
      const { result, ...rest } = outcome;
      o.onResult?.({ upstream: label, upstreamRepo: repo, repo: router.localFor(repo) ?? repo, tag, status: result, ...rest });
    }
    logger.info({ upstream: label, repo, tag, result: outcome.result, done: run.done, total: images.length, bytes: run.bytes }, 'periodic sync progress');
  };
  // As many images at once as requests may run: the limit itself is on requests (LimitedUpstream).
  const queue = [...images];
  await Promise.all(Array.from({ length: Math.min(reg.reqConcurrent, queue.length) }, async () => {
    for (let next = queue.shift(); next && !o.signal?.aborted; next = queue.shift()) await copyOne(next);
  }));
  logger.info({ upstream: label, images: images.length, bytes: run.bytes }, 'periodic sync finished');
}

async function withRetries<T>(reg: SyncRegistryConfig, work: () => Promise<T>, onRetry: (err: unknown, attempt: number) => void): Promise<T> {
  let delay = reg.retryDelay ?? 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (attempt > (reg.maxRetries ?? 0)) throw err;
      onRetry(err, attempt);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, reg.maxRetryDelay ?? delay);
    }
  }
}

type CopyOutcome = { result: 'synced'; digest: string } | { result: 'skipped' } | { result: 'failed'; error: string };

/**
 * Copies one tag (its manifest tree and blobs, children first); 'skipped' when unchanged or unsigned. With a
 * platform allowlist, an index keeps its upstream bytes and digest and only the listed platforms are copied.
 */
async function copyImage(o: PeriodicSyncOptions, run: SyncRun, repo: string, tag: string, platforms: PlatformFilter): Promise<CopyOutcome> {
  const local = o.router.localFor(repo);
  if (!local) return { result: 'skipped' };
  const top = await getManifest(o.client, repo, tag);
  const current = await o.registry().getManifest(local, tag);
  if (current?.digest === top.digest) return { result: 'skipped' };
  if (o.reg.onlySigned && !(await isSigned(o.client, repo, top.digest))) {
    o.logger.info({ upstream: o.router.host, repo, tag }, 'skipping unsigned image (onlySigned)');
    return { result: 'skipped' };
  }
  const sparse = await copyTree(o, run, repo, local, top, platforms);
  await o.registry().putManifest(local, tag, top.mediaType, top.bytes, { sparse });
  if (o.reg.syncLegacyCosignTags) {
    const sig = cosignTag(top.digest);
    const signature = await getManifest(o.client, repo, sig).catch(() => undefined);
    if (signature) {
      await copyTree(o, run, repo, local, signature, ALL_PLATFORMS);
      await o.registry().putManifest(local, sig, signature.mediaType, signature.bytes);
    }
  }
  return { result: 'synced', digest: top.digest };
}

interface Fetched {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** Copies a manifest's children and blobs; true when an index had platforms left out (stored sparse). */
async function copyTree(o: PeriodicSyncOptions, run: SyncRun, repo: string, local: string, m: Fetched, platforms: PlatformFilter): Promise<boolean> {
  const parsed = JSON.parse(m.bytes.toString('utf8')) as {
    manifests?: Array<{ digest: string; platform?: Platform }>;
    config?: { digest: string; size: number };
    layers?: Array<{ digest: string; size: number }>;
  };
  let sparse = false;
  for (const child of parsed.manifests ?? []) {
    if (!platforms(child.platform)) {
      sparse = true;
      continue;
    }
    if (await o.registry().getManifest(local, child.digest)) continue;
    const fetched = await getManifest(o.client, repo, child.digest);
    const childSparse = await copyTree(o, run, repo, local, fetched, platforms);
    await o.registry().putManifest(local, child.digest, fetched.mediaType, fetched.bytes, { sparse: childSparse });
  }
  await Promise.all([...(parsed.config ? [parsed.config] : []), ...(parsed.layers ?? [])].map(async (blob) => {
    if ((await o.registry().hasBlob(local, blob.digest)) !== undefined) return;
    const res = await o.client.request('GET', { repo, path: `blobs/${blob.digest}` });
    if (res.statusCode !== 200) {
      res.resume();
      throw new Error(`upstream answered ${res.statusCode} for blob ${blob.digest}`);
    }
    await o.registry().putBlob(local, blob.digest, res, blob.size);
    run.addBytes(blob.size);
  }));
  return sparse;
}

async function getManifest(client: Pick<UpstreamClient, 'request'>, repo: string, reference: string): Promise<Fetched> {
  const res = await client.request('GET', { repo, path: `manifests/${reference}` }, { headers: { accept: MANIFEST_ACCEPT } });
  if (res.statusCode !== 200) {
    res.resume();
    throw new Error(`upstream answered ${res.statusCode} for manifest ${repo}:${reference}`);
  }
  const bytes = await readBody(res, 4 << 20);
  return { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, mediaType: mediaTypeOf(res.headers['content-type'], bytes), bytes };
}

/** A paginated Distribution list (`_catalog` or tags), following `Link: <…>; rel="next"`. */
async function listPaged(client: Pick<UpstreamClient, 'request'>, first: RequestTarget, key: 'repositories' | 'tags', repo?: string): Promise<string[]> {
  const out: string[] = [];
  let next: RequestTarget | undefined = typeof first === 'string' ? `${first}?n=1000` : { ...first, path: `${first.path}?n=1000` };
  while (next) {
    const res = await client.request('GET', next, { repo });
    if (res.statusCode !== 200) {
      res.resume();
      throw new Error(`upstream answered ${res.statusCode} for ${typeof first === 'string' ? first : `${first.repo}/${first.path}`}`);
    }
    const body = JSON.parse((await readBody(res, 16 << 20)).toString('utf8')) as Record<string, string[] | null>;
    out.push(...(body[key] ?? []));
    const link = /<([^>]+)>;\s*rel="?next"?/.exec(String(res.headers.link ?? ''));
    next = link ? link[1] : undefined;
  }
  return out;
}
