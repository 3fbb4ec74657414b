import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ApiKeyDetails, ApiKeyManager, NewApiKey, ApiKeyRecord, ApiKeyRecords } from '../../core/extensions/api';

/** Zot's prefix: a password starting with it is an API key, never tried against htpasswd or LDAP. */
export const API_KEY_PREFIX = 'zak_';

// A key used all the time records its use at most this often: a pull of many layers is one write, not one
// per request.
const LAST_USED_EVERY_MS = 60_000;

/**
 * API keys, hashed, in the MetaStore's `apiKeys` (Zot keeps them in its metadata DB and loses them on restart
 * when that DB is in memory, #2591), so every berth on the MetaStore accepts the same keys. The hash is SHA-256
 * of the key: keys are 256 random bits, so a slow hash adds nothing but latency per request, and the hash is
 * what a key is looked up by.
 */
export class ApiKeyStore implements ApiKeyManager {
  constructor(private readonly records: ApiKeyRecords) {}

  async create(user: string, groups: string[], input: NewApiKey): Promise<{ details: ApiKeyDetails; apiKey: string }> {
    const apiKey = API_KEY_PREFIX + randomBytes(32).toString('base64url');
    const stored: ApiKeyRecord = {
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
    await this.records.put(stored);
    return { details: details(stored), apiKey };
  }

  async list(user: string): Promise<ApiKeyDetails[]> {
    return (await this.records.listByUser(user)).map(details);
  }

  revoke(user: string, uuid: string): Promise<boolean> {
    return this.records.delete(user, uuid);
  }

  /** The key's owner and groups when `apiKey` is a live key of `user`. */
  async verify(user: string, apiKey: string, now = Date.now()): Promise<{ groups: string[] } | undefined> {
    const k = await this.records.getByHash(sha256(apiKey));
    if (!k || k.user !== user || expired(k, now)) return undefined;
    if (k.lastUsed === undefined || now - Date.parse(k.lastUsed) >= LAST_USED_EVERY_MS) {
      await this.records.markUsed(k.uuid, new Date(now).toISOString());
    }
    return { groups: k.groups };
  }
}

function details(k: ApiKeyRecord): ApiKeyDetails {
  return {
    createdAt: k.createdAt,
    expirationDate: k.expirationDate ?? '0001-01-01T00:00:00Z', // Go's zero time, as Zot prints "never"
    isExpired: expired(k, Date.now()),
    creatorUa: k.creatorUa,
    generatedBy: 'manual',
    lastUsed: k.lastUsed ?? '0001-01-01T00:00:00Z',
    label: k.label,
    scopes: k.scopes,
    uuid: k.uuid,
  };
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function expired(k: ApiKeyRecord, now: number): boolean {
  return k.expirationDate !== null && Date.parse(k.expirationDate) <= now;
}
