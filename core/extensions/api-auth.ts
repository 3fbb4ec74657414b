/** The extension API's authentication: authenticators, identities, API keys (see api.ts). */
import type { Logger } from 'pino';

export interface NewApiKey {
  label: string;
  scopes: string[];
  expirationDate?: Date;
  userAgent: string;
}

/** Zot's APIKeyDetails as its API prints them. */
export interface ApiKeyDetails {
  createdAt: string;
  expirationDate: string;
  isExpired: boolean;
  creatorUa: string;
  generatedBy: string;
  lastUsed: string;
  label: string;
  scopes: string[];
  uuid: string;
}

/**
 * What an authenticator offers Zot's API key routes (`/zot/auth/apikey`): one whose instance has `keys` (the
 * built-in `apikey` provider) serves them.
 */
export interface ApiKeyManager {
  create(user: string, groups: string[], input: NewApiKey): Promise<{ details: ApiKeyDetails; apiKey: string }>;
  list(user: string): Promise<ApiKeyDetails[]>;
  revoke(user: string, uuid: string): Promise<boolean>;
}

/** Who a request is from, once authenticated. */
export interface Identity {
  user: string;
  /** Groups from the identity source (LDAP `userGroupAttribute`); `accessControl.groups` are added by the core. */
  groups: string[];
  /**
   * The authenticator kind that vouched for the user (`htpasswd`, `ldap`, `bearer`, `mtls`, `apikey`), or
   * `token` for a token from berth's own token service (docs/auth.md).
   */
  via: string;
  /**
   * Grants carried by the credential itself (Docker token `access` claims). When present the identity may do
   * at most these: with `http.auth.bearer` exactly these and `accessControl` is not consulted, as with Zot's
   * bearer tokens; with berth's own tokens (`via: 'token'`) `accessControl` still decides within them.
   */
  access?: Array<{ type: string; name: string; actions: string[] }>;
}
export interface AuthRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The decoded `Authorization: Basic` credentials, when the request has them. */
  basic?: { username: string; password: string };
  /** The `Authorization: Bearer` token, when the request has one. */
  bearer?: string;
  /** The client certificate, only when the TLS layer verified it against `http.tls.cacert`. */
  clientCertificate?: Record<string, unknown>;
}
/** A definite "no": the credentials were meant for this authenticator and are wrong (or it is unavailable). */
export interface AuthFailure {
  failure: string;
}
/**
 * One authentication method. `authenticate` returns an {@link Identity} when it vouches for the request, an
 * {@link AuthFailure} when the credentials are its kind but wrong, and `undefined` when they are not for it
 * (the core then asks the next method). It must never throw for bad input and must bound its own waiting.
 */
export interface Authenticator {
  name: string;
  authenticate(req: AuthRequest): Promise<Identity | AuthFailure | undefined>;
  /** Releases watchers and connections; called on shutdown and when a config reload replaces it. */
  close?(): Promise<void>;
}
/** Builds an authenticator from its config section (`http.auth.<kind>`, plus what the core documents per kind). */
export type AuthenticatorFactory = (config: unknown, logger: Logger) => Authenticator | Promise<Authenticator>;
