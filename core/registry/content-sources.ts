import type { ContentSource } from '../extensions/api';

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
}
