/**
 * Keeps search's records in step with storage. Every manifest write (push, periodic sync, pull-through) and
 * delete re-indexes its repository from what storage holds now, so the outcome does not depend on the order
 * events arrive in or on which replica handles them; a repository's writes in quick succession coalesce into
 * one pass. `reconcile` indexes what events never announced: content written before search was on, by Zot,
 * or while this process was down.
 */
import type { Logger, RegistryFacade } from '../../core/extensions/api';
import type { ManifestMeta, RepoRecord } from './meta-model';
import { readManifest } from './manifest-reader';
import { summarize } from './repo-summary';
import type { SearchStore } from './search-store';

const PUBLISH_EVERY_MS = 1000;

export class SearchIndexer {
  /** Per repository: the pass running now, and whether another was asked for meanwhile. */
  readonly #passes = new Map<string, { running: Promise<void>; again: boolean }>();

  constructor(
    private readonly store: SearchStore,
    private readonly registry: () => RegistryFacade,
    private readonly logger: Logger,
  ) {}

  /** Re-indexes `repo` soon; resolves when a pass that started after this call has finished. */
  refresh(repo: string, opts: { deferLog?: boolean } = {}): Promise<void> {
    const pass = this.#passes.get(repo);
    if (pass) {
      pass.again = true; // the running pass goes round once more, reading storage afresh
      return pass.running;
    }
    const entry = { running: Promise.resolve(), again: false };
    entry.running = (async () => {
      do {
        entry.again = false;
        await this.#index(repo, opts.deferLog === true).catch((err: unknown) => this.logger.warn({ repo, err }, 'failed to index repository for search'));
      } while (entry.again);
      this.#passes.delete(repo);
    })();
    this.#passes.set(repo, entry);
    return entry.running;
  }

  /**
   * Indexes every repository without a record (all of them the first time, `full`), and drops the records of
   * repositories storage no longer has. Stops early when `signal` aborts.
   */
  async reconcile(full: boolean, signal: AbortSignal): Promise<void> {
    const repos = await this.registry().listRepositories();
    const present = new Set(repos);
    // Readers see progress about once a second rather than re-reading summaries after every repository.
    let published = Date.now();
    for (const repo of repos) {
      if (signal.aborted) break;
      if (full || !(await this.store.record(repo))) await this.refresh(repo, { deferLog: true });
      if (Date.now() - published > PUBLISH_EVERY_MS) {
        await this.store.logBulkChange();
        published = Date.now();
      }
    }
    await this.store.logBulkChange();
    if (signal.aborted) return;
    for (const repo of (await this.store.summaries()).keys()) {
      if (signal.aborted) return;
      if (!present.has(repo)) await this.store.deleteRepo(repo);
    }
    if (full && !signal.aborted) await this.store.markBuilt();
  }

  async #index(repo: string, deferLog: boolean): Promise<void> {
    const registry = this.registry();
    const old = await this.store.record(repo);
    const now = Date.now();
    const [tags, listed] = await Promise.all([registry.listTags(repo), registry.listManifests(repo)]);
    if (tags.length === 0 && listed.length === 0) {
      if (old) await this.store.deleteRepo(repo);
      return;
    }
    const record: RepoRecord = { name: repo, tags: {}, manifests: {} };
    // Manifests never change under their digest: what the old record holds is reused as is.
    const load = async (digest: string): Promise<ManifestMeta | undefined> => {
      if (record.manifests[digest]) return record.manifests[digest];
      const meta = old?.manifests[digest] ?? (await readManifest(registry, repo, digest, now));
      if (!meta) return undefined;
      record.manifests[digest] = meta;
      for (const child of meta.children ?? []) {
        const c = await load(child.digest); // children a pull-through cache has not fetched yet are absent
        if (c && !c.platform && child.platform) c.platform = child.platform;
      }
      return meta;
    };
    for (const tag of tags) {
      const stored = await registry.getManifest(repo, tag);
      if (!stored) continue;
      const before = old?.tags[tag];
      record.tags[tag] = { digest: stored.digest, taggedAt: before?.digest === stored.digest ? before.taggedAt : now };
      await load(stored.digest);
    }
    for (const d of listed) await load(d.digest);
    await this.store.putRepo(record, summarize(record), { deferLog });
  }
}
