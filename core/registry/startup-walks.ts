import { createHash } from 'node:crypto';
import type { StorageConfig } from '../config/storage-schema';
import type { KeyValueSpace } from '../metastore/meta-store';

/** The MetaStore namespace of the start-up walks' records. */
export const STARTUP_WALKS_NAMESPACE = 'berth.startup';

interface WalkRecord {
  fingerprint: string;
  completedAt: number;
}

/**
 * Zot's `storage.fastRestart`: skip the start-up walk of the storage when neither the binary nor the storage
 * config changed since it last ran. berth's start-up walks (the catalog reconcile, the dedupe index rebuild)
 * each record here, when one completes, the fingerprint it ran under; a walk that starts clears its record
 * first, so a walk cut short (a crash, a stop) is never taken for a completed one.
 *
 * What a skipped walk misses is what changed behind berth's back (files copied in by hand, a root written by
 * another program): as in Zot, fastRestart trusts that nothing did.
 */
export class StartupWalks {
  constructor(
    private readonly kv: KeyValueSpace,
    /** berth's version and the storage config (see {@link storageFingerprint}). */
    readonly fingerprint: string,
    private readonly fastRestart: boolean,
  ) {}

  /** True when `walk` may be skipped: fastRestart is on and `walk` last completed under this fingerprint. */
  async canSkip(walk: string): Promise<boolean> {
    if (!this.fastRestart) return false;
    const entry = await this.kv.get(walk);
    if (!entry) return false;
    try {
      return (JSON.parse(Buffer.from(entry.value).toString('utf8')) as WalkRecord).fingerprint === this.fingerprint;
    } catch {
      return false; // an unreadable record: walk
    }
  }

  /** Called as `walk` starts: until it completes, the next start walks again. */
  async started(walk: string): Promise<void> {
    await this.kv.delete(walk);
  }

  async completed(walk: string): Promise<void> {
    const record: WalkRecord = { fingerprint: this.fingerprint, completedAt: Date.now() };
    await this.kv.put(walk, Buffer.from(JSON.stringify(record)));
  }
}

/** sha256 of berth's version and the whole `storage` section, its keys sorted (so their order does not count). */
export function storageFingerprint(version: string, storage: StorageConfig): string {
  return createHash('sha256').update(JSON.stringify({ version, storage: sorted(storage) })).digest('hex');
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted((value as Record<string, unknown>)[k])]));
}
