import type { Logger } from 'pino';
import type { Registry as PromRegistry } from 'prom-client';
import type { PreparedChange } from '../config/live-reload';
import type { BerthConfig } from '../config/schema';
import type { AuthenticatorFactory } from '../extensions/api';
import type { MountedRoute } from '../extensions/host';
import type { AccessControl } from '../http/route-helpers';
import { createAccessControl } from './access-control';
import { createAuthMetrics } from './auth-metrics';
import { apiKeyRoutes } from './apikey-routes';
import { authMiddleware } from './auth-middleware';
import { type AuthState, buildAuthState, closeReplaced } from './auth-state';
import { tokenRoute } from './token-route';
import type { KeyValueSpace, SigningKeys } from '../metastore/meta-store';
import { logoutRoute } from './session-cookies';
import { SessionService } from './session-service';
import { TokenService } from './token-service';

/**
 * The app's authentication and authorization: a middleware, the AccessControl for routes, the API key routes,
 * and `reload(config)`, which swaps in the `http.auth` and `http.accessControl` of a new valid config at once.
 */
export class AuthService {
  #state: AuthState;
  readonly access: AccessControl;
  readonly middleware: ReturnType<typeof authMiddleware>;
  readonly routes: MountedRoute[];

  private constructor(
    private readonly initial: BerthConfig,
    state: AuthState,
    private readonly tokens: TokenService,
    private readonly sessions: SessionService,
    private readonly factories: ReadonlyMap<string, AuthenticatorFactory>,
    private readonly logger: Logger,
    registry: PromRegistry,
  ) {
    this.#state = state;
    const current = () => this.#state;
    const metrics = createAuthMetrics(registry);
    this.access = createAccessControl(current, metrics);
    this.middleware = authMiddleware(current, metrics);
    this.routes = [
      ...apiKeyRoutes(
        () => this.#state.apiKeys,
        (id) => this.#state.policy?.groups(id) ?? id.groups,
      ),
      tokenRoute(metrics),
      logoutRoute(),
    ];
  }

  static async create(
    config: BerthConfig,
    factories: ReadonlyMap<string, AuthenticatorFactory>,
    logger: Logger,
    keys: SigningKeys,
    sessionsKv: KeyValueSpace,
    metrics: PromRegistry,
  ): Promise<AuthService> {
    const log = logger.child({ component: 'auth' });
    // One signing key each, shared through the MetaStore: tokens and sessions outlive reloads and restarts,
    // and every replica on the store accepts them (docs/auth.md).
    const tokens = await TokenService.create(keys);
    const sessions = await SessionService.create(keys, sessionsKv);
    const state = await buildAuthState(config, factories, log, tokens, sessions);
    return new AuthService(config, state, tokens, sessions, factories, log, metrics);
  }

  /**
   * Builds the snapshot of a new config (rejecting, with the running one untouched, when it cannot); the
   * returned change swaps it in at once on commit, or closes what it built on abort.
   */
  async prepareReload(config: BerthConfig): Promise<PreparedChange> {
    const previous = this.#state;
    const next = await buildAuthState(this.#reloadable(config), this.factories, this.logger, this.tokens, this.sessions, previous);
    return {
      commit: async () => {
        this.#state = next;
        await closeReplaced(previous, next);
      },
      abort: () => closeReplaced(next, previous),
    };
  }

  /**
   * The new config's reloadable parts over the running one: as in Zot, `realm`, `bearer`, `failDelay`, the TLS
   * files and the root directory (where the MetaStore, and with it the API keys, lives) only change with a
   * restart, and the reload logs say so.
   */
  #reloadable(config: BerthConfig): BerthConfig {
    const { http, storage } = this.initial;
    const auth = { ...config.http.auth, bearer: http.auth.bearer, failDelay: http.auth.failDelay };
    return {
      ...config,
      storage: { ...config.storage, rootDirectory: storage.rootDirectory },
      http: { ...config.http, realm: http.realm, tls: http.tls, auth },
    };
  }

  async close(): Promise<void> {
    await closeReplaced(this.#state, undefined);
  }
}
