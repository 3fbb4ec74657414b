import { randomUUID } from 'node:crypto';
import type { KeyValueSpace } from './meta-store';

/** The MetaStore namespace holding the epoch. */
export const EPOCH_NAMESPACE = 'berth.metastore';
const EPOCH_KEY = 'epoch';

/**
 * Notices a MetaStore that lost its data under running berths: a Redis restarted without persistence, a
 * DynamoDB table or SQLite file recreated. The storage then still holds what the lost records described
 * (zero-byte dedupe placeholders whose bytes are found only through the dedupe index, repositories only the
 * catalog lists), and a GC pass over an empty dedupe index would delete the one copy with bytes that other
 * repositories' placeholders need. So the MetaStore carries an epoch, a random id its first berth stores; each
 * berth remembers the one it saw, and before GC deletes anything it checks the epoch is still there and the
 * same. A missing or different epoch means the records are not the ones this process has been relying on.
 */
export class MetaStoreEpoch {
  #known: string | undefined;

  constructor(private readonly kv: KeyValueSpace) {}

  /** Adopts the MetaStore's epoch, storing a new one if it has none (a new or emptied store). */
  async adopt(): Promise<void> {
    const mine = randomUUID();
    const created = await this.kv.compareAndSet(EPOCH_KEY, undefined, Buffer.from(mine));
    this.#known = created.ok ? mine : created.current && Buffer.from(created.current.value).toString('utf8');
  }

  /** True while the MetaStore holds the epoch this process adopted: its records were not lost since. */
  async intact(): Promise<boolean> {
    const entry = await this.kv.get(EPOCH_KEY);
    return entry !== undefined && this.#known !== undefined && Buffer.from(entry.value).toString('utf8') === this.#known;
  }
}
