import type { DedupeIndex } from '../../../core/extensions/api';
import { N, num, S, str, type Item, type Table } from './dynamodb-table';

const PK = 'dedupe';

const locationsOf = (item: Item | undefined): string[] => (item?.locs?.L ?? []).map((v) => v.S!);

/**
 * One item per digest holding its locations as a list in the order they were added (`[0]` is the original),
 * as Zot's cache keeps one item per digest. Each change reads the item and writes it back conditional on the
 * version read, again on a lost race: so every add and remove sees the count it made.
 */
export function dynamoDedupe(table: Table): DedupeIndex {
  const change = async (digest: string, edit: (locations: string[]) => string[] | undefined): Promise<number> => {
    for (;;) {
      const item = await table.get(PK, digest);
      const before = locationsOf(item);
      const after = edit(before);
      if (!after) return before.length;
      const version = num(item, 'ver');
      const guard = version === undefined
        ? { condition: 'attribute_not_exists(#sk)' }
        : { condition: '#ver = :expected', values: { ':expected': N(version) } };
      const written = after.length === 0
        ? (await table.delete(PK, digest, guard)) !== undefined
        : await table.put({ pk: S(PK), sk: S(digest), locs: { L: after.map(S) }, ver: N(await table.nextVersion()) }, guard);
      if (written) return after.length;
    }
  };
  return {
    add: (digest, location) => change(digest, (l) => (l.includes(location) ? undefined : [...l, location])),
    remove: (digest, location) => change(digest, (l) => (l.includes(location) ? l.filter((x) => x !== location) : undefined)),
    locations: async (digest) => locationsOf(await table.get(PK, digest)),
    count: async (digest) => locationsOf(await table.get(PK, digest)).length,
    digests: async ({ after, limit }) => (limit > 0 ? (await table.query(PK, { after, limit })).map((i) => str(i, 'sk')!) : []),
  };
}
