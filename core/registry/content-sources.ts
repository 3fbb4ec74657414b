import type { ContentSource } from '../extensions/api';

/** Where a request's content lives locally, and the sources to ask on a miss. */
export interface SourceRoute {
  localRepo: string;
  sources: ContentSource[];
}

/**
 * The ordered list of pull-through sources extensions register, asked only on a local miss: each extension's
 * sources in the order it added them, extensions in the order they were loaded. A reload replaces one
 * extension's sources in place, at once.
 */
export class ContentSources {
  readonly #byOwner = new Map<string, ContentSource[]>();
  #sources: ContentSource[] = [];

  /** Throws when these owners' sources could not replace theirs at once (a name used twice across all owners). */
  check(changes: ReadonlyMap<string, ContentSource[]>): void {
    const names = new Set<string>();
    for (const [owner, list] of [...this.#byOwner, ...changes].filter(([o, l]) => changes.get(o) === l || !changes.has(o))) {
      for (const source of list) {
        if (names.has(source.name)) throw new Error(`content source ${source.name} registered twice (by ${owner})`);
        names.add(source.name);
      }
    }
  }

  /** Sets `owner`'s sources (keeping its place in the order); an empty list removes them. */
  replace(owner: string, sources: ContentSource[]): void {
    this.check(new Map([[owner, sources]]));
    if (sources.length === 0) this.#byOwner.delete(owner);
    else this.#byOwner.set(owner, [...sources]);
    this.#sources = [...this.#byOwner.values()].flat();
  }

  for(repo: string, ns: string | undefined): ContentSource[] {
    return this.#sources.filter((s) => s.matches(repo, ns));
  }

  /** The first matching source decides the local repository (a mirror may store `?ns=` content under a prefix). */
  route(repo: string, ns: string | undefined): SourceRoute {
    const sources = this.for(repo, ns);
    const localRepo = sources[0]?.localRepository?.(repo, ns) ?? repo;
    return { localRepo, sources };
  }
}
