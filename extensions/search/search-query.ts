/**
 * How `GlobalSearch` reads its `query`, as Zot does: no `:` or `@` searches repository names (ranked);
 * `sha256:…` searches digests; `repo:prefix` the tags of one repository; `:text` tags of every repository.
 */
export type SearchTarget =
  | { kind: 'repo'; text: string }
  | { kind: 'digest'; digest: string }
  | { kind: 'image'; repo: string; tagPrefix: string }
  | { kind: 'tag'; text: string }
  | { kind: 'invalid' };

/** Zot's limit on the query and on each filter string. */
export const QUERY_SIZE_LIMIT = 256;

/** Trimmed, without leading or trailing `/`, lower-cased (Zot's cleanQuery). */
export const cleanQuery = (q: string) => q.trim().replace(/^\/+|\/+$/g, '').toLowerCase();

export function searchTarget(query: string): SearchTarget {
  if (!/[:@]/.test(query)) return { kind: 'repo', text: query };
  if (query.startsWith('sha256:')) return { kind: 'digest', digest: query };
  const at = query.indexOf(':');
  if (at > 0) return { kind: 'image', repo: query.slice(0, at), tagPrefix: query.slice(at + 1) };
  if (at === 0 && query.length > 1) return { kind: 'tag', text: query.slice(1) };
  return { kind: 'invalid' };
}

const PERFECT = 0;
const HIGH = 1;
const MEDIUM = 10;
const LOW = 100;

/**
 * Zot's repository rank for a search text (lower is better; -1: no match): an exact name first, then a match
 * in the last path segment, then in the first, then a prefix, then anywhere, earlier positions better.
 */
export function rankRepoName(searchText: string, repo: string): number {
  const text = searchText.replace(/^\/+|\/+$/g, '');
  const textParts = text.split('/');
  const repoParts = repo.split('/');
  if (textParts.length > repoParts.length) return -1;
  if (text === repo) return PERFECT;
  if (textParts.length === 1) {
    const last = repoParts[repoParts.length - 1]!.indexOf(text);
    if (last !== -1) return (last + 1) * HIGH;
    const first = repoParts[0]!.indexOf(text);
    if (first !== -1) return (first + 1) * MEDIUM;
  }
  if (textParts.slice(0, -1).every((part, i) => part === repoParts[i])) {
    const last = repoParts[repoParts.length - 1]!.indexOf(textParts[textParts.length - 1]!);
    if (last !== -1) return (last + 1) * HIGH;
  }
  if (repo.startsWith(text)) return MEDIUM;
  const anywhere = repo.indexOf(text);
  return anywhere === -1 ? -1 : (anywhere + 1) * LOW;
}
