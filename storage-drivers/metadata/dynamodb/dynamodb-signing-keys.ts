import type { SigningKeys } from '../../../core/extensions/api';
import { B, bin, S, type Table } from './dynamodb-table';

const PK = 'signingkeys';

export function dynamoSigningKeys(table: Table): SigningKeys {
  return {
    // The first candidate written wins (a put conditional on absence); every caller reads that one back.
    getOrCreate: async (name, candidate) => {
      await table.put({ pk: S(PK), sk: S(name), key: B(candidate) }, { condition: 'attribute_not_exists(#sk)' });
      return bin(await table.get(PK, name), 'key')!;
    },
    get: async (name) => bin(await table.get(PK, name), 'key'),
  };
}
