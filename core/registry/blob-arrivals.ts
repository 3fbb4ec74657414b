import { inject, injectable } from 'tsyringe';
import { TOKENS } from '../di/tokens';
import type { KeyValueSpace, MetaStore } from '../metastore/meta-store';

/**
 * When a blob last arrived in a repository, for GC's `gcDelay`: the file's mtime cannot say so for a blob that
 * came by hard link (a mount keeps the original's mtime) or by moving a finished upload (the mtime of its last
 * PATCH, possibly long ago). Kept in the MetaStore, so an arrival through one berth protects the blob from the
 * GC of another on the same root. One record per `<repo>@<digest>`; GC forgets it with the blob, or once it is
 * older than `gcDelay`.
 */
@injectable()
export class BlobArrivals {
  readonly #kv: KeyValueSpace;

  constructor(@inject(TOKENS.MetaStore) meta: MetaStore) {
    this.#kv = meta.kv('berth.gc');
  }

  async mark(repo: string, digest: string, at = Date.now()): Promise<void> {
    await this.#kv.put(key(repo, digest), encode(at));
  }

  /** When the blob last arrived in `repo`, if recorded. */
  async at(repo: string, digest: string): Promise<number | undefined> {
    const entry = await this.#kv.get(key(repo, digest));
    return entry ? decode(entry.value) : undefined;
  }

  async forget(repo: string, digest: string): Promise<void> {
    await this.#kv.delete(key(repo, digest));
  }

  /** Forgets the repository's records older than `before`; returns how many went. */
  async prune(repo: string, before: number): Promise<number> {
    const prefix = `arrived:${repo}@`; // '@' never occurs in a repository name: no other repository shares it
    let pruned = 0;
    let after: string | undefined;
    for (;;) {
      const page = await this.#kv.list(prefix, { after, limit: 500 });
      for (const entry of page) {
        if (decode(entry.value) < before && (await this.#kv.delete(entry.key, entry.version))) pruned++;
      }
      if (page.length < 500) return pruned;
      after = page[page.length - 1].key;
    }
  }
}

function key(repo: string, digest: string): string {
  return `arrived:${repo}@${digest}`;
}

function encode(at: number): Uint8Array {
  return Buffer.from(String(at));
}

function decode(value: Uint8Array): number {
  return Number(Buffer.from(value).toString('utf8'));
}
