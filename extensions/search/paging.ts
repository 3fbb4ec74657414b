/**
 * Zot's paging (pkg/extensions/search/pagination): sort the whole result, then cut `offset`..`offset+limit`;
 * `limit` 0 with `offset` 0 is everything; an offset past the end is an empty page. `TotalCount` counts the
 * whole result, `ItemCount` the page.
 */
import type { ImageView } from './image-view';
import { GraphQLError } from 'graphql';

export type SortCriteria = 'RELEVANCE' | 'UPDATE_TIME' | 'ALPHABETIC_ASC' | 'ALPHABETIC_DSC' | 'SEVERITY' | 'STARS' | 'DOWNLOADS';

export interface PageInput {
  limit?: number | null;
  offset?: number | null;
  sortBy?: SortCriteria | null;
}

export interface PageInfo { TotalCount: number; ItemCount: number }

export interface RepoSortKeys {
  name: string;
  rank: number;
  lastUpdated: number | null;
  downloads: number;
}

type Compare<T> = (a: T, b: T) => number;

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** Newest first; unknown times last. */
const byTimeDesc = (a: number | null, b: number | null) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : b - a);

const REPO_SORTS: Partial<Record<SortCriteria, Compare<RepoSortKeys>>> = {
  ALPHABETIC_ASC: (a, b) => byName(a.name, b.name),
  ALPHABETIC_DSC: (a, b) => byName(b.name, a.name),
  RELEVANCE: (a, b) => a.rank - b.rank || byName(a.name, b.name),
  UPDATE_TIME: (a, b) => byTimeDesc(a.lastUpdated, b.lastUpdated) || byName(a.name, b.name),
  DOWNLOADS: (a, b) => b.downloads - a.downloads || byName(a.name, b.name),
};

const imageTime = (i: ImageView) => (i.LastUpdated ? Date.parse(i.LastUpdated) : null);
const alphabetic: Compare<ImageView> = (a, b) => byName(a.RepoName, b.RepoName) || byName(a.Tag, b.Tag);
const IMAGE_SORTS: Partial<Record<SortCriteria, Compare<ImageView>>> = {
  ALPHABETIC_ASC: alphabetic,
  ALPHABETIC_DSC: (a, b) => alphabetic(b, a),
  RELEVANCE: alphabetic, // as Zot: images have no rank of their own
  UPDATE_TIME: (a, b) => byTimeDesc(imageTime(a), imageTime(b)) || alphabetic(a, b),
  DOWNLOADS: (a, b) => b.DownloadCount - a.DownloadCount || alphabetic(a, b),
};

/** Zot's input checks: negative numbers are refused. */
export function checkPage(page: PageInput | null | undefined): void {
  if ((page?.limit ?? 0) < 0) throw new GraphQLError('requested page limit parameter can\'t be negative');
  if ((page?.offset ?? 0) < 0) throw new GraphQLError('requested page offset parameter can\'t be negative');
}

function sorter<T>(table: Partial<Record<SortCriteria, Compare<T>>>, kind: string, sortBy: SortCriteria): Compare<T> {
  const compare = table[sortBy];
  if (!compare) throw new GraphQLError(`sorting ${kind} by '${sortBy}' is not supported`);
  return compare;
}

export function cut<T>(sorted: T[], page: PageInput | null | undefined): { items: T[]; info: PageInfo } {
  const limit = page?.limit ?? 0;
  const offset = page?.offset ?? 0;
  const start = Math.min(offset, sorted.length);
  const items = limit === 0 && offset === 0 ? sorted : sorted.slice(start, limit === 0 ? start : Math.min(start + limit, sorted.length));
  return { items, info: { TotalCount: sorted.length, ItemCount: items.length } };
}

export function pageRepos<T extends RepoSortKeys>(repos: T[], page: PageInput | null | undefined, defaultSort: SortCriteria) {
  checkPage(page);
  return cut([...repos].sort(sorter(REPO_SORTS, 'repos', page?.sortBy ?? defaultSort)), page);
}

export function pageImages(images: ImageView[], page: PageInput | null | undefined, defaultSort: SortCriteria) {
  checkPage(page);
  return cut([...images].sort(sorter(IMAGE_SORTS, 'images', page?.sortBy ?? defaultSort)), page);
}
