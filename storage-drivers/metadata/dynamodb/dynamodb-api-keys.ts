import type { ApiKeyRecord, ApiKeyRecords } from '../../../core/extensions/api';
import { N, num, S, str, type Item, type Table } from './dynamodb-table';

const KEYS = 'apikeys';
/** A hash's claim: which uuid owns it. Written before the record, so two keys can never share a hash. */
const HASHES = 'apikeyhashes';

const record = (item: Item): ApiKeyRecord => {
  const r = JSON.parse(str(item, 'rec')!) as ApiKeyRecord;
  const lastUsed = str(item, 'lastUsed');
  return lastUsed === undefined ? r : { ...r, lastUsed };
};

/**
 * One item per key (by uuid) holding the record as JSON, `lastUsed` apart so `markUsed` is one conditional
 * update that never brings back a deleted key; plus one claim item per hash pointing at its uuid. A claim
 * left behind by a replaced or half-deleted key is harmless: a lookup checks the record's own hash. Listing a
 * user's keys filters the keys' partition (berth has tens of keys, not millions).
 */
export function dynamoApiKeys(table: Table): ApiKeyRecords {
  const byUuid = async (uuid: string) => {
    const item = await table.get(KEYS, uuid);
    return item && record(item);
  };
  return {
    put: async (r) => {
      const claimed = await table.put({ pk: S(HASHES), sk: S(r.hash), uuid: S(r.uuid) }, {
        condition: 'attribute_not_exists(#sk) OR #uuid = :uuid', values: { ':uuid': S(r.uuid) },
      });
      if (!claimed) throw new Error('an API key with this hash exists already');
      const { lastUsed, ...rest } = r;
      // `added` keeps a replaced key's place in its user's list.
      const old = await table.get(KEYS, r.uuid);
      await table.update(KEYS, r.uuid, `SET #user = :user, #hash = :hash, #rec = :rec, #added = if_not_exists(#added, :added)${lastUsed ? ', #lastUsed = :lastUsed' : ' REMOVE #lastUsed'}`, {
        values: { ':user': S(r.user), ':hash': S(r.hash), ':rec': S(JSON.stringify(rest)), ':added': N(await table.nextVersion()), ...(lastUsed ? { ':lastUsed': S(lastUsed) } : {}) },
      });
      const oldHash = str(old, 'hash');
      if (oldHash !== undefined && oldHash !== r.hash) await table.delete(HASHES, oldHash, { condition: '#uuid = :uuid', values: { ':uuid': S(r.uuid) } });
    },
    getByHash: async (hash) => {
      const uuid = str(await table.get(HASHES, hash), 'uuid');
      const found = uuid === undefined ? undefined : await byUuid(uuid);
      return found?.hash === hash ? found : undefined;
    },
    listByUser: async (user) => {
      const items = await table.query(KEYS, { filter: '#user = :user', values: { ':user': S(user) } });
      return items.sort((a, b) => num(a, 'added')! - num(b, 'added')!).map(record);
    },
    delete: async (user, uuid) => {
      const gone = await table.delete(KEYS, uuid, { condition: '#user = :user', values: { ':user': S(user) } });
      if (!gone) return false;
      await table.delete(HASHES, str(gone, 'hash')!, { condition: '#uuid = :uuid', values: { ':uuid': S(uuid) } });
      return true;
    },
    markUsed: async (uuid, lastUsed) =>
      (await table.update(KEYS, uuid, 'SET #lastUsed = :lastUsed', { condition: 'attribute_exists(#sk)', values: { ':lastUsed': S(lastUsed) } })) !== undefined,
  };
}
