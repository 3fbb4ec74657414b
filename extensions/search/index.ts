import { defineExtension } from '../../core/extensions/api';
import type * as Register from './register';
import { searchSchema, type SearchConfig } from './schema';

/**
 * Zot's `extensions.search`: the GraphQL endpoint zui and zli use, answered from metadata kept in the MetaStore,
 * with userprefs (stars, bookmarks) and mgmt beside it as Zot serves them. The section arrives validated by the
 * Zot schema; `cve` is accepted, and CVE fields answer that scanning is not available.
 */
export default defineExtension<SearchConfig>({
  name: 'search',
  apiVersion: 1,
  configSchema: searchSchema,
  register(ctx) {
    // Loaded only with `extensions.search` configured: graphql and the resolvers would add about 5 MB to
    // every process that does not serve search.
    (require('./register') as typeof Register).registerSearch(ctx);
  },
});
