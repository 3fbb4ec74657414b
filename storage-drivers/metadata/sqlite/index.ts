import { defineExtension } from '../../../core/extensions/api';
import { createSqliteMetaStore } from './sqlite-meta-store';

export { createSqliteMetaStore, sqliteFile } from './sqlite-meta-store';

/** The built-in embedded MetaStore, contributed through the same extension point as remote ones. */
export default defineExtension({
  name: 'metastore.sqlite',
  apiVersion: 1,
  register(ctx) {
    ctx.metaStores.add('sqlite', (options) => createSqliteMetaStore(options));
  },
});
