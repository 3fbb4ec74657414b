/**
 * berth's own Docker token service (distribution's docs/spec/auth/token.md and jwt.md). Docker's client sends
 * credentials only to a token service it was pointed at by a `Bearer` challenge, and never Basic credentials
 * after a 200 on `/v2/`; so when the policies mix anonymous and authenticated access, berth answers with
 * `Bearer` challenges naming this service and issues the tokens itself (as Docker Hub and Harbor do).
 *
 * Tokens are ES256 JWTs signed with one key kept in the MetaStore (`signingKeys`): every process on the same
 * store (two berth during a rolling update, replicas on a shared store) signs with and accepts the same key,
 * and a restart keeps tokens valid. The first process to start creates it.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { errors, exportJWK, calculateJwkThumbprint, jwtVerify, SignJWT } from 'jose';
import type { AuthFailure, Identity } from '../extensions/api';
import type { SigningKeys } from '../metastore/meta-store';

/** Where the service answers: outside `/v2/` (repository names) and `/zot/` (Zot's own auth routes). */
export const TOKEN_PATH = '/berth/auth/token';
/** The `service` of the challenges and the tokens' audience and issuer. */
export const TOKEN_SERVICE = 'berth';
/** `Identity.via` of a request that presented one of these tokens. */
export const TOKEN_VIA = 'token';

const ALGORITHM = 'ES256';
// Short-lived: a token is fetched per pull or push, and a policy change reaches token holders within minutes.
export const TOKEN_LIFETIME_S = 300;
// One process signs and verifies; the tolerance only matters once replicas with their own clocks share the key.
const CLOCK_TOLERANCE_S = 10;

export interface AccessGrant {
  type: string;
  name: string;
  actions: string[];
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

// The MetaStore name of the key (a PKCS#8 PEM of a P-256 private key).
const SIGNING_KEY = 'berth.token-service.es256';

export class TokenService {
  private constructor(
    private readonly privateKey: KeyObject,
    private readonly publicKey: KeyObject,
    private readonly kid: string,
  ) {}

  /** The service with the store's key: this process's fresh candidate when the store had none yet. */
  static async create(keys: SigningKeys): Promise<TokenService> {
    const candidate = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    const stored = await keys.getOrCreate(SIGNING_KEY, new TextEncoder().encode(String(candidate)));
    const privateKey = createPrivateKey(Buffer.from(stored).toString('utf8'));
    const publicKey = createPublicKey(privateKey);
    const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
    return new TokenService(privateKey, publicKey, kid);
  }

  /** A token for `subject` (undefined: anonymous, `sub` empty) carrying exactly `access`. */
  async issue(subject: Identity | undefined, access: AccessGrant[]): Promise<IssuedToken> {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ access, groups: subject?.groups ?? [] })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT', kid: this.kid })
      .setIssuer(TOKEN_SERVICE)
      .setAudience(TOKEN_SERVICE)
      .setSubject(subject?.user ?? '')
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + TOKEN_LIFETIME_S)
      .setJti(randomUUID())
      .sign(this.privateKey);
    return { token, expiresIn: TOKEN_LIFETIME_S, issuedAt: new Date(now * 1000).toISOString() };
  }

  /**
   * The identity a token stands for: a user's token gives `{ user, groups, via: 'token', access }`; an
   * anonymous token gives `anonymous` (the request then counts as one without credentials).
   */
  async verify(token: string): Promise<Identity | 'anonymous' | AuthFailure> {
    try {
      const { payload } = await jwtVerify(token, this.publicKey, {
        algorithms: [ALGORITHM],
        issuer: TOKEN_SERVICE,
        audience: TOKEN_SERVICE,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp', 'sub'],
      });
      if (payload.sub === '') return 'anonymous';
      // Only berth signs with this key, so a verified payload has the shape issue() gave it.
      const { groups, access } = payload as unknown as { groups: string[]; access: AccessGrant[] };
      return { user: payload.sub!, groups, via: TOKEN_VIA, access };
    } catch (err) {
      return { failure: err instanceof errors.JOSEError ? err.code : 'invalid token' };
    }
  }
}
