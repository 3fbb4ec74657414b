import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger, RegistryFacade } from '../../core/extensions/api';

/** Changed repositories are measured this long after the change, so a push of many tags measures once. */
const SETTLE_MS = 1_000;
/**
 * A repository changing all the time (a CI pushing into it) is measured at most this often: measuring stats
 * every blob it holds, which would otherwise compete with the pushes themselves.
 */
const MIN_INTERVAL_MS = 30_000;

/**
 * Zot's per-repository series: downloads (manifest GETs), uploads (manifest writes) and the bytes a
 * repository's blobs take (`zot_repo_storage_bytes`, measured after each change and by {@link measureAll}).
 */
export class RepoMetrics {
  readonly #downloads: Counter<'repo'>;
  readonly #uploads: Counter<'repo'>;
  readonly #storage: Gauge<'repo'>;
  /** Repositories to measure, by when they may be measured. */
  readonly #pending = new Map<string, number>();
  readonly #measuredAt = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #timerDue = Infinity;
  #measuring: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(registry: Registry, private readonly facade: () => RegistryFacade, private readonly logger: Logger) {
    const registers = [registry];
    this.#downloads = new Counter({ name: 'zot_repo_downloads_total', help: 'Total number times an image was downloaded', labelNames: ['repo'], registers });
    this.#uploads = new Counter({ name: 'zot_repo_uploads_total', help: 'Total number times an image was uploaded', labelNames: ['repo'], registers });
    this.#storage = new Gauge({ name: 'zot_repo_storage_bytes', help: 'Storage used per zot repo', labelNames: ['repo'], registers });
  }

  downloaded(repo: string): void {
    this.#downloads.inc({ repo });
  }

  uploaded(repo: string): void {
    this.#uploads.inc({ repo });
    this.changed(repo);
  }

  /** Measures `repo` again soon (a manifest was written or deleted). */
  changed(repo: string): void {
    if (this.#closed || this.#pending.has(repo)) return;
    const last = this.#measuredAt.get(repo);
    this.#pending.set(repo, Math.max(Date.now() + SETTLE_MS, last === undefined ? 0 : last + MIN_INTERVAL_MS));
    this.#wake();
  }

  /** Arms the timer for the earliest pending repository. */
  #wake(): void {
    if (this.#pending.size === 0 || this.#closed) return;
    let due = Infinity;
    for (const at of this.#pending.values()) due = Math.min(due, at);
    if (this.#timer && this.#timerDue <= due) return;
    clearTimeout(this.#timer);
    this.#timerDue = due;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerDue = Infinity;
      const now = Date.now();
      const repos = [...this.#pending].filter(([, at]) => at <= now).map(([repo]) => repo);
      for (const repo of repos) this.#pending.delete(repo);
      this.#measuring = this.#measuring.then(async () => {
        for (const r of repos) await this.#measure(r);
      });
      this.#wake();
    }, Math.max(0, due - Date.now()));
    this.#timer.unref();
  }

  /** Measures every repository, one at a time (a background pass: at start-up, then now and then). */
  async measureAll(signal: AbortSignal): Promise<void> {
    const repos = await this.facade().listRepositories();
    for (const repo of repos) {
      if (signal.aborted || this.#closed) return;
      await this.#measure(repo);
    }
    // Repositories gone since the last pass (GC removes emptied ones) lose their series.
    const present = new Set(repos);
    for (const { labels } of (await this.#storage.get()).values) {
      if (typeof labels.repo === 'string' && !present.has(labels.repo)) this.#storage.remove({ repo: labels.repo });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#measuring;
  }

  async #measure(repo: string): Promise<void> {
    if (this.#closed) return;
    this.#measuredAt.set(repo, Date.now());
    try {
      const registry = this.facade();
      let bytes = 0;
      for (const digest of await registry.listBlobs(repo)) bytes += (await registry.hasBlob(repo, digest)) ?? 0;
      // No blobs: the repository is gone (a manifest is a blob too), and so is its series.
      if (bytes === 0) {
        this.#storage.remove({ repo });
        this.#measuredAt.delete(repo);
      } else {
        this.#storage.set({ repo }, bytes);
      }
    } catch (err) {
      this.logger.warn({ repo, err }, 'failed to measure repository storage');
    }
  }
}
