/**
 * Keeps search's records in step with storage. A manifest write (push, periodic sync, pull-through) or delete
 * updates only what it touched in its repository's record, with work bounded by that manifest (its bytes come
 * with the event; an image's config, an index's new children and the tag's current digest are read from
 * storage), never by the size of the repository. Per repository, changes apply in the order their events
 * came, and those arriving within BATCH_MS of each other, or while one is being written, go together into
 * one record write. Records are written
 * by compare-and-set, so berths sharing the MetaStore redo a change rather than lose another's. A full
 * `refresh` re-indexes a repository from what storage holds: for a repository without a record yet, and for
 * `reconcile`, which indexes what events never announced (content written before search was on, by Zot, or
 * while this process was down).
 */
import type { Logger, ManifestStoredEvent, RegistryFacade, StoredManifest } from '../../core/extensions/api';
import type { ManifestMeta, RepoRecord } from './meta-model';
import { manifestMeta, readManifest } from './manifest-reader';
import type { SearchStore, VersionedRecord } from './search-store';

const PUBLISH_EVERY_MS = 1000;
/**
 * How long a write's change waits for others to the same repository before its record is written: every
 * record write is a handful of MetaStore commits (each synced to disk), and a CI pushing many tags one after
 * another then pays them once per window rather than once per tag. Search shows a push this much later.
 */
const BATCH_MS = 100;
/** Changes held for one repository before its record is written at once (each holds a manifest's bytes). */
const MAX_BATCH = 500;

type Change =
  | { kind: 'stored'; digest: string; mediaType: string; bytes: Buffer; tag?: string }
  | { kind: 'deleted'; digest: string; tag?: string }
  | { kind: 'full' };

interface Queue {
  /** Set while the queue waits for its window to close (BATCH_MS); cleared to start at once. */
  timer?: NodeJS.Timeout;
  /** The drain running or due; resolves when the queue is empty. */
  draining?: Promise<void>;
  start?: () => void;
  pending: Change[];
  waiters: Array<() => void>;
  /** Whether every pending change may leave the change log to a bulk entry (reconcile's passes). */
  deferLog: boolean;
}

export class SearchIndexer {
  readonly #queues = new Map<string, Queue>();

  constructor(
    private readonly store: SearchStore,
    private readonly registry: () => RegistryFacade,
    private readonly logger: Logger,
  ) {}

  /** Records a manifest write; resolves once the record shows it. */
  stored(e: Pick<ManifestStoredEvent, 'repo' | 'digest' | 'mediaType' | 'bytes' | 'tag'>): Promise<void> {
    return this.#enqueue(e.repo, { kind: 'stored', digest: e.digest, mediaType: e.mediaType, bytes: e.bytes, ...(e.tag !== undefined ? { tag: e.tag } : {}) });
  }

  /** Records a delete (of a tag, or by digest of the manifest and its tags); resolves once the record shows it. */
  deleted(e: { repo: string; digest: string; tag?: string }): Promise<void> {
    return this.#enqueue(e.repo, { kind: 'deleted', digest: e.digest, ...(e.tag !== undefined ? { tag: e.tag } : {}) });
  }

  /** Re-indexes `repo` from storage soon; resolves when a pass that started after this call has finished. */
  refresh(repo: string, opts: { deferLog?: boolean } = {}): Promise<void> {
    return this.#enqueue(repo, { kind: 'full' }, opts.deferLog === true);
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

  /** Writes every change still waiting for its window, now; for shutdown. */
  async flush(): Promise<void> {
    const queues = [...this.#queues.values()];
    for (const q of queues) q.start?.();
    await Promise.all(queues.map((q) => q.draining));
  }

  #enqueue(repo: string, change: Change, deferLog = false): Promise<void> {
    let queue = this.#queues.get(repo);
    if (!queue) {
      const q: Queue = { pending: [], waiters: [], deferLog: true };
      q.draining = new Promise<void>((resolve) => {
        q.start = () => {
          clearTimeout(q.timer);
          q.start = undefined;
          resolve(this.#drain(repo, q));
        };
      });
      // A full pass (reconcile's, one repository after another) starts at once; a write's change waits.
      if (change.kind !== 'full') q.timer = setTimeout(() => q.start?.(), BATCH_MS);
      this.#queues.set(repo, (queue = q));
    }
    queue.pending.push(change);
    if (!deferLog) queue.deferLog = false;
    const done = new Promise<void>((resolve) => queue.waiters.push(resolve));
    if (change.kind === 'full' || queue.pending.length >= MAX_BATCH) queue.start?.();
    return done;
  }

  async #drain(repo: string, queue: Queue): Promise<void> {
    while (queue.pending.length > 0) {
      const changes = queue.pending.splice(0);
      const waiters = queue.waiters.splice(0);
      const deferLog = queue.deferLog;
      queue.deferLog = true;
      await this.#apply(repo, changes, deferLog).catch((err: unknown) => this.logger.warn({ repo, err }, 'failed to index repository for search'));
      for (const resolve of waiters) resolve();
    }
    this.#queues.delete(repo);
  }

  /** Applies `changes` to the record as it is now, again from a fresh read when another writer got there first. */
  async #apply(repo: string, changes: Change[], deferLog: boolean): Promise<void> {
    for (;;) {
      const old = await this.store.recordEntry(repo);
      // Without a record, the repository may hold content no event announced: index all of it.
      const written = !old || changes.some((c) => c.kind === 'full')
        ? await this.#index(repo, old, deferLog)
        : await this.#update(repo, old, changes, deferLog);
      if (written) return;
    }
  }

  /** The changes applied to the record one by one; false when the record changed meanwhile. */
  async #update(repo: string, old: VersionedRecord, changes: Change[], deferLog: boolean): Promise<boolean> {
    const registry = this.registry();
    const { record } = old;
    const now = Date.now();
    for (const change of changes) {
      if (change.kind === 'stored') {
        platformFromIndex(record, await addManifest(registry, repo, record, change.digest, now, undefined, change));
        if (change.tag !== undefined) await this.#retag(repo, record, change.tag, now);
      } else if (change.kind === 'deleted') {
        if (change.tag !== undefined) await this.#retag(repo, record, change.tag, now);
        if (record.manifests[change.digest] && !(await registry.getManifest(repo, change.digest))) {
          delete record.manifests[change.digest];
          for (const [tag, t] of Object.entries(record.tags)) if (t.digest === change.digest) delete record.tags[tag];
        }
      }
    }
    // Nothing left: whether storage still has the repository is for a full pass to say.
    if (Object.keys(record.tags).length === 0 && Object.keys(record.manifests).length === 0) return this.#index(repo, old, deferLog);
    return this.store.putRepo(record, old.version, { deferLog });
  }

  /**
   * Points `tag` where storage has it now (or drops it): an event says where it pointed at its write, and
   * another berth may have moved it since; asking storage keeps the record right whatever order events come in.
   */
  async #retag(repo: string, record: RepoRecord, tag: string, now: number): Promise<void> {
    const stored = await this.registry().getManifest(repo, tag);
    if (!stored) {
      delete record.tags[tag];
      return;
    }
    const before = record.tags[tag];
    record.tags[tag] = { digest: stored.digest, taggedAt: before?.digest === stored.digest ? before.taggedAt : now };
    await addManifest(this.registry(), repo, record, stored.digest, now, undefined, stored);
  }

  /** The whole repository from storage; false when the record changed meanwhile. */
  async #index(repo: string, old: VersionedRecord | undefined, deferLog: boolean): Promise<boolean> {
    const registry = this.registry();
    const now = Date.now();
    const [tags, listed] = await Promise.all([registry.listTags(repo), registry.listManifests(repo)]);
    if (tags.length === 0 && listed.length === 0) return old ? this.store.deleteRepo(repo, old.version) : true;
    const record: RepoRecord = { name: repo, tags: {}, manifests: {} };
    for (const tag of tags) {
      const stored = await registry.getManifest(repo, tag);
      if (!stored) continue;
      const before = old?.record.tags[tag];
      record.tags[tag] = { digest: stored.digest, taggedAt: before?.digest === stored.digest ? before.taggedAt : now };
      await addManifest(registry, repo, record, stored.digest, now, old?.record, stored);
    }
    for (const d of listed) await addManifest(registry, repo, record, d.digest, now, old?.record);
    return this.store.putRepo(record, old?.version, { deferLog });
  }
}

/**
 * Adds manifest `digest` to `record` with the children an index lists (those stored: a pull-through cache
 * may not have fetched them yet). Manifests never change under their digest: what `reuse` (the previous
 * record) holds is taken as is, and `stored` saves reading the manifest's bytes.
 */
async function addManifest(registry: RegistryFacade, repo: string, record: RepoRecord, digest: string, now: number, reuse: RepoRecord | undefined, stored?: StoredManifest): Promise<ManifestMeta | undefined> {
  if (record.manifests[digest]) return record.manifests[digest];
  const meta = reuse?.manifests[digest] ?? (stored ? await manifestMeta(registry, repo, { digest, mediaType: stored.mediaType, bytes: stored.bytes }, now) : await readManifest(registry, repo, digest, now));
  if (!meta) return undefined;
  record.manifests[digest] = meta;
  for (const child of meta.children ?? []) {
    const c = await addManifest(registry, repo, record, child.digest, now, reuse);
    if (c && !c.platform && child.platform) c.platform = child.platform;
  }
  return meta;
}

/** A child stored after its index (pull-through) takes its platform from the index, as a full pass gives it. */
function platformFromIndex(record: RepoRecord, meta: ManifestMeta | undefined): void {
  if (!meta || meta.platform || meta.children) return;
  for (const m of Object.values(record.manifests)) {
    const entry = m.children?.find((c) => c.digest === meta.digest && c.platform);
    if (entry) {
      meta.platform = entry.platform;
      return;
    }
  }
}
