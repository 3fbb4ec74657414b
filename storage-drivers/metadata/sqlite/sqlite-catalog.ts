import type { CatalogIndex } from '../../../core/extensions/api';
import { type Db, writeTx } from './sqlite-db';

/** The primary key is the sorted index: a page is one range read whatever the number of repositories. */
export function sqliteCatalog(db: Db): CatalogIndex {
  const insert = db.prepare<[string]>('INSERT INTO catalog (repo) VALUES (?) ON CONFLICT DO NOTHING');
  const remove = db.prepare<[string]>('DELETE FROM catalog WHERE repo = ?');
  const page = db.prepare<[string, number], string>('SELECT repo FROM catalog WHERE repo > ? ORDER BY repo LIMIT ?').pluck();
  const count = db.prepare<[], number>('SELECT count(*) FROM catalog').pluck();
  const insertMany = writeTx(db, (repos: readonly string[]) => repos.reduce((added, repo) => added + insert.run(repo).changes, 0));
  return {
    add: async (repo) => insert.run(repo).changes === 1,
    addMany: async (repos) => (repos.length > 0 ? insertMany(repos) : 0),
    remove: async (repo) => remove.run(repo).changes === 1,
    page: async (n, last) => (n > 0 ? page.all(last ?? '', n) : []),
    count: async () => count.get()!,
  };
}
