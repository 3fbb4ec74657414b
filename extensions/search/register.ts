import type { ExtensionContext, HttpContext, Identity } from '../../core/extensions/api';
import { createGraphQLHandler, graphqlSchema } from './graphql-endpoint';
import { SearchIndexer } from './indexer';
import { registerMgmtRoutes } from './mgmt-routes';
import { PullCounter } from './pull-counter';
import { createResolvers, type SearchCaller } from './resolvers';
import type { SearchConfig } from './schema';
import { SearchStore } from './search-store';
import { userPrefsHandler } from './userprefs-route';

// A reconcile also catches what events missed (a crash between a write and its event, another replica's
// writes while this one was down); the first one runs at start-up.
const RECONCILE_EVERY_MS = 6 * 3_600_000;

/** Search's routes, events and schedules, for a config with `extensions.search` (index.ts loads this file then). */
export function registerSearch(ctx: ExtensionContext<SearchConfig>): void {
  let store: SearchStore | undefined;
  let indexer: SearchIndexer | undefined;
  // The MetaStore and the registry exist from phase two on; handlers and schedules run only after it.
  ctx.onStart((started) => {
    store = new SearchStore(started.metaStore.kv('search'));
    indexer = new SearchIndexer(store, () => started.registry, ctx.logger);
  });
  const searchStore = () => store!;
  const searchIndexer = () => indexer!;

  const pulls = new PullCounter(searchStore, ctx.logger);
  ctx.onShutdown(async () => {
    await Promise.all([pulls.flush(), indexer?.flush()]);
  });

  ctx.events.on('manifest.stored', (e) => searchIndexer().stored(e));
  ctx.events.on('manifest.deleted', (e) => searchIndexer().deleted(e));
  ctx.events.on('image.pulled', (e) => pulls.pulled(e.repo, e.digest));
  // One berth among those sharing the MetaStore walks storage; the records it writes serve them all.
  ctx.schedule(RECONCILE_EVERY_MS, async (signal) => {
    const full = !(await searchStore().isBuilt());
    await searchIndexer().reconcile(full, signal);
  }, { id: 'reconcile', initialDelay: 0, scope: 'global' });

  const schema = graphqlSchema();
  const resolvers = createResolvers({
    summaries: () => searchStore().summaries(),
    records: () => searchStore().records(),
    record: (repo) => searchStore().record(repo),
    stats: () => searchStore().stats(),
    prefs: (user) => searchStore().prefs(user),
  });
  const caller = (http: HttpContext): SearchCaller => ({
    user: (http.state.user as Identity | undefined)?.user,
    readable: async (repos) => new Set(await ctx.access.readable(http, repos)),
    mayDelete: (repo) => ctx.access.require(http, repo, 'delete').then(() => true, () => false),
  });
  const graphql = createGraphQLHandler({ schema, resolvers, caller, cveConfigured: ctx.config.cve !== undefined });
  ctx.routes.get('/v2/_zot/ext/search', graphql);
  ctx.routes.post('/v2/_zot/ext/search', graphql);
  ctx.routes.put('/v2/_zot/ext/userprefs', (http) => userPrefsHandler(searchStore(), () => ctx.access)(http));
  registerMgmtRoutes(ctx.routes, ctx);
}
