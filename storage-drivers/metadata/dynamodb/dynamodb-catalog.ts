import type { CatalogIndex } from '../../../core/extensions/api';
import { eachLimited, S, str, type Table } from './dynamodb-table';

const PK = 'catalog';

/**
 * The partition's sort keys are the sorted index: a page is one Query whatever the number of repositories.
 * `addMany` is one conditional put per name (DynamoDB batches cannot say which were new), 16 at once.
 */
export function dynamoCatalog(table: Table): CatalogIndex {
  const add = (repo: string) => table.put({ pk: S(PK), sk: S(repo) }, { condition: 'attribute_not_exists(#sk)' });
  return {
    add,
    addMany: async (repos) => {
      let added = 0;
      await eachLimited([...new Set(repos)], 16, async (repo) => {
        if (await add(repo)) added++;
      });
      return added;
    },
    remove: async (repo) => (await table.delete(PK, repo)) !== undefined,
    page: async (n, last) => (n > 0 ? (await table.query(PK, { after: last, limit: n })).map((i) => str(i, 'sk')!) : []),
    count: () => table.count(PK),
  };
}
