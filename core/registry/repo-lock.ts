/**
 * Serializes read-modify-write cycles of one repository's index.json. In-process only; a cluster
 * MetaStore supplies a distributed implementation of the same interface.
 */
export interface RepoLocks {
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

export function createLocalLocks(): RepoLocks {
  const tails = new Map<string, Promise<unknown>>();
  return {
    async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      const tail = previous.then(() => mine);
      tails.set(key, tail);
      await previous.catch(() => undefined);
      try {
        return await fn();
      } finally {
        release();
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
  };
}
