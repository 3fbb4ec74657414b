import type { CasResult, KeyValueSpace, KvEntry } from '../../../core/extensions/api';
import { B, bin, N, num, S, str, type Item, type Table } from './dynamodb-table';

const entry = (item: Item): KvEntry => ({ key: str(item, 'sk')!, value: bin(item, 'v') ?? new Uint8Array(), version: num(item, 'ver')! });

/** A namespace is a partition (`kv/<namespace>`): namespaces never see each other's keys, and list is one Query. */
export function dynamoKv(table: Table): (namespace: string) => KeyValueSpace {
  return (ns) => {
    const pk = `kv/${ns}`;
    const get = async (key: string) => {
      const item = await table.get(pk, key);
      return item && entry(item);
    };
    const write = async (key: string, value: Uint8Array, condition?: string, values?: Item) => {
      const version = await table.nextVersion();
      const ok = await table.put({ pk: S(pk), sk: S(key), v: B(value), ver: N(version) }, { condition, values });
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
        (await table.delete(pk, key, expected === undefined ? {} : { condition: '#ver = :expected', values: { ':expected': N(expected) } })) !== undefined,
      list: async (prefix, { after, limit }) => {
        if (limit <= 0) return [];
        // Keys before the prefix cannot match: start after `after` only when it lies at or past the prefix;
        // the listing ends at the first key without the prefix (keys come in byte order).
        const from = after !== undefined && after >= prefix ? { after } : prefix === '' ? {} : { from: prefix };
        const items = await table.query(pk, { ...from, limit, accept: (item) => str(item, 'sk')!.startsWith(prefix) });
        return items.map(entry);
      },
    };
  };
}
