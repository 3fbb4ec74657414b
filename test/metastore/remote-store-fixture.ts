// A third-party MetaStore kind, loaded by `extensions.remotefixture.module` as an outside package would be:
// it registers `remotefixture` and keeps its data in the SQLite store under a directory named by its params.
import { defineExtension, type MetaStore } from '../../core/extensions/api';
import { createSqliteMetaStore } from '../../storage-drivers/metadata/sqlite';

/** What the factory was called with and whether the store was closed, for the test that loads this module. */
export const opened: Array<{ params: Record<string, unknown>; closed: boolean }> = [];

export default defineExtension({
  name: 'remotefixture',
  apiVersion: 1,
  register(ctx) {
    ctx.metaStores.add('remotefixture', ({ params }) => {
      const call = { params, closed: false };
      opened.push(call);
      const inner = createSqliteMetaStore({ rootDirectory: String(params.url).replace('file://', '') });
      const store: MetaStore = { ...inner, kind: 'remotefixture', kv: (ns) => inner.kv(ns), close: async () => { call.closed = true; await inner.close(); } };
      return store;
    });
  },
});
