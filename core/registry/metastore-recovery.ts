import type { Logger } from 'pino';
import type { MetaStoreEpoch } from '../metastore/epoch';
import type { Catalog } from './catalog';
import type { DedupePass } from './dedupe-pass';

/**
 * GC's guard against a MetaStore that lost its records under this process (metastore/epoch.ts): false while
 * they are not the ones this process relied on, and then, once, rebuilds in the background what storage can
 * tell again (the catalog by a reconcile, the dedupe index by the dedupe pass) and adopts the store's new
 * epoch, after which GC resumes. Every berth on the store notices on its own, so the first GC due anywhere
 * starts the rebuild; a replica restarted meanwhile rebuilds at its start-up as usual.
 */
export function metaStoreGuard(o: { epoch: MetaStoreEpoch; catalog: Catalog; dedupePass: DedupePass; logger: Logger }): () => Promise<boolean> {
  const logger = o.logger.child({ component: 'metastore' });
  let rebuilding: Promise<void> | undefined;
  return async () => {
    if (rebuilding) return false;
    if (await o.epoch.intact()) return true;
    logger.error('the metadata store lost its records (its epoch is gone or new: a Redis restarted without persistence, a table recreated); GC is suspended while the catalog and the dedupe index are rebuilt from storage');
    rebuilding = (async () => {
      await o.catalog.reconcileAgain();
      await o.dedupePass.rebuild();
      await o.epoch.adopt();
    })().then(
      () => logger.info('the catalog and the dedupe index were rebuilt from storage; GC resumes'),
      (err: unknown) => logger.error({ err }, 'rebuilding after the metadata store lost its records failed; the next GC pass tries again'),
    ).finally(() => (rebuilding = undefined));
    return false;
  };
}
