import type { CasResult, UploadSession, UploadSessions } from '../../../core/extensions/api';
import { B, bin, N, num, S, str, type Item, type Table } from './dynamodb-table';

const PK = 'uploads';

const session = (item: Item): UploadSession => {
  const hashState = bin(item, 'hs');
  return {
    id: str(item, 'sk')!,
    repo: str(item, 'repo')!,
    path: str(item, 'path')!,
    size: num(item, 'size')!,
    ...(hashState ? { hashState } : {}),
    createdAt: num(item, 'createdAt')!,
    updatedAt: num(item, 'updatedAt')!,
    version: num(item, 'ver')!,
  };
};

/**
 * One item per upload; every change is conditional on the version read, so of two replicas serving PATCHes of
 * one upload only one advances it. `stale` reads the whole partition: uploads in flight are few, and GC asks
 * rarely.
 */
export function dynamoUploads(table: Table): UploadSessions {
  const get = async (id: string) => {
    const item = await table.get(PK, id);
    return item && session(item);
  };
  return {
    create: async (s) => table.put({
      pk: S(PK), sk: S(s.id), repo: S(s.repo), path: S(s.path), size: N(s.size), ...(s.hashState ? { hs: B(s.hashState) } : {}),
      createdAt: N(s.createdAt), updatedAt: N(s.updatedAt ?? s.createdAt), ver: N(await table.nextVersion()),
    }, { condition: 'attribute_not_exists(#sk)' }),
    get,
    update: async (id, expected, change): Promise<CasResult<UploadSession>> => {
      const values: Item = {
        ':size': N(change.size), ':updatedAt': N(change.updatedAt ?? Date.now()), ':ver': N(await table.nextVersion()), ':expected': N(expected),
        ...(change.hashState ? { ':hs': B(change.hashState) } : {}),
      };
      const set = `SET #size = :size, #updatedAt = :updatedAt, #ver = :ver${change.hashState ? ', #hs = :hs' : ''}`;
      const item = await table.update(PK, id, change.hashState ? set : `${set} REMOVE #hs`, { condition: '#ver = :expected', values });
      if (item) return { ok: true, value: session(item) };
      return { ok: false, current: await get(id) };
    },
    delete: async (id, expected) =>
      (await table.delete(PK, id, expected === undefined ? {} : { condition: '#ver = :expected', values: { ':expected': N(expected) } })) !== undefined,
    stale: async (updatedBefore, limit) => {
      const items = await table.query(PK, { filter: '#updatedAt < :before', values: { ':before': N(updatedBefore) } });
      return items.map(session).sort((a, b) => a.updatedAt - b.updatedAt || (a.id < b.id ? -1 : 1)).slice(0, limit);
    },
  };
}
