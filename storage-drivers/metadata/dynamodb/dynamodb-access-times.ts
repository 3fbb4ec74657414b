import type { AccessTimes } from '../../../core/extensions/api';
import { eachLimited, N, num, str, type Table } from './dynamodb-table';

/**
 * A partition per kind (`access/pulled`, `access/pushed`), one item per subject. A time never moves back:
 * each write is conditional on the stored time being older. DynamoDB has no conditional batch write, so a
 * `record` of many entries is many single atomic writes (16 at once), not one step: a reader may see some of
 * them first, which retention (the only reader of many) tolerates.
 */
export function dynamoAccessTimes(table: Table): AccessTimes {
  const pk = (kind: string) => `access/${kind}`;
  return {
    record: async (kind, entries) => {
      await eachLimited(entries, 16, async ({ subject, at }) => {
        await table.update(pk(kind), subject, 'SET #at = :at', { condition: 'attribute_not_exists(#at) OR #at < :at', values: { ':at': N(at) } });
      });
    },
    get: async (kind, subject) => num(await table.get(pk(kind), subject), 'at'),
    getMany: async (kind, subjects) => new Map((await table.getMany(pk(kind), subjects)).map((i) => [str(i, 'sk')!, num(i, 'at')!])),
    forget: (kind, subjects) => table.deleteMany(pk(kind), subjects),
    page: async (kind, { after, limit }) =>
      (limit > 0 ? await table.query(pk(kind), { after, limit }) : []).map((i) => ({ subject: str(i, 'sk')!, at: num(i, 'at')! })),
  };
}
