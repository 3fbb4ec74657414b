/**
 * Search's layout in its MetaStore namespace (`kv('search')`), shared by every berth on the MetaStore:
 *   repo/<name>   the repository's record (tags, manifests)        written on every manifest write or delete
 *   sum/<name>    its summary (repository listings and search)     written with the record
 *   stats/<name>  downloads per digest and who starred it          written on pulls (batched, about once a second) and star toggles
 *   user/<name>   a user's stars and bookmarks
 *   seq, chg/<n>  the change log of repo/ and sum/ (ChangeLog): each berth mirrors the summaries in memory
 *                 and re-reads only the names changed since it last looked, so a page over 10k
 *                 repositories reads one key, not 10k
 *   statsseq, statschg/<n>  the same for stats/
 *   built         set once the background index of existing content has completed
 */
import type { KeyValueSpace } from '../../core/extensions/api';
import { emptyPrefs, emptyStats, type RepoRecord, type RepoStats, type UserPrefs } from './meta-model';
import { summarize, type RepoSummaryRecord } from './repo-summary';

const PAGE = 1000;
const encode = (v: unknown) => Buffer.from(JSON.stringify(v));
const decode = <T>(b: Uint8Array): T => JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')) as T;

const SEQ_DIGITS = 16;
const seqKey = (n: number) => String(n).padStart(SEQ_DIGITS, '0');
/** A change entry meaning "many names changed: read them all again" (written by bulk passes). */
const EVERYTHING = '*';
/** Change entries kept for readers that fell behind; one further behind reads everything again. */
const KEEP_CHANGES = 5000;
/** How long a hole in the change log (a writer that took a number and stopped) holds a reader back. */
const HOLE_WAIT_MS = 5000;

/**
 * One change log in the MetaStore: `<counter>` holds the number of the last change (taken by compare-and-set,
 * so every change has its own), `<log><n>` the name change n touched. Writers write the value first, then
 * take a number, then log it; a reader that has seen change k reads the entries after k and re-reads only
 * those names.
 */
class ChangeLog {
  constructor(private readonly kv: KeyValueSpace, readonly counter: string, readonly log: string) {}

  async last(): Promise<number> {
    const e = await this.kv.get(this.counter);
    return e ? decode<number>(e.value) : 0;
  }

  async record(name: string): Promise<void> {
    for (;;) {
      const current = await this.kv.get(this.counter);
      const n = (current ? decode<number>(current.value) : 0) + 1;
      if (!(await this.kv.compareAndSet(this.counter, current?.version, encode(n))).ok) continue;
      await this.kv.put(`${this.log}${seqKey(n)}`, encode(name));
      if (n % 500 === 0) await this.#prune(n - KEEP_CHANGES);
      return;
    }
  }

  /** Changes after `after`, in order: numbers and names. */
  async since(after: number): Promise<Array<{ n: number; name: string }>> {
    const out: Array<{ n: number; name: string }> = [];
    for (let from = `${this.log}${seqKey(after)}`; ;) {
      const page = await this.kv.list(this.log, { after: from, limit: PAGE });
      for (const e of page) out.push({ n: Number(e.key.slice(this.log.length)), name: decode<string>(e.value) });
      if (page.length < PAGE) return out;
      from = page[page.length - 1]!.key;
    }
  }

  async oldest(): Promise<number | undefined> {
    const [first] = await this.kv.list(this.log, { limit: 1 });
    return first ? Number(first.key.slice(this.log.length)) : undefined;
  }

  async #prune(below: number): Promise<void> {
    if (below <= 0) return;
    for (const e of await this.kv.list(this.log, { limit: PAGE })) {
      if (Number(e.key.slice(this.log.length)) >= below) return;
      await this.kv.delete(e.key);
    }
  }
}

/**
 * Every value under a prefix, mirrored in memory and kept current through its {@link ChangeLog}: a read when
 * nothing changed costs one key; after a change, the changed names only. At 10k repositories, reading and
 * decoding every summary takes hundreds of milliseconds; a page must not.
 */
class MirroredPrefix<T> {
  #seen = -1;
  #values = new Map<string, T>();
  #loading: Promise<void> | undefined;
  #holeSince: number | undefined;

  constructor(private readonly kv: KeyValueSpace, private readonly prefix: string, private readonly changes: ChangeLog) {}

  async all(): Promise<Map<string, T>> {
    const last = await this.changes.last();
    if (last !== this.#seen) {
      // Concurrent readers of a stale mirror share one update.
      this.#loading ??= this.#update(last).finally(() => (this.#loading = undefined));
      await this.#loading;
    }
    return this.#values;
  }

  async #update(last: number): Promise<void> {
    if (this.#seen < 0) return this.#readAll(last);
    const changes = await this.changes.since(this.#seen);
    // Fallen behind what the log keeps (the next change it needs was pruned): everything again.
    if (changes.length > 0 && changes[0]!.n > this.#seen + 1 && ((await this.changes.oldest()) ?? Infinity) > this.#seen + 1) return this.#readAll(last);
    // Only a run without holes counts as seen: a hole is a writer between taking its number and logging it.
    let upTo = this.#seen;
    const names = new Set<string>();
    for (const c of changes) {
      if (c.n !== upTo + 1) {
        this.#holeSince ??= Date.now();
        if (Date.now() - this.#holeSince < HOLE_WAIT_MS) break;
      }
      this.#holeSince = undefined;
      if (c.name === EVERYTHING) return this.#readAll(last);
      names.add(c.name);
      upTo = c.n;
    }
    const values = new Map(this.#values);
    for (const name of names) {
      const e = await this.kv.get(`${this.prefix}${name}`);
      if (e) values.set(name, decode<T>(e.value));
      else values.delete(name);
    }
    this.#values = values;
    this.#seen = upTo;
  }

  async #readAll(last: number): Promise<void> {
    const values = new Map<string, T>();
    for (let after: string | undefined; ;) {
      const page = await this.kv.list(this.prefix, { after, limit: PAGE });
      for (const e of page) values.set(e.key.slice(this.prefix.length), decode<T>(e.value));
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.key;
    }
    this.#values = values;
    this.#seen = last;
    this.#holeSince = undefined;
  }
}

export interface VersionedRecord {
  record: RepoRecord;
  version: number;
}

export class SearchStore {
  readonly #repoChanges: ChangeLog;
  readonly #statsChanges: ChangeLog;
  readonly #summaries: MirroredPrefix<RepoSummaryRecord>;
  readonly #records: MirroredPrefix<RepoRecord>;
  readonly #stats: MirroredPrefix<RepoStats>;

  constructor(private readonly kv: KeyValueSpace) {
    this.#repoChanges = new ChangeLog(kv, 'seq', 'chg/');
    this.#statsChanges = new ChangeLog(kv, 'statsseq', 'statschg/');
    this.#summaries = new MirroredPrefix(kv, 'sum/', this.#repoChanges);
    this.#records = new MirroredPrefix(kv, 'repo/', this.#repoChanges);
    this.#stats = new MirroredPrefix(kv, 'stats/', this.#statsChanges);
  }

  async record(repo: string): Promise<RepoRecord | undefined> {
    return (await this.recordEntry(repo))?.record;
  }

  /** The record with its version, for {@link putRepo} and {@link deleteRepo} to write only over it. */
  async recordEntry(repo: string): Promise<VersionedRecord | undefined> {
    const e = await this.kv.get(`repo/${repo}`);
    return e ? { record: decode<RepoRecord>(e.value), version: e.version } : undefined;
  }

  /**
   * Writes a repository's record, if it is still at `expected` (undefined: absent), and its summary, then logs
   * the change (unless `deferLog`: a bulk pass calls {@link logBulkChange} now and then instead, which has
   * readers read everything again). False, writing nothing, when another writer changed the record meanwhile:
   * read it again and redo the change.
   */
  async putRepo(record: RepoRecord, expected: number | undefined, opts: { deferLog?: boolean } = {}): Promise<boolean> {
    const written = await this.kv.compareAndSet(`repo/${record.name}`, expected, encode(record));
    if (!written.ok) return false;
    await this.#putSummary(record, written.value.version);
    if (!opts.deferLog) await this.#repoChanges.record(record.name);
    return true;
  }

  /**
   * The summary of the record written as `version`. Two writers (berths on one MetaStore) can write their
   * summaries in the other order than their records; whoever then finds a newer record writes its summary.
   */
  async #putSummary(record: RepoRecord, version: number): Promise<void> {
    for (;;) {
      await this.kv.put(`sum/${record.name}`, encode(summarize(record)));
      const now = await this.kv.get(`repo/${record.name}`);
      if (!now || now.version === version) return;
      ({ record, version } = { record: decode<RepoRecord>(now.value), version: now.version });
    }
  }

  async logBulkChange(): Promise<void> {
    await this.#repoChanges.record(EVERYTHING);
  }

  /** Deletes a repository's record if it is still at `expected` (any version when not given); see {@link putRepo}. */
  async deleteRepo(repo: string, expected?: number): Promise<boolean> {
    if (!(await this.kv.delete(`repo/${repo}`, expected)) && expected !== undefined) return false;
    await this.kv.delete(`sum/${repo}`);
    await this.#repoChanges.record(repo);
    return true;
  }

  summaries(): Promise<Map<string, RepoSummaryRecord>> {
    return this.#summaries.all();
  }

  records(): Promise<Map<string, RepoRecord>> {
    return this.#records.all();
  }

  stats(): Promise<Map<string, RepoStats>> {
    return this.#stats.all();
  }

  async isBuilt(): Promise<boolean> {
    return (await this.kv.get('built')) !== undefined;
  }

  async markBuilt(): Promise<void> {
    await this.kv.put('built', encode(Date.now()));
  }

  /** Adds pulls to a repository's download counts: per digest, how many and the last (ms). */
  async addPulls(repo: string, pulls: ReadonlyMap<string, { count: number; last: number }>): Promise<void> {
    await this.#update(`stats/${repo}`, emptyStats, (s) => {
      for (const [digest, p] of pulls) {
        const d = (s.downloads[digest] ??= { count: 0, last: 0 });
        d.count += p.count;
        d.last = Math.max(d.last, p.last);
      }
    });
    await this.#statsChanges.record(repo);
  }

  async prefs(user: string): Promise<UserPrefs> {
    const e = await this.kv.get(`user/${user}`);
    return e ? decode<UserPrefs>(e.value) : emptyPrefs();
  }

  /** Toggles `repo` in the user's stars or bookmarks; returns whether it is now set. */
  async togglePref(user: string, repo: string, kind: 'stars' | 'bookmarks'): Promise<boolean> {
    let set = false;
    await this.#update(`user/${user}`, emptyPrefs, (p) => {
      set = !p[kind].includes(repo);
      p[kind] = set ? [...p[kind], repo].sort() : p[kind].filter((r) => r !== repo);
    });
    if (kind === 'stars') {
      await this.#update(`stats/${repo}`, emptyStats, (s) => {
        s.stars = set ? [...new Set([...s.stars, user])].sort() : s.stars.filter((u) => u !== user);
      });
      await this.#statsChanges.record(repo);
    }
    return set;
  }

  /** Read, change, compare-and-set; again on a lost race (another request or replica wrote meanwhile). */
  async #update<T>(key: string, empty: () => T, change: (value: T) => void): Promise<void> {
    for (;;) {
      const current = await this.kv.get(key);
      const value = current ? decode<T>(current.value) : empty();
      change(value);
      const result = await this.kv.compareAndSet(key, current?.version, encode(value));
      if (result.ok) return;
    }
  }
}
