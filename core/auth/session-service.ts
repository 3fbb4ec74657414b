/**
 * Browser sessions for Zot's web UI (zui), as Zot's authn.go keeps them: when a request marked
 * `X-ZOT-API-CLIENT: zot-ui` logs in with htpasswd or LDAP credentials, the answer sets an HttpOnly `session`
 * cookie and a readable `user` cookie (zui reads the user name from it); later zui requests carry the cookie
 * and no `Authorization`. `POST /zot/auth/logout` ends the session.
 *
 * The cookie carries the session itself (id, user, groups, expiry), signed with an HMAC key kept in the
 * MetaStore (`signingKeys`): every berth on the same store accepts it, so replicas need no sticky sessions and
 * a restart keeps users signed in. Logout records the id as revoked in the MetaStore until the session would
 * have expired, which every replica consults.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Identity } from '../extensions/api';
import type { KeyValueSpace, SigningKeys } from '../metastore/meta-store';

/** Zot's cookie names. */
export const SESSION_COOKIE = 'session';
export const USER_COOKIE = 'user';
/** The header zui puts on every request; Zot only creates and reads sessions for requests that carry it. */
export const UI_CLIENT_HEADER = 'x-zot-api-client';
export const UI_CLIENT = 'zot-ui';
export const LOGOUT_PATH = '/zot/auth/logout';
/** Zot's `cookiesMaxAge`: two hours. */
export const SESSION_LIFETIME_S = 2 * 60 * 60;
/** The login methods a session may stand for (Zot: htpasswd and LDAP; API keys and tokens never). */
const SESSION_METHODS = new Set(['htpasswd', 'ldap']);

/** The MetaStore key-value namespace of revoked sessions. */
export const SESSIONS_NAMESPACE = 'berth.sessions';
const SIGNING_KEY = 'berth.sessions.hmac-sha256';
const REVOKED = 'revoked/';

interface SessionClaims {
  /** Session id (for revocation). */
  sid: string;
  user: string;
  groups: string[];
  via: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export type SessionCheck = { identity: Identity; sid: string; exp: number } | { failure: 'malformed' | 'signature' | 'expired' | 'revoked' };

export class SessionService {
  private constructor(
    private readonly key: Buffer,
    private readonly revoked: KeyValueSpace,
  ) {}

  static async create(keys: SigningKeys, kv: KeyValueSpace): Promise<SessionService> {
    const stored = await keys.getOrCreate(SIGNING_KEY, randomBytes(32));
    return new SessionService(Buffer.from(stored), kv);
  }

  /** Whether a login by this identity opens a session (as in Zot: passwords checked by htpasswd or LDAP). */
  opensSession(identity: Identity): boolean {
    return SESSION_METHODS.has(identity.via) && identity.access === undefined;
  }

  /** A new session's cookie value. */
  issue(identity: Identity, now = Date.now()): string {
    const claims: SessionClaims = {
      sid: randomUUID(),
      user: identity.user,
      groups: identity.groups,
      via: identity.via,
      exp: Math.floor(now / 1000) + SESSION_LIFETIME_S,
    };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${payload}.${this.sign(payload)}`;
  }

  /** The identity a cookie value stands for, or why it stands for none. */
  async verify(value: string, now = Date.now()): Promise<SessionCheck> {
    const dot = value.indexOf('.');
    if (dot <= 0) return { failure: 'malformed' };
    const payload = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.sign(payload), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { failure: 'signature' };
    // Only berth signs with this key, so a verified payload has the shape issue() gave it.
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as SessionClaims;
    if (claims.exp * 1000 <= now) return { failure: 'expired' };
    if (await this.revoked.get(REVOKED + claims.sid)) return { failure: 'revoked' };
    return { identity: { user: claims.user, groups: claims.groups, via: claims.via }, sid: claims.sid, exp: claims.exp };
  }

  /**
   * Ends the session of a cookie value (a no-op for one that does not verify). The revocation is kept until
   * the session would have expired; expired revocations are dropped here, so the list stays as small as the
   * number of sessions ended within one lifetime.
   */
  async revoke(value: string, now = Date.now()): Promise<void> {
    const checked = await this.verify(value, now);
    if (!('sid' in checked)) return;
    await this.revoked.put(REVOKED + checked.sid, new TextEncoder().encode(String(checked.exp)));
    await this.pruneRevoked(now);
  }

  private async pruneRevoked(now: number): Promise<void> {
    let after: string | undefined;
    for (;;) {
      const page = await this.revoked.list(REVOKED, { limit: 500, after });
      for (const entry of page) {
        if (Number(new TextDecoder().decode(entry.value)) * 1000 <= now) await this.revoked.delete(entry.key, entry.version);
      }
      if (page.length < 500) return;
      after = page[page.length - 1]!.key;
    }
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
