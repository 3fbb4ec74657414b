/**
 * Download counts, batched: a pull only counts in memory, and the counts are added to the MetaStore per
 * repository about once a second (one read-modify-write and one change-log entry per repository pulled from,
 * however many pulls), so search costs a manifest GET nothing it waits for or much it works for. Counts shown
 * lag by up to that interval; a crash loses at most that much of them. The batch is bounded: once it holds
 * MAX_PENDING digests it is written at once.
 */
import type { Logger } from '../../core/extensions/api';
import type { SearchStore } from './search-store';

const FLUSH_MS = 1_000;
const MAX_PENDING = 5_000;

type Pulls = Map<string, { count: number; last: number }>;

export class PullCounter {
  /** Per repository, per digest: pulls not yet written. */
  #pending = new Map<string, Pulls>();
  #size = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(private readonly store: () => SearchStore, private readonly logger: Logger) {}

  pulled(repo: string, digest: string, at = Date.now()): void {
    let pulls = this.#pending.get(repo);
    if (!pulls) this.#pending.set(repo, (pulls = new Map()));
    const p = pulls.get(digest);
    if (p) {
      p.count += 1;
      p.last = Math.max(p.last, at);
    } else {
      pulls.set(digest, { count: 1, last: at });
      this.#size += 1;
    }
    if (this.#size >= MAX_PENDING) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), FLUSH_MS).unref();
  }

  /** Writes what is pending (after any write still going); resolves when it is written. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = new Map();
    this.#size = 0;
    this.#writing = this.#writing.then(async () => {
      for (const [repo, pulls] of batch) {
        await this.store().addPulls(repo, pulls).catch((err: unknown) => this.logger.warn({ repo, err }, 'failed to record downloads for search'));
      }
    });
    return this.#writing;
  }
}
