import type { Lease, Leases } from '../../../core/extensions/api';
import { N, num, S, str, type Table } from './dynamodb-table';

const PK = 'leases';

/**
 * One item per lease name. Acquiring is one conditional UpdateItem that also ADDs 1 to the item's `token`, so
 * the fencing token grows with every acquisition and no two holders ever get the same one; a released or
 * expired lease keeps its item (no holder, or `expiresAt` past) and the next acquire continues from its token.
 *
 * DynamoDB has no clock of its own to compare with: expiry is judged by the clock of the replica asking. With
 * clocks within ε of each other (NTP keeps them within milliseconds), a lease of ttl T is exclusive as long as
 * its holder stops acting T − ε after it acquired or last renewed it, by its own clock; berth renews at a third
 * of the ttl, so any ε well under T/3 is safe. The docs state the bound (docs/storage.md).
 */
export function dynamoLeases(table: Table): Leases {
  const held = '#holder = :holder AND #token = :token AND #expiresAt > :now';
  return {
    acquire: async (name, holder, ttlMs) => {
      const ttl = positive(ttlMs);
      const now = Date.now();
      const item = await table.update(PK, name, 'SET #holder = :holder, #expiresAt = :expiresAt ADD #token :one', {
        condition: 'attribute_not_exists(#holder) OR #expiresAt <= :now',
        values: { ':holder': S(holder), ':expiresAt': N(now + ttl), ':one': N(1), ':now': N(now) },
      });
      return item && { name, holder, token: num(item, 'token')!, expiresAt: now + ttl };
    },
    renew: async (name, holder, token, ttlMs) => {
      const ttl = positive(ttlMs);
      const now = Date.now();
      return (await table.update(PK, name, 'SET #expiresAt = :expiresAt', {
        condition: held, values: { ':holder': S(holder), ':token': N(token), ':now': N(now), ':expiresAt': N(now + ttl) },
      })) !== undefined;
    },
    release: async (name, holder, token) => (await table.update(PK, name, 'SET #expiresAt = :zero REMOVE #holder', {
      condition: held, values: { ':holder': S(holder), ':token': N(token), ':now': N(Date.now()), ':zero': N(0) },
    })) !== undefined,
    get: async (name): Promise<Lease | undefined> => {
      const item = await table.get(PK, name);
      const holder = str(item, 'holder');
      const expiresAt = num(item, 'expiresAt') ?? 0;
      if (holder === undefined || expiresAt <= Date.now()) return undefined;
      return { name, holder, token: num(item, 'token')!, expiresAt };
    },
  };
}

function positive(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`lease ttl must be a positive number of milliseconds, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}
