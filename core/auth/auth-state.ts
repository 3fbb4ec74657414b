/**
 * One immutable snapshot of everything authentication and authorization need, built from a validated config.
 * A reload builds a new snapshot and swaps it in whole, so a request never sees half of an old config and half
 * of a new one. Authenticators whose config slice did not change are carried over (their watchers, LDAP
 * "down" memory and API key file stay as they are).
 */
import { accessSync, constants } from 'node:fs';
import type { Logger } from 'pino';
import type { BerthConfig } from '../config/schema';
import type { Authenticator, AuthenticatorFactory } from '../extensions/api';
import type { ApiKeyManager } from './apikey-routes';
import type { ChallengeSettings } from './challenge';
import { PolicyEngine } from './policy-engine';
import { TOKEN_PATH, type TokenService } from './token-service';
import type { SessionSettings } from './session-cookies';
import type { SessionService } from './session-service';

export interface AuthState {
  settings: ChallengeSettings;
  failDelayMs: number;
  /** Some authentication is configured; without it every request is anonymous and policies alone decide. */
  enabled: boolean;
  /** Tried in order for `Authorization: Basic`: htpasswd → LDAP → API key, as Zot's code does. */
  basic: Authenticator[];
  /** Exclusive when configured: Basic credentials are then not accepted at all (as in Zot). */
  bearer?: Authenticator;
  mtls?: Authenticator;
  /**
   * berth's own token service, in use when the policies mix anonymous and authenticated access and no
   * `http.auth.bearer` is configured: Docker's client needs Bearer challenges then (token-service.ts).
   */
  tokens?: TokenService;
  apiKeys?: ApiKeyManager;
  /** Browser sessions for zui, in use when htpasswd or LDAP logins are (session-service.ts). */
  sessions?: SessionSettings;
  /** `http.accessControl`; undefined means authenticated users may do everything. */
  policy?: PolicyEngine;
  /** Every authenticator by kind, with the config it was built from (for reuse across reloads). */
  members: Map<string, { fingerprint: string; authenticator: Authenticator }>;
}

export class AuthConfigError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`${key}: ${reason}`);
    this.name = 'AuthConfigError';
  }
}

/**
 * Builds a snapshot; throws {@link AuthConfigError} naming the key when a file is missing or a provider refuses.
 * `tokens` is the app's token service (one signing key per process), used when the config calls for it;
 * `sessions` the app's session service, used when password logins are.
 */
export async function buildAuthState(
  config: BerthConfig,
  factories: ReadonlyMap<string, AuthenticatorFactory>,
  logger: Logger,
  tokens: TokenService,
  sessions: SessionService,
  previous?: AuthState,
): Promise<AuthState> {
  const { auth, tls, accessControl } = config.http;
  const wanted: Array<{ kind: string; key: string; slice: unknown; files: Array<[string, string | undefined]> }> = [];
  if (auth.htpasswd?.path) wanted.push({ kind: 'htpasswd', key: 'http.auth.htpasswd', slice: { path: auth.htpasswd.path }, files: [['path', auth.htpasswd.path]] });
  if (auth.ldap) wanted.push({ kind: 'ldap', key: 'http.auth.ldap', slice: auth.ldap, files: [['credentialsFile', auth.ldap.credentialsFile], ['cacert', auth.ldap.cacert]] });
  // The keys are in the MetaStore (the provider reaches it through ctx.metaStore): nothing to configure.
  if (auth.apikey) wanted.push({ kind: 'apikey', key: 'http.auth.apikey', slice: {}, files: [] });
  if (auth.bearer) {
    if (!auth.bearer.cert) throw new AuthConfigError('http.auth.bearer.cert', 'required: token verification by awsSecretsManager or oidc is not built yet');
    const { realm, service, cert } = auth.bearer;
    wanted.push({ kind: 'bearer', key: 'http.auth.bearer', slice: { realm, service, cert }, files: [['cert', cert]] });
  }
  // A CA for client certificates is an authentication method by itself (the certificate names the user).
  if (tls?.cert && tls.key && tls.cacert) wanted.push({ kind: 'mtls', key: 'http.auth.mtls', slice: auth.mtls ?? {}, files: [] });

  const members = new Map<string, { fingerprint: string; authenticator: Authenticator }>();
  try {
    for (const { kind, key, slice, files } of wanted) {
      for (const [name, file] of files) if (file) assertReadable(`${key}.${name}`, file);
      const fingerprint = JSON.stringify(slice);
      const reused = previous?.members.get(kind);
      if (reused && reused.fingerprint === fingerprint) {
        members.set(kind, reused);
        continue;
      }
      const factory = factories.get(kind);
      if (!factory) throw new AuthConfigError(key, `no authenticator "${kind}" is registered`);
      try {
        members.set(kind, { fingerprint, authenticator: await factory(slice, logger.child({ authenticator: kind })) });
      } catch (err) {
        throw new AuthConfigError(key, (err as Error).message);
      }
    }
  } catch (err) {
    await closeUnused(members, previous);
    throw err;
  }

  const get = (kind: string) => members.get(kind)?.authenticator;
  const basic = ['htpasswd', 'ldap', 'apikey'].map(get).filter((a): a is Authenticator => a !== undefined);
  const bearer = get('bearer');
  const policy = accessControl ? new PolicyEngine(accessControl) : undefined;
  // Basic logins exist and some requests need one while others need none: only a token service lets Docker's
  // client pull anonymously and still log in for pushes (Zot #3538, #2928, #3991).
  const useTokens = !bearer && basic.length > 0 && policy !== undefined && policy.hasAnonymousRules && policy.hasAuthenticatedRules;
  if (useTokens && !previous?.tokens) {
    logger.info({ path: TOKEN_PATH }, "policies mix anonymous and authenticated access: berth's token service answers the challenges");
    // The realm then comes from each request's Host and berth's own scheme: behind a TLS-terminating proxy that
    // is http://, and Docker would send passwords there in the clear.
    if (!config.http.externalUrl && !(config.http.tls?.cert && config.http.tls.key)) {
      logger.warn({ key: 'http.externalUrl' }, 'token service on plain HTTP without http.externalUrl: behind a TLS proxy, set http.externalUrl to its https:// address');
    }
  }
  warnUnenforced(config, logger);
  const passwords = !bearer && (members.has('htpasswd') || members.has('ldap'));
  // Zot's UseSecureSession: the key when set, else whether berth itself serves TLS.
  const secure = auth.secureSession ?? Boolean(tls?.cert && tls.key);
  return {
    settings: {
      realm: config.http.realm,
      bearer: auth.bearer ? { realm: auth.bearer.realm, service: auth.bearer.service } : undefined,
      tokens: useTokens ? { externalUrl: config.http.externalUrl } : undefined,
    },
    failDelayMs: auth.failDelay * 1000,
    enabled: basic.length > 0 || bearer !== undefined || members.has('mtls'),
    basic: bearer ? [] : basic,
    bearer,
    mtls: get('mtls'),
    tokens: useTokens ? tokens : undefined,
    apiKeys: (get('apikey') as { keys?: ApiKeyManager } | undefined)?.keys,
    sessions: passwords ? { sessions, secure } : undefined,
    policy: bearer ? undefined : policy,
    members,
  };
}

/** Closes the authenticators of `state` that `next` does not carry over. */
export async function closeReplaced(state: AuthState, next: AuthState | undefined): Promise<void> {
  for (const [kind, member] of state.members) {
    if (next?.members.get(kind) === member) continue;
    await member.authenticator.close?.().catch(() => undefined);
  }
}

async function closeUnused(built: Map<string, { authenticator: Authenticator }>, previous: AuthState | undefined): Promise<void> {
  for (const [kind, member] of built) {
    if (previous?.members.get(kind) !== member) await member.authenticator.close?.().catch(() => undefined);
  }
}

function assertReadable(key: string, file: string): void {
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new AuthConfigError(key, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function warnUnenforced(config: BerthConfig, logger: Logger): void {
  const acl = config.http.accessControl;
  if (config.http.auth.bearer && acl) {
    logger.warn({ key: 'http.accessControl' }, 'bearer tokens carry their own grants: accessControl is not consulted (as in Zot)');
  }
  // Policy conditions and detectManifestCollision are warned about once, with every other inactive key,
  // from core/config/unbuilt-features.ts.
}
