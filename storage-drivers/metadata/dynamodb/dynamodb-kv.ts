import type { CasResult, KeyValueSpace, KvEntry } from '../../../core/extensions/api';
import { B, bin, eachLimited, N, num, S, str, type Item, type Table } from './dynamodb-table';

/**
 * A key is stored as `=` + key: DynamoDB refuses an empty sort key, and a key may be ''. A common first
 * character keeps the byte order of the keys.
 */
const sortKey = (key: string) => `=${key}`;

/**
 * DynamoDB refuses items over 400 KB, and an extension's value may be larger (search keeps one record per
 * repository, which grows with its tags). A value over {@link INLINE_MAX} is split into parts of that size,
 * stored under the version that wrote them in a partition of their own; the head item (the key's sort key,
 * its version, the number of parts) is written last, conditionally, and is the one commit point: a reader
 * follows the head's version, so it sees the old value or the new one whole, never a mix. The replaced
 * version's parts are removed after the commit; a writer that dies between its parts and its head leaves
 * parts no head names (never read; bounded by the value's size).
 */
const INLINE_MAX = 350_000;
const partsPk = (pk: string) => `${pk}/parts`;
// encodeURIComponent leaves no '|' in the key, so one key's parts never share a prefix with another's.
const partsPrefix = (key: string, version: number) => `${encodeURIComponent(key)}|${version}|`;
const partSk = (key: string, version: number, i: number) => `${partsPrefix(key, version)}${String(i).padStart(6, '0')}`;

/** A namespace is a partition (`kv/<namespace>`): namespaces never see each other's keys, and list is one Query. */
export function dynamoKv(table: Table): (namespace: string) => KeyValueSpace {
  return (ns) => {
    const pk = `kv/${ns}`;

    /** The value a head item names: inline, or its parts in order; undefined when a newer write removed them meanwhile. */
    const valueOf = async (item: Item, key: string): Promise<Uint8Array | undefined> => {
      const parts = num(item, 'parts');
      if (parts === undefined) return bin(item, 'v') ?? new Uint8Array();
      const prefix = partsPrefix(key, num(item, 'ver')!);
      const found = await table.query(partsPk(pk), { from: prefix, limit: parts, accept: (p) => str(p, 'sk')!.startsWith(prefix) });
      if (found.length !== parts) return undefined;
      return Buffer.concat(found.map((p) => bin(p, 'v')!));
    };
    const entryOf = async (item: Item): Promise<KvEntry | undefined> => {
      const key = str(item, 'sk')!.slice(1);
      const value = await valueOf(item, key);
      return value && { key, value, version: num(item, 'ver')! };
    };
    const get = async (key: string): Promise<KvEntry | undefined> => {
      // A head read just before a newer write committed can find its parts gone: read the new head.
      for (;;) {
        const item = await table.get(pk, sortKey(key));
        if (!item) return undefined;
        const entry = await entryOf(item);
        if (entry) return entry;
      }
    };
    const removeParts = async (key: string, head: Item | undefined): Promise<void> => {
      const parts = num(head, 'parts');
      if (parts === undefined) return;
      const version = num(head, 'ver')!;
      await table.deleteMany(partsPk(pk), Array.from({ length: parts }, (_, i) => partSk(key, version, i)));
    };
    const write = async (key: string, value: Uint8Array, condition?: string, values?: Item): Promise<number | undefined> => {
      const version = await table.nextVersion();
      const head: Item = { pk: S(pk), sk: S(sortKey(key)), ver: N(version) };
      let parts = 0;
      if (value.length <= INLINE_MAX) head.v = B(value);
      else {
        parts = Math.ceil(value.length / INLINE_MAX);
        const indexes = Array.from({ length: parts }, (_, i) => i);
        await eachLimited(indexes, 4, async (i) => {
          await table.put({ pk: S(partsPk(pk)), sk: S(partSk(key, version, i)), v: B(value.subarray(i * INLINE_MAX, (i + 1) * INLINE_MAX)) });
        });
        head.parts = N(parts);
      }
      const { ok, old } = await table.replace(head, { condition, values });
      if (!ok) {
        if (parts) await removeParts(key, head);
        return undefined;
      }
      await removeParts(key, old);
      return version;
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
      delete: async (key, expected) => {
        const old = await table.delete(pk, sortKey(key), expected === undefined ? {} : { condition: '#ver = :expected', values: { ':expected': N(expected) } });
        await removeParts(key, old);
        return old !== undefined;
      },
      list: async (prefix, { after, limit }) => {
        if (limit <= 0) return [];
        // Keys before the prefix cannot match: start after `after` only when it lies at or past the prefix;
        // the listing ends at the first key without the prefix (keys come in byte order).
        const from = after !== undefined && after >= prefix ? { after: sortKey(after) } : { from: sortKey(prefix) };
        const items = await table.query(pk, { ...from, limit, accept: (item) => str(item, 'sk')!.startsWith(sortKey(prefix)) });
        const out: KvEntry[] = [];
        for (const item of items) {
          // An entry rewritten while listing is read again from its head; one deleted meanwhile is left out.
          const entry = (await entryOf(item)) ?? (await get(str(item, 'sk')!.slice(1)));
          if (entry) out.push(entry);
        }
        return out;
      },
    };
  };
}
