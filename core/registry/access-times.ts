import type { Logger } from 'pino';
import type { RegistryEvents } from '../extensions/api';
import type { AccessKind, AccessTimes as StoredTimes, MetaStore } from '../metastore/meta-store';

// Times are written in batches: a pull of a 20-layer image is one MetaStore write, not 21. A crash loses at
// most this much of them; the batch is also written once it holds MAX_PENDING subjects, so it stays small.
const FLUSH_MS = 1_000;
const MAX_PENDING = 5_000;

/** Where the record's start is kept (MetaStore kv space of the core), shared by every berth on the MetaStore. */
export const ACCESS_TIMES_NS = 'berth.retention';
export const SINCE_KEY = 'since';

/**
 * When each manifest or blob was last pulled (by digest) and first pushed or cached (per repository: the
 * subject `<repo>@<digest>`), kept in the MetaStore's `accessTimes` so a restart, or another berth on the
 * same MetaStore, neither makes everything look freshly pulled nor never pulled. Content the record has never
 * seen counts as pulled when the record was created (`since`), and as pushed when it is first looked at, so
 * turning retention on never deletes at once what berth had no times for. Nothing here grows with the
 * content: reads go to the store, and only the batch not yet written is held.
 */
export class AccessTimes {
  readonly #pending: Record<AccessKind, Map<string, number>> = { pulled: new Map(), pushed: new Map() };
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  private constructor(private readonly store: StoredTimes, readonly since: number, private readonly logger: Logger) {}

  /** The record of `meta`; the first berth to open it (or the migration of an older file) sets `since`. */
  static async open(meta: MetaStore, logger: Logger): Promise<AccessTimes> {
    return new AccessTimes(meta.accessTimes, await recordStart(meta, Date.now()), logger.child({ component: 'access-times' }));
  }

  /** Records pulls and pushes from the app's events. */
  follow(events: RegistryEvents): void {
    events.on('image.pulled', (e) => this.markPulled(e.digest));
    events.on('blob.pulled', (e) => this.markPulled(e.digest));
    events.on('manifest.stored', (e) => this.markPushed(e.repo, e.digest));
    events.on('blob.committed', (e) => this.markPushed(e.repo, e.digest));
  }

  markPulled(digest: string, at = Date.now()): void {
    this.#mark('pulled', digest, at);
  }

  markPushed(repo: string, digest: string, at = Date.now()): void {
    this.#mark('pushed', pushedSubject(repo, digest), at);
  }

  /** Last pull of each digest; one never pulled counts from `since`. Every digest asked is in the map. */
  async pulledAt(digests: readonly string[]): Promise<Map<string, number>> {
    const found = await this.#read('pulled', digests);
    return new Map(digests.map((d) => [d, found.get(d) ?? this.since]));
  }

  /** First push of each digest into `repo`; one never seen counts (and is recorded) as pushed now. */
  async pushedAt(repo: string, digests: readonly string[], now = Date.now()): Promise<Map<string, number>> {
    const found = await this.#read('pushed', digests.map((d) => pushedSubject(repo, d)));
    return new Map(digests.map((d) => {
      const at = found.get(pushedSubject(repo, d));
      if (at !== undefined) return [d, at];
      this.markPushed(repo, d, now);
      return [d, now];
    }));
  }

  /** Forgets a repository's deleted content (its push times; pull times are per digest and shared). */
  async forget(repo: string, digests: readonly string[]): Promise<void> {
    const subjects = digests.map((d) => pushedSubject(repo, d));
    for (const s of subjects) this.#pending.pushed.delete(s);
    await this.#writing;
    await this.store.forget('pushed', subjects);
  }

  /** Writes what is pending; later marks are still accepted and written by the next close or flush. */
  async close(): Promise<void> {
    await this.#flush();
  }

  #mark(kind: AccessKind, subject: string, at: number): void {
    const pending = this.#pending[kind];
    if ((pending.get(subject) ?? 0) < at) pending.set(subject, at);
    if (this.#pending.pulled.size + this.#pending.pushed.size >= MAX_PENDING) void this.#flush();
    else this.#timer ??= setTimeout(() => void this.#flush(), FLUSH_MS).unref();
  }

  /** Stored times, with the batch not yet written over them (a time never moves back). */
  async #read(kind: AccessKind, subjects: readonly string[]): Promise<Map<string, number>> {
    const found = subjects.length === 0 ? new Map<string, number>() : await this.store.getMany(kind, subjects);
    for (const s of subjects) {
      const pending = this.#pending[kind].get(s);
      if (pending !== undefined && pending > (found.get(s) ?? -Infinity)) found.set(s, pending);
    }
    return found;
  }

  #flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = (['pulled', 'pushed'] as const).map((kind) => {
      const entries = [...this.#pending[kind]].map(([subject, at]) => ({ subject, at }));
      this.#pending[kind].clear();
      return { kind, entries };
    }).filter((b) => b.entries.length > 0);
    this.#writing = this.#writing.then(async () => {
      for (const { kind, entries } of batch) await this.store.record(kind, entries);
    }).catch((err: unknown) => this.logger.warn({ err }, 'failed to record access times'));
    return this.#writing;
  }
}

export function pushedSubject(repo: string, digest: string): string {
  return `${repo}@${digest}`;
}

/**
 * The record's start: the stored one, or `candidate` when there is none. The earlier of two wins, so an
 * imported older record (legacy-import.ts) moves it back and a later start never moves it forward.
 */
export async function recordStart(meta: MetaStore, candidate: number): Promise<number> {
  const kv = meta.kv(ACCESS_TIMES_NS);
  for (;;) {
    const current = await kv.get(SINCE_KEY);
    const stored = current ? Number(Buffer.from(current.value).toString('utf8')) : undefined;
    if (stored !== undefined && Number.isFinite(stored) && stored <= candidate) return stored;
    const set = await kv.compareAndSet(SINCE_KEY, current?.version, Buffer.from(String(candidate)));
    if (set.ok) return candidate;
  }
}
