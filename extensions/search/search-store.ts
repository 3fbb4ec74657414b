/**
 * Search's layout in its MetaStore namespace (`kv('search')`), shared by every berth on the MetaStore:
 *   repo/<name>   the repository's record (tags, manifests)        written on every manifest write or delete
 *   sum/<name>    its summary (repository listings and search)     written with the record
 *   stats/<name>  downloads per digest and who starred it          written on pulls and star toggles
 *   user/<name>   a user's stars and bookmarks
 *   gen, statsgen rewritten after every write of the records above: a reader whose cached copy has the
 *                 same version as the key is current, so a page over 10k repositories reads one key, not 10k.
 *   built         set once the background index of existing content has completed
 */
import type { KeyValueSpace } from '../../core/extensions/api';
import { emptyPrefs, emptyStats, type RepoRecord, type RepoStats, type UserPrefs } from './meta-model';
import type { RepoSummaryRecord } from './repo-summary';

const PAGE = 1000;
const encode = (v: unknown) => Buffer.from(JSON.stringify(v));
const decode = <T>(b: Uint8Array): T => JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')) as T;

/** Every value under a prefix, re-read only when the generation key changed. */
class GenerationCache<T> {
  #version: number | undefined;
  #values: Map<string, T> | undefined;
  #loading: Promise<Map<string, T>> | undefined;

  constructor(private readonly kv: KeyValueSpace, private readonly prefix: string, private readonly genKey: string) {}

  async all(): Promise<Map<string, T>> {
    const gen = (await this.kv.get(this.genKey))?.version ?? 0;
    if (this.#values && gen === this.#version) return this.#values;
    // Concurrent readers of a stale cache share one reload.
    this.#loading ??= (async () => {
      try {
        const values = new Map<string, T>();
        for (let after: string | undefined; ;) {
          const page = await this.kv.list(this.prefix, { after, limit: PAGE });
          for (const e of page) values.set(e.key.slice(this.prefix.length), decode<T>(e.value));
          if (page.length < PAGE) break;
          after = page[page.length - 1]!.key;
        }
        this.#values = values;
        this.#version = gen;
        return values;
      } finally {
        this.#loading = undefined;
      }
    })();
    return this.#loading;
  }
}

export class SearchStore {
  readonly #summaries: GenerationCache<RepoSummaryRecord>;
  readonly #records: GenerationCache<RepoRecord>;
  readonly #stats: GenerationCache<RepoStats>;

  constructor(private readonly kv: KeyValueSpace) {
    this.#summaries = new GenerationCache(kv, 'sum/', 'gen');
    this.#records = new GenerationCache(kv, 'repo/', 'gen');
    this.#stats = new GenerationCache(kv, 'stats/', 'statsgen');
  }

  async record(repo: string): Promise<RepoRecord | undefined> {
    const e = await this.kv.get(`repo/${repo}`);
    return e ? decode<RepoRecord>(e.value) : undefined;
  }

  /** Writes a repository's record and summary, then the generation (readers see both or neither as new). */
  async putRepo(record: RepoRecord, summary: RepoSummaryRecord): Promise<void> {
    await this.kv.put(`repo/${record.name}`, encode(record));
    await this.kv.put(`sum/${record.name}`, encode(summary));
    await this.kv.put('gen', encode(Date.now()));
  }

  async deleteRepo(repo: string): Promise<void> {
    await this.kv.delete(`repo/${repo}`);
    await this.kv.delete(`sum/${repo}`);
    await this.kv.put('gen', encode(Date.now()));
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

  async recordPull(repo: string, digest: string, at: number): Promise<void> {
    await this.#update(`stats/${repo}`, emptyStats, (s) => {
      const d = (s.downloads[digest] ??= { count: 0, last: 0 });
      d.count += 1;
      d.last = Math.max(d.last, at);
    });
    await this.kv.put('statsgen', encode(at));
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
      await this.kv.put('statsgen', encode(Date.now()));
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
