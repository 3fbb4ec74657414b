import type { Logger } from 'pino';
import type { RegistryFacade } from '../../core/extensions/api';
import type { SyncMetrics } from './sync-metrics';

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

/**
 * Removes pulled-through content not pulled within a TTL (berth's `ttl`, like Distribution's proxy).
 * Pull times are kept in memory and every item counts as pulled when berth starts, so a restart never
 * evicts early. It never breaks a pull in progress: what a client is pulling was just touched, a deleted
 * file stays readable to a reader that has it open, and a blob evicted between manifest and blob requests
 * is a plain miss that pulls through again.
 */
export class CacheEviction {
  readonly #pulled = new Map<string, number>();
  readonly #since = Date.now();
  readonly #repos = new Set<string>();

  constructor(
    private readonly ttlFor: (localRepo: string) => number,
    private readonly registry: () => RegistryFacade,
    private readonly metrics: SyncMetrics,
    private readonly logger: Logger,
  ) {}

  /** A manifest or blob was served (any repository: content is addressed by digest). */
  touch(digest: string): void {
    this.#pulled.set(digest, Date.now());
  }

  /** A repository that holds pulled-through content. */
  watch(localRepo: string): void {
    this.#repos.add(localRepo);
  }

  async sweep(now = Date.now()): Promise<void> {
    for (const repo of await this.registry().listRepositories()) if (this.ttlFor(repo) > 0) this.#repos.add(repo);
    for (const repo of this.#repos) {
      const ttl = this.ttlFor(repo);
      if (ttl > 0) await this.#sweepRepo(repo, now - ttl).catch((err: unknown) => this.logger.warn({ repo, err }, 'failed to evict cached content'));
    }
  }

  async #sweepRepo(repo: string, cutoff: number): Promise<void> {
    const stale = (digest: string) => (this.#pulled.get(digest) ?? this.#since) < cutoff;
    const reg = this.registry();
    const manifests = (await reg.listManifests(repo)).filter((m) => stale(m.digest));
    // Indexes first: a child listed by an index cannot be deleted before it.
    manifests.sort((a, b) => Number(INDEX_TYPES.has(b.mediaType)) - Number(INDEX_TYPES.has(a.mediaType)));
    for (const m of manifests) {
      try {
        await reg.deleteManifest(repo, m.digest);
        this.metrics.evicted.inc({ kind: 'manifest' });
      } catch {
        // Still listed by an index that is fresh: it stays with it.
      }
    }
    for (const digest of await reg.listBlobs(repo)) {
      if (!stale(digest)) continue;
      try {
        await reg.deleteBlob(repo, digest);
        this.metrics.evicted.inc({ kind: 'blob' });
      } catch {
        // Referenced by a manifest that stays.
      }
    }
    if (manifests.length > 0) this.logger.info({ repo, manifests: manifests.length }, 'evicted cached content past its ttl');
  }
}
