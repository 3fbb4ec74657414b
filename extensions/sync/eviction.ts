import type { Logger } from 'pino';
import type { RegistryFacade } from '../../core/extensions/api';
import type { SyncMetrics } from './sync-metrics';

/**
 * Removes pulled-through content not pulled within a TTL (berth's `ttl`, like Distribution's proxy). Pull times
 * are the app's durable record (`registry.lastPulled`), shared with `storage.retention`: a restart neither
 * makes cached content look fresh nor stale. It never breaks a pull in progress: what a client is pulling was just
 * touched, a deleted file stays readable to a reader that has it open, and a blob evicted between manifest and
 * blob requests is a plain miss that pulls through again.
 */
export class CacheEviction {
  readonly #repos = new Set<string>();

  constructor(
    private readonly ttlFor: (localRepo: string) => number,
    private readonly registry: () => RegistryFacade,
    private readonly metrics: SyncMetrics,
    private readonly logger: Logger,
  ) {}

  /** A repository that holds pulled-through content. */
  watch(localRepo: string): void {
    this.#repos.add(localRepo);
  }

  async sweep(now = Date.now()): Promise<void> {
    const reg = this.registry();
    for (const repo of await reg.listRepositories()) if (this.ttlFor(repo) > 0) this.#repos.add(repo);
    for (const repo of this.#repos) {
      const ttl = this.ttlFor(repo);
      if (ttl > 0) await this.#sweepRepo(reg, repo, now - ttl).catch((err: unknown) => this.logger.warn({ repo, err }, 'failed to evict cached content'));
    }
  }

  async #sweepRepo(reg: RegistryFacade, repo: string, cutoff: number): Promise<void> {
    const listed = await reg.listManifests(repo);
    const manifestTimes = await reg.lastPulledMany(listed.map((m) => m.digest));
    const manifests = listed.filter((m) => manifestTimes.get(m.digest)! < cutoff);
    if (manifests.length === 0) return;
    // One read for the blobs' times; a blob that arrived after it is fresh, so kept.
    const blobTimes = await reg.lastPulledMany(await reg.listBlobs(repo));
    const removed = await reg.removeManifests(repo, manifests, (digest) => !((blobTimes.get(digest) ?? Infinity) < cutoff));
    this.metrics.evicted.inc({ kind: 'manifest' }, removed.manifests);
    this.metrics.evicted.inc({ kind: 'blob' }, removed.blobs);
    if (removed.manifests > 0) this.logger.info({ repo, ...removed }, 'evicted cached content past its ttl');
  }
}
