/**
 * What a query returns for one caller: the stored views with that caller's download counts, stars and
 * bookmarks filled in, and Zot's `Filter` applied.
 */
import type { ImageView } from './image-view';
import type { RepoStats, UserPrefs } from './meta-model';
import type { RepoSummaryRecord } from './repo-summary';
import { QUERY_SIZE_LIMIT } from './search-query';
import { GraphQLError } from 'graphql';

export interface Filter {
  Os?: Array<string | null> | null;
  Arch?: Array<string | null> | null;
  HasToBeSigned?: boolean | null;
  IsBookmarked?: boolean | null;
  IsStarred?: boolean | null;
}

/** Zot's cleanFilter: lower-cased, trimmed, empty strings dropped (zui sends `Os: ""` for "any"). */
export interface CleanFilter { os: string[]; arch: string[]; signed: boolean; bookmarked: boolean; starred: boolean }

export function cleanFilter(filter: Filter | null | undefined): CleanFilter {
  const list = (values: Array<string | null> | null | undefined) => {
    for (const v of values ?? []) {
      if ((v ?? '').length > QUERY_SIZE_LIMIT) throw new GraphQLError(`max string size limit exceeded for filter parameter. max=${QUERY_SIZE_LIMIT}`);
    }
    return (values ?? []).map((v) => (v ?? '').trim().toLowerCase()).filter((v) => v !== '');
  };
  return {
    os: list(filter?.Os),
    arch: list(filter?.Arch),
    signed: filter?.HasToBeSigned === true,
    bookmarked: filter?.IsBookmarked === true,
    starred: filter?.IsStarred === true,
  };
}

const archMatches = (wanted: string[], arch: string) => wanted.length === 0 || wanted.includes(arch.toLowerCase()) || wanted.includes(arch.split('/')[0]!.toLowerCase());
const osMatches = (wanted: string[], os: string) => wanted.length === 0 || wanted.includes(os.toLowerCase());

export function platformsMatch(f: CleanFilter, platforms: Array<{ Os: string; Arch: string }>): boolean {
  if (f.os.length === 0 && f.arch.length === 0) return true;
  return platforms.some((p) => osMatches(f.os, p.Os) && archMatches(f.arch, p.Arch));
}

export function repoPassesFilter(f: CleanFilter, sum: RepoSummaryRecord, prefs: UserPrefs): boolean {
  if (!platformsMatch(f, sum.platforms)) return false;
  if (f.signed && !sum.newest?.IsSigned) return false;
  if (f.bookmarked && !prefs.bookmarks.includes(sum.name)) return false;
  if (f.starred && !prefs.stars.includes(sum.name)) return false;
  return true;
}

export function imagePassesFilter(f: CleanFilter, image: ImageView, prefs: UserPrefs): boolean {
  if (!platformsMatch(f, image.Manifests.map((m) => m.Platform))) return false;
  if (f.signed && !image.IsSigned) return false;
  if (f.bookmarked && !prefs.bookmarks.includes(image.RepoName)) return false;
  if (f.starred && !prefs.stars.includes(image.RepoName)) return false;
  return true;
}

const repoDownloads = (stats: RepoStats | undefined) => Object.values(stats?.downloads ?? {}).reduce((n, d) => n + d.count, 0);
export { repoDownloads };

/** The image with its pull counts: per manifest digest, and the image's own digest for the image. */
export function withStats(view: ImageView, stats: RepoStats | undefined): ImageView {
  const own = stats?.downloads[view.Digest];
  return {
    ...view,
    DownloadCount: own?.count ?? 0,
    LastPullTimestamp: own ? new Date(own.last).toISOString() : null,
    Manifests: view.Manifests.map((m) => ({ ...m, DownloadCount: stats?.downloads[m.Digest]?.count ?? 0 })),
  };
}

export interface RepoView {
  Name: string;
  LastUpdated: string | null;
  Size: string;
  Platforms: Array<{ Os: string; Arch: string }>;
  Vendors: string[];
  NewestImage: ImageView | null;
  DownloadCount: number;
  StarCount: number;
  IsBookmarked: boolean;
  IsStarred: boolean;
  Rank: number | null;
}

export function repoView(sum: RepoSummaryRecord, stats: RepoStats | undefined, prefs: UserPrefs, rank: number | null): RepoView {
  return {
    Name: sum.name,
    LastUpdated: sum.lastUpdated === null ? null : new Date(sum.lastUpdated).toISOString(),
    Size: String(sum.size),
    Platforms: sum.platforms,
    Vendors: sum.vendors,
    NewestImage: sum.newest ? withStats(sum.newest, stats) : null,
    DownloadCount: repoDownloads(stats),
    StarCount: stats?.stars.length ?? 0,
    IsBookmarked: prefs.bookmarks.includes(sum.name),
    IsStarred: prefs.stars.includes(sum.name),
    Rank: rank,
  };
}
