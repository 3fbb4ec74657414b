import type { CasResult, KeyValueSpace, KvEntry } from '../../../core/extensions/api';
import { B, bin, N, num, S, str, type Item, type Table } from './dynamodb-table';

/**
 * A key is stored as `=` + key: DynamoDB refuses an empty sort key, and a key may be ''. A common first
 * character keeps the byte order of the keys.
 */
const sortKey = (key: string) => `=${key}`;
const entry = (item: Item): KvEntry => ({ key: str(item, 'sk')!.slice(1), value: bin(item, 'v') ?? new Uint8Array(), version: num(item, 'ver')! });

/** A namespace is a partition (`kv/<namespace>`): namespaces never see each other's keys, and list is one Query. */
export function dynamoKv(table: Table): (namespace: string) => KeyValueSpace {
  return (ns) => {
    const pk = `kv/${ns}`;
    const get = async (key: string) => {
      const item = await table.get(pk, sortKey(key));
      return item && entry(item);
    };
    const write = async (key: string, value: Uint8Array, condition?: string, values?: Item) => {
      const version = await table.nextVersion();
      const ok = await table.put({ pk: S(pk), sk: S(sortKey(key)), v: B(value), ver: N(version) }, { condition, values });
      return ok ? version : undefined;
    };
    return {
      get,
      put: async (key, value) => (await write(key, value))!,
      compareAndSet: async (key, expected, value): Promise<CasResult<KvEntry>> => {
        const version = expected === undefined
          ? await write(key, value, 'attribute_not_exists(#sk)')
          : await write(key, value, '#ver = :expected', { ':expected': N(expected) });
        if (version !== undefined) return { ok: true, value: { key, value, version } };
        return { ok: false, current: await get(key) };
      },
      delete: async (key, expected) =>
        (await table.delete(pk, sortKey(key), expected === undefined ? {} : { condition: '#ver = :expected', values: { ':expected': N(expected) } })) !== undefined,
      list: async (prefix, { after, limit }) => {
        if (limit <= 0) return [];
        // Keys before the prefix cannot match: start after `after` only when it lies at or past the prefix;
        // the listing ends at the first key without the prefix (keys come in byte order).
        const from = after !== undefined && after >= prefix ? { after: sortKey(after) } : { from: sortKey(prefix) };
        const items = await table.query(pk, { ...from, limit, accept: (item) => str(item, 'sk')!.startsWith(sortKey(prefix)) });
        return items.map(entry);
      },
    };
  };
}
