import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../core/storage/atomic-file';
import type { ApiKeyDetails, ApiKeyManager, NewApiKey } from '../../core/auth/apikey-routes';
import type { ApiKeyRecord } from '../../core/extensions/api';

/** Zot's prefix: a password starting with it is an API key, never tried against htpasswd or LDAP. */
export const API_KEY_PREFIX = 'zak_';

/**
 * The record the MetaStore will keep (`ApiKeyRecord`); held in one JSON file until the store moves there.
 * The hash is SHA-256 of the key: keys are 256 random bits, so a slow hash adds nothing but latency per request.
 */
type StoredKey = ApiKeyRecord;

/**
 * API keys, hashed, in one JSON file under the root directory (Zot keeps them in its metadata DB and loses them
 * on restart when that DB is in memory, #2591). Writes are serialized and atomic: temp file, fsync, rename.
 */
export class ApiKeyStore implements ApiKeyManager {
  #keys: StoredKey[] | undefined;
  #writes: Promise<void> = Promise.resolve();
  readonly #lastUsed = new Map<string, string>();

  constructor(private readonly file: string) {}

  async create(user: string, groups: string[], input: NewApiKey): Promise<{ details: ApiKeyDetails; apiKey: string }> {
    const apiKey = API_KEY_PREFIX + randomBytes(32).toString('base64url');
    const stored: StoredKey = {
      uuid: randomUUID(),
      user,
      groups,
      hash: sha256(apiKey),
      label: input.label,
      scopes: input.scopes,
      createdAt: new Date().toISOString(),
      expirationDate: input.expirationDate?.toISOString() ?? null,
      creatorUa: input.userAgent,
    };
    await this.#mutate((keys) => [...keys, stored]);
    return { details: this.#details(stored), apiKey };
  }

  async list(user: string): Promise<ApiKeyDetails[]> {
    return (await this.#load()).filter((k) => k.user === user).map((k) => this.#details(k));
  }

  async revoke(user: string, uuid: string): Promise<boolean> {
    let found = false;
    await this.#mutate((keys) => keys.filter((k) => {
      const match = k.uuid === uuid && k.user === user;
      found ||= match;
      return !match;
    }));
    return found;
  }

  /** The key's owner and groups when `apiKey` is a live key of `user`. */
  async verify(user: string, apiKey: string): Promise<{ groups: string[] } | undefined> {
    const want = Buffer.from(sha256(apiKey), 'hex');
    for (const k of await this.#load()) {
      if (k.user !== user || !timingSafeEqual(Buffer.from(k.hash, 'hex'), want)) continue;
      if (expired(k)) return undefined;
      this.#lastUsed.set(k.uuid, new Date().toISOString());
      return { groups: k.groups };
    }
    return undefined;
  }

  #details(k: StoredKey): ApiKeyDetails {
    return {
      createdAt: k.createdAt,
      expirationDate: k.expirationDate ?? '0001-01-01T00:00:00Z', // Go's zero time, as Zot prints "never"
      isExpired: expired(k),
      creatorUa: k.creatorUa,
      generatedBy: 'manual',
      lastUsed: this.#lastUsed.get(k.uuid) ?? '0001-01-01T00:00:00Z',
      label: k.label,
      scopes: k.scopes,
      uuid: k.uuid,
    };
  }

  async #load(): Promise<StoredKey[]> {
    if (this.#keys) return this.#keys;
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as { keys?: StoredKey[] };
      this.#keys = Array.isArray(parsed.keys) ? parsed.keys : [];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.#keys = [];
    }
    return this.#keys;
  }

  #mutate(change: (keys: StoredKey[]) => StoredKey[]): Promise<void> {
    const run = this.#writes.then(async () => {
      const next = change(await this.#load());
      await writeFileAtomic(this.file, JSON.stringify({ keys: next }, null, 2));
      this.#keys = next;
    });
    this.#writes = run.catch(() => undefined);
    return run;
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function expired(k: StoredKey): boolean {
  return k.expirationDate !== null && Date.parse(k.expirationDate) <= Date.now();
}

