/**
 * The Query resolvers, with Zot's semantics (pkg/extensions/search/resolver.go): what each query returns,
 * its default sort, and what a caller who may not read a repository gets (nothing, never an error that tells
 * the repository exists).
 */
import { GraphQLError } from 'graphql';
import { imageView, referrersOf, taggedImages, type ImageView } from './image-view';
import type { RepoRecord, RepoStats, UserPrefs } from './meta-model';
import { pageImages, pageRepos, type PageInput } from './paging';
import type { RepoSummaryRecord } from './repo-summary';
import { cleanQuery, QUERY_SIZE_LIMIT, rankRepoName, searchTarget } from './search-query';
import type { SearchStore } from './search-store';
import { cleanFilter, imagePassesFilter, repoDownloads, repoPassesFilter, repoView, withStats, type Filter } from './views';

/** What the resolvers read (search-store.ts). */
export type SearchReads = Pick<SearchStore, 'summaries' | 'records' | 'record' | 'stats' | 'prefs'>;

/** One request's caller, as the resolvers need it. */
export interface SearchCaller {
  user: string | undefined;
  /** The names among `repos` this caller may read. */
  readable(repos: string[]): Promise<Set<string>>;
  mayDelete(repo: string): Promise<boolean>;
}

/** Why CVE fields and queries have no answer here. */
export const NO_SCANNING = 'CVE scanning is not available in this deployment: berth has no vulnerability database';
/** Zot's answer when `extensions.search.cve` is not configured. */
export const CVE_DISABLED = 'cve search is disabled';

type Args = Record<string, unknown>;
interface Req { caller: SearchCaller; cveConfigured: boolean }

/** `repo:tag` (or `repo@digest`), split where Zot splits it: the last `:` after the last `/`. */
export function parseImage(image: string): { repo: string; ref: string } {
  const at = image.indexOf('@');
  if (at > 0) return { repo: image.slice(0, at), ref: image.slice(at + 1) };
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/') ? { repo: image.slice(0, colon), ref: image.slice(colon + 1) } : { repo: image, ref: '' };
}

export function createResolvers(store: SearchReads) {
  const context = async (caller: SearchCaller) => {
    const [summaries, stats, prefs] = await Promise.all([store.summaries(), store.stats(), caller.user ? store.prefs(caller.user) : Promise.resolve<UserPrefs>({ stars: [], bookmarks: [] })]);
    const readable = await caller.readable([...summaries.keys()]);
    return { summaries, stats, prefs, readable };
  };

  /** Readable repositories with tagged images, as RepoSummary objects, sorted and cut to the page. */
  const repoPage = async (
    caller: SearchCaller,
    page: PageInput | undefined,
    defaultSort: 'UPDATE_TIME' | 'RELEVANCE',
    keep: (sum: RepoSummaryRecord, prefs: UserPrefs) => number | false,
  ) => {
    const { summaries, stats, prefs, readable } = await context(caller);
    const candidates: Array<{ sum: RepoSummaryRecord; name: string; rank: number; lastUpdated: number | null; downloads: number }> = [];
    for (const sum of summaries.values()) {
      if (!sum.newest || !readable.has(sum.name)) continue;
      const rank = keep(sum, prefs);
      if (rank === false) continue;
      candidates.push({ sum, name: sum.name, rank, lastUpdated: sum.lastUpdated, downloads: repoDownloads(stats.get(sum.name)) });
    }
    const { items, info } = pageRepos(candidates, page, defaultSort);
    return { Page: info, Results: items.map((c) => repoView(c.sum, stats.get(c.name), prefs, c.rank)) };
  };

  /** Tagged images of the readable repositories `records` yields, filtered, with their pull counts. */
  const images = async (caller: SearchCaller, records: Iterable<RepoRecord>, keep: (tag: string, view: ImageView, prefs: UserPrefs) => boolean) => {
    const all = [...records];
    const readable = await caller.readable(all.map((r) => r.name));
    const [stats, prefs] = await Promise.all([store.stats(), caller.user ? store.prefs(caller.user) : Promise.resolve<UserPrefs>({ stars: [], bookmarks: [] })]);
    const out: ImageView[] = [];
    for (const record of all) {
      if (!readable.has(record.name)) continue;
      for (const { tag, digest } of taggedImages(record)) {
        const view = imageView(record, digest, tag);
        if (view && keep(tag, view, prefs)) out.push(withStats(view, stats.get(record.name)));
      }
    }
    return out;
  };

  const readableRecord = async (caller: SearchCaller, repo: string): Promise<RepoRecord | undefined> =>
    (await caller.readable([repo])).has(repo) ? store.record(repo) : undefined;

  /** The layers of the image `image` names (its manifest `digest` when given, else all its manifests). */
  const layersOf = async (caller: SearchCaller, image: string, digest: string | undefined): Promise<string[][]> => {
    const { repo, ref } = parseImage(image);
    const record = await readableRecord(caller, repo);
    const view = record && imageView(record, record.tags[ref]?.digest ?? ref, ref);
    if (!view) throw new GraphQLError(`image not found: ${image}`);
    return view.Manifests.filter((m) => !digest || m.Digest === digest).map((m) => m.layerDigests).filter((l) => l.length > 0);
  };
  const startsWith = (longer: string[], prefix: string[]) => longer.length > prefix.length && prefix.every((d, i) => longer[i] === d);

  const cve = (req: Req) => {
    throw new GraphQLError(req.cveConfigured ? NO_SCANNING : CVE_DISABLED);
  };

  return {
    CVEListForImage: (_: Args, req: Req) => cve(req),
    CVEDiffListForImages: (_: Args, req: Req) => cve(req),
    ImageListForCVE: (_: Args, req: Req) => cve(req),
    ImageListWithCVEFixed: (_: Args, req: Req) => cve(req),

    async ImageListForDigest(args: { id: string; requestedPage?: PageInput }, { caller }: Req) {
      const id = args.id.toLowerCase();
      const hit = (v: ImageView) => v.Digest === id || v.Manifests.some((m) => m.Digest === id || m.ConfigDigest === id || m.layerDigests.includes(id));
      const { items, info } = pageImages(await images(caller, (await store.records()).values(), (_t, v) => hit(v)), args.requestedPage, 'RELEVANCE');
      return { Page: info, Results: items };
    },

    RepoListWithNewestImage: (args: { requestedPage?: PageInput }, { caller }: Req) => repoPage(caller, args.requestedPage, 'UPDATE_TIME', () => 0),

    StarredRepos: (args: { requestedPage?: PageInput }, { caller }: Req) =>
      repoPage(caller, args.requestedPage, 'UPDATE_TIME', (sum, prefs) => (prefs.stars.includes(sum.name) ? 0 : false)),

    BookmarkedRepos: (args: { requestedPage?: PageInput }, { caller }: Req) =>
      repoPage(caller, args.requestedPage, 'UPDATE_TIME', (sum, prefs) => (prefs.bookmarks.includes(sum.name) ? 0 : false)),

    async ImageList(args: { repo: string; requestedPage?: PageInput }, { caller }: Req) {
      const records = args.repo === '' ? (await store.records()).values() : [await store.record(args.repo)].filter((r): r is RepoRecord => r !== undefined);
      const { items, info } = pageImages(await images(caller, records, () => true), args.requestedPage, 'RELEVANCE');
      return { Page: info, Results: items };
    },

    async ExpandedRepoInfo(args: { repo: string }, { caller }: Req) {
      const record = await readableRecord(caller, args.repo);
      if (!record) return {}; // as Zot: nothing, whether it is missing or not readable
      const [stats, prefs, mayDelete] = await Promise.all([
        store.stats(),
        caller.user ? store.prefs(caller.user) : Promise.resolve<UserPrefs>({ stars: [], bookmarks: [] }),
        caller.mayDelete(args.repo),
      ]);
      const sum = (await store.summaries()).get(args.repo);
      const repoStats: RepoStats | undefined = stats.get(args.repo);
      const list = taggedImages(record)
        .map(({ tag, digest }) => imageView(record, digest, tag))
        .filter((v): v is ImageView => v !== undefined)
        .map((v) => ({ ...withStats(v, repoStats), IsDeletable: mayDelete }));
      const { items } = pageImages(list, undefined, 'UPDATE_TIME');
      return { Images: items, Summary: sum ? repoView(sum, repoStats, prefs, null) : null };
    },

    async GlobalSearch(args: { query: string; filter?: Filter; requestedPage?: PageInput }, { caller }: Req) {
      if (args.query.length > QUERY_SIZE_LIMIT) throw new GraphQLError(`max string size limit exceeded for query parameter. max=${QUERY_SIZE_LIMIT} current=${args.query.length}`);
      const filter = cleanFilter(args.filter);
      const query = cleanQuery(args.query);
      const target = searchTarget(query);
      if (target.kind === 'invalid') throw new GraphQLError('invalid search query');
      if (target.kind === 'repo') {
        const { Page, Results } = await repoPage(caller, args.requestedPage, 'RELEVANCE', (sum, prefs) => {
          const rank = rankRepoName(target.text, sum.name);
          return rank !== -1 && repoPassesFilter(filter, sum, prefs) ? rank : false;
        });
        return { Page, Repos: Results, Images: [], Layers: [] };
      }
      let records: Iterable<RepoRecord>;
      let keep: (tag: string, v: ImageView) => boolean;
      if (target.kind === 'image') {
        const record = await store.record(target.repo);
        records = record ? [record] : [];
        keep = (tag) => tag.startsWith(target.tagPrefix);
      } else if (target.kind === 'tag') {
        records = (await store.records()).values();
        keep = (tag) => tag.toLowerCase().includes(target.text);
      } else {
        records = (await store.records()).values();
        keep = (_tag, v) => v.Digest === target.digest || v.Manifests.some((m) => m.Digest.includes(target.digest) || (m.ConfigDigest ?? '').includes(target.digest) || m.layerDigests.some((l) => l.includes(target.digest)));
      }
      const found = await images(caller, records, (tag, v, prefs) => keep(tag, v) && imagePassesFilter(filter, v, prefs));
      const { items, info } = pageImages(found, args.requestedPage, 'RELEVANCE');
      return { Page: info, Images: items, Repos: [], Layers: [] };
    },

    async DerivedImageList(args: { image: string; digest?: string | null; requestedPage?: PageInput }, { caller }: Req) {
      const base = await layersOf(caller, args.image, args.digest ?? undefined);
      const found = await images(caller, (await store.records()).values(), (_t, v) => v.Manifests.some((m) => base.some((b) => startsWith(m.layerDigests, b))));
      const { items, info } = pageImages(found, args.requestedPage, 'RELEVANCE');
      return { Page: info, Results: items };
    },

    async BaseImageList(args: { image: string; digest?: string | null; requestedPage?: PageInput }, { caller }: Req) {
      const derived = await layersOf(caller, args.image, args.digest ?? undefined);
      const found = await images(caller, (await store.records()).values(), (_t, v) => v.Manifests.some((m) => m.layerDigests.length > 0 && derived.some((d) => startsWith(d, m.layerDigests))));
      const { items, info } = pageImages(found, args.requestedPage, 'RELEVANCE');
      return { Page: info, Results: items };
    },

    async Image(args: { image: string }, { caller }: Req) {
      const { repo, ref } = parseImage(args.image);
      if (ref === '') throw new GraphQLError('no reference provided');
      const record = await readableRecord(caller, repo);
      const digest = record?.tags[ref]?.digest ?? (ref.startsWith('sha256:') ? ref : undefined);
      const view = record && digest ? imageView(record, digest, record.tags[ref] ? ref : '') : undefined;
      if (!view) throw new GraphQLError(`image not found: ${args.image}`);
      return withStats(view, (await store.stats()).get(repo));
    },

    async Referrers(args: { repo: string; digest: string; type?: string[] | null }, { caller }: Req) {
      if (!/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(args.digest)) throw new GraphQLError(`bad digest string from request '${args.digest}'`);
      const record = await readableRecord(caller, args.repo);
      return record ? referrersOf(record, args.digest, args.type ?? undefined) : [];
    },
  };
}

