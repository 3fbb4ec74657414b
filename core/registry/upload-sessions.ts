import type { StorageDriver } from '../storage/driver';
import { layout } from './layout';

/**
 * What an upload keeps between requests: small and serializable, so the MetaStore can hold it once it
 * lands. The bytes themselves stay in the driver's uncommitted content at `layout.upload(repo, id)`.
 *
 * There is no hash state here: node:crypto cannot export one, and the hashers that can (hash-wasm's
 * save()/load() works on Node 20) hash SHA-256 at about a fifth of its speed on this machine (310 against
 * 1,720 MiB/s, SHA-NI), which every push would pay. The running hash therefore lives in the process that
 * streamed the chunks (UploadStore), and an upload continued by another process is hashed from its content
 * once, at the final PUT.
 */
export interface UploadSession {
  repo: string;
  id: string;
  /** Bytes acknowledged so far: where the next chunk starts. */
  size: number;
  /** ISO 8601 times, for a sweep of stale uploads. */
  startedAt: string;
  updatedAt: string;
}

/** Where upload sessions are kept. Today beside the upload data; the MetaStore implements this later. */
export interface UploadSessions {
  get(repo: string, id: string): Promise<UploadSession | undefined>;
  /** Replaces the session atomically. */
  put(session: UploadSession): Promise<void>;
  /** Forgets the session; a missing one is not an error. */
  delete(repo: string, id: string): Promise<void>;
}

/**
 * Sessions as `<repo>/.uploads/<id>.json` next to the upload's data, written through the driver (atomic
 * putContent), so a restart, or another process on the same root, resumes an acknowledged chunk.
 */
export function createDriverUploadSessions(storage: StorageDriver): UploadSessions {
  const recordPath = (repo: string, id: string) => `${layout.upload(repo, id)}.json`;
  return {
    async get(repo, id) {
      let raw: Buffer;
      try {
        raw = await storage.getContent(recordPath(repo, id));
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
        throw err;
      }
      const parsed = JSON.parse(raw.toString('utf8')) as Partial<UploadSession>;
      if (!Number.isSafeInteger(parsed.size) || (parsed.size as number) < 0) {
        throw new Error(`upload session ${recordPath(repo, id)} has no valid size`);
      }
      return { repo, id, size: parsed.size as number, startedAt: String(parsed.startedAt), updatedAt: String(parsed.updatedAt) };
    },
    put: (s) => storage.putContent(recordPath(s.repo, s.id), Buffer.from(JSON.stringify(s))),
    delete: (repo, id) => storage.delete(recordPath(repo, id)),
  };
}
