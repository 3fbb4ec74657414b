import type { ContentSource } from '../extensions/api';

/** Where a request's content lives locally, and the sources to ask on a miss. */
export interface SourceRoute {
  localRepo: string;
  sources: ContentSource[];
}

/** The ordered list of pull-through sources extensions register; asked only on a local miss. */
export class ContentSources {
  readonly #sources: ContentSource[] = [];

  add(source: ContentSource): void {
    if (this.#sources.some((s) => s.name === source.name)) throw new Error(`content source ${source.name} registered twice`);
    this.#sources.push(source);
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
