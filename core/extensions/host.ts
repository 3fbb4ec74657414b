import type { Logger } from 'pino';
import type { Registry as PromRegistry } from 'prom-client';
import type {
  AccessCheck, AuthenticatorFactory, Extension, ExtensionContext, HttpContext, RegistryEventMap, RegistryFacade, RouteAccess, RouteHandler, ServerInfo,
} from './api';
import { EXTENSION_API_VERSION } from './api';
import type { PreparedChange } from '../config/live-reload';
import { sameConfig } from '../config/reload-scope';
import type { ContentSources } from '../registry/content-sources';
import { NotFound } from '../registry/errors';
import type { DriverFactory } from '../storage/driver';
import type { MetaStore, MetaStoreFactory } from '../metastore/meta-store';
import { Contributions, type RouteMethod } from './contributions';
import type { EventBus } from './events';
import { ManifestValidators } from './manifest-validators';
import { RequestObservers } from '../http/request-observers';

export class ExtensionError extends Error {
  constructor(readonly extension: string, message: string) {
    super(`extension ${extension}: ${message}`);
    this.name = 'ExtensionError';
  }
}

export interface MountedRoute {
  method: RouteMethod;
  path: string;
  handler: RouteHandler;
  extension: string;
  /** Who may call it, when the core decides (api.ts RouteAccess); undefined: the handler authorizes. */
  access?: RouteAccess;
}

/** One extension to load: the object, and the config slice it receives. */
export interface ExtensionEntry {
  extension: Extension<unknown>;
  config: unknown;
  /** The config key its slice came from, for error messages (`extensions.myext`). */
  configPath: string;
  /**
   * The slice was already validated by the extension's schema as part of the whole config (the built-ins,
   * whose schemas the core composes): it is not parsed again.
   */
  validated?: boolean;
}

// A replaced instance's shutdown hooks wait this long (or for app shutdown): its in-flight work (a blob still
// streaming from an upstream client it would close) finishes first.
const RETIRE_AFTER_MS = 10 * 60_000;

interface Loaded {
  entry: ExtensionEntry;
  /** The slice as written, to tell on reload whether it changed. */
  raw: unknown;
  contributions: Contributions;
}

/**
 * Loads extensions through the public API only: checks each one up front (apiVersion, duplicate names,
 * dependsOn, config slice), registers them in dependency order, and owns what they contribute. Extensions
 * that declare `reloadable` are registered again when their slice changes on reload, and swapped in whole.
 */
export class ExtensionHost {
  readonly routes: MountedRoute[] = [];
  readonly storageDrivers = new Map<string, DriverFactory>();
  readonly metaStores = new Map<string, MetaStoreFactory>();
  readonly authenticators = new Map<string, AuthenticatorFactory>();
  /** The active extensions' manifest validators, for the manifest write path. */
  readonly manifestValidators = new ManifestValidators();
  readonly #loaded = new Map<string, Loaded>();
  /** The handler each mounted route runs now, by extension and route: a reload swaps it. */
  readonly #handlers = new Map<string, RouteHandler>();
  readonly #retired = new Set<Contributions>();
  #registry: ((writer: string) => RegistryFacade) | undefined;
  #access: AccessCheck | undefined;
  #metaStore: MetaStore | undefined;
  #server: ServerInfo | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: PromRegistry,
    private readonly events: EventBus,
    private readonly contentSources: ContentSources,
    /** Where extensions' `ctx.http.observe` observers go; the HTTP app notifies them. */
    readonly requests: RequestObservers = new RequestObservers(logger),
  ) {}

  /**
   * Makes the registry facade available to extensions (it exists only once a storage driver is chosen); each
   * extension gets its own, so the manifests it writes are attributed to it.
   */
  setRegistry(facadeFor: (writer: string) => RegistryFacade): void {
    this.#registry = facadeFor;
  }

  /** Makes the MetaStore available to extensions, once it is open (before authenticators are built). */
  setMetaStore(store: MetaStore): void {
    this.#metaStore = store;
  }

  /** Describes the server to extensions (`ctx.server`); set before extensions register. */
  setServerInfo(info: ServerInfo): void {
    this.#server = info;
  }

  /** Makes the core's access control available to extensions' routes. */
  setAccess(access: AccessCheck): void {
    this.#access = access;
  }

  async load(entries: ExtensionEntry[]): Promise<void> {
    const byName = checkEntries(entries);
    for (const entry of topologicalOrder(byName)) {
      const raw = entry.config;
      entry.config = parseSlice(entry);
      const contributions = await this.#register(entry, false);
      for (const r of contributions.routes) {
        const key = routeKey(entry.extension.name, r.method, r.path);
        this.#handlers.set(key, r.handler);
        this.routes.push({ method: r.method, path: r.path, access: r.access, extension: entry.extension.name, handler: (ctx) => this.#dispatch(key, ctx) });
      }
      this.contentSources.replace(entry.extension.name, contributions.sources);
      this.#loaded.set(entry.extension.name, { entry, raw, contributions });
      this.logger.debug({ ext: entry.extension.name }, 'extension registered');
    }
  }

  /**
   * Phase two, once start-up has made the registry, access control and MetaStore usable (`setRegistry`,
   * `setAccess`, `setMetaStore`): runs every extension's `onStart` hooks in dependency order, then starts their
   * schedules and event handlers (a first run with `initialDelay: 0` can use what any extension started).
   */
  async start(): Promise<void> {
    for (const { entry, contributions } of this.#loaded.values()) await this.#start(entry.extension.name, contributions);
    for (const { contributions } of this.#loaded.values()) contributions.activate();
  }

  async #start(name: string, contributions: Contributions): Promise<void> {
    const started = {
      registry: this.#usable(name, this.#registry)(name),
      access: this.#usable(name, this.#access),
      metaStore: this.#usable(name, this.#metaStore),
    };
    try {
      await contributions.start(started);
    } catch (err) {
      throw err instanceof ExtensionError ? err : new ExtensionError(name, `failed to start: ${(err as Error).message}`);
    }
  }

  /** Config paths of the loaded extensions that apply a changed slice in place (for the reload's restart list). */
  reloadablePaths(): string[][] {
    return [...this.#loaded.values()].filter((l) => l.entry.extension.reloadable).map((l) => l.entry.configPath.split('.'));
  }

  /**
   * Stages a reload: every `reloadable` extension whose slice changed (or that was added or removed) is
   * registered anew beside the running one. Commit swaps sources, schedules, event handlers and route handlers
   * of all of them at once; a failure anywhere leaves the running instances untouched.
   */
  async prepareReload(entries: ExtensionEntry[]): Promise<PreparedChange> {
    const next = checkEntries(entries);
    const staged: Array<{ name: string; old?: Loaded; loaded?: Loaded }> = [];
    const abort = async () => {
      for (const s of staged) await s.loaded?.contributions.shutdown();
    };
    try {
      for (const name of new Set([...this.#loaded.keys(), ...next.keys()])) {
        const old = this.#loaded.get(name);
        const entry = next.get(name);
        const ext = entry?.extension ?? old!.entry.extension;
        if (!ext.reloadable || (old && entry && sameConfig(old.raw, entry.config))) continue;
        if (!entry) {
          staged.push({ name, old });
          continue;
        }
        for (const dep of ext.dependsOn ?? []) {
          if (!next.has(dep)) throw new ExtensionError(name, `depends on ${dep}, which is not loaded`);
        }
        const raw = entry.config;
        entry.config = parseSlice(entry);
        const contributions = await this.#register(entry, true);
        staged.push({ name, old, loaded: { entry, raw, contributions } });
        await this.#start(name, contributions);
        for (const r of contributions.routes) {
          const mounted = this.routes.find((m) => m.extension === name && m.method === r.method && m.path === r.path);
          if (!mounted || !this.#handlers.has(routeKey(name, r.method, r.path))) {
            throw new ExtensionError(name, `adds route ${r.method.toUpperCase()} ${r.path} on reload; routes change only with a restart`);
          }
          if (mounted.access !== r.access) {
            throw new ExtensionError(name, `changes the access of route ${r.method.toUpperCase()} ${r.path} on reload; it changes only with a restart`);
          }
        }
      }
      this.contentSources.check(new Map(staged.map((c) => [c.name, c.loaded?.contributions.sources ?? []])));
    } catch (err) {
      await abort();
      throw err;
    }
    return {
      commit: async () => {
        // Requests see the new instances at once (nothing below can fail: prepare checked it) ...
        for (const { name, loaded } of staged) {
          this.contentSources.replace(name, loaded?.contributions.sources ?? []);
          for (const key of [...this.#handlers.keys()].filter((k) => k.startsWith(`${name}\0`))) this.#handlers.delete(key);
          for (const r of loaded?.contributions.routes ?? []) this.#handlers.set(routeKey(name, r.method, r.path), r.handler);
          if (loaded) this.#loaded.set(name, loaded);
          else this.#loaded.delete(name);
        }
        // ... and each new instance's schedules start once the old one's have stopped and their runs ended.
        for (const { name, old, loaded } of staged) {
          if (old) {
            await old.contributions.deactivate();
            this.#retire(old.contributions);
          }
          loaded?.contributions.activate();
          this.logger.info({ ext: name }, loaded ? 'extension reloaded' : 'extension stopped by reload');
        }
      },
      abort,
    };
  }

  async close(): Promise<void> {
    const all = [...this.#loaded.values()].map((l) => l.contributions).reverse();
    this.#loaded.clear();
    for (const c of all) await c.deactivate();
    for (const c of [...all, ...this.#retired]) await c.shutdown();
    this.#retired.clear();
  }

  /** A replaced instance stops at once; its shutdown hooks run once its in-flight work had time to end. */
  #retire(contributions: Contributions): void {
    this.#retired.add(contributions);
    const timer = setTimeout(() => {
      this.#retired.delete(contributions);
      void contributions.shutdown();
    }, RETIRE_AFTER_MS);
    timer.unref();
  }

  #dispatch(key: string, ctx: HttpContext): Promise<void> | void {
    const handler = this.#handlers.get(key);
    if (!handler) throw NotFound(); // its extension was stopped by a reload
    return handler(ctx);
  }

  async #register(entry: ExtensionEntry, reloading: boolean): Promise<Contributions> {
    const name = entry.extension.name;
    const logger = this.logger.child({ ext: name });
    const contributions = new Contributions(name, logger, this.events, () => this.#usable(name, this.#metaStore), this.manifestValidators, this.requests);
    try {
      await entry.extension.register(this.context(entry, contributions, logger, reloading));
    } catch (err) {
      await contributions.shutdown();
      throw err;
    }
    return contributions;
  }

  private context(entry: ExtensionEntry, contributions: Contributions, logger: Logger, reloading: boolean): ExtensionContext<unknown> {
    const name = entry.extension.name;
    const route = (method: RouteMethod) => (path: string, handler: RouteHandler, opts?: { access?: RouteAccess }) => {
      const access = opts?.access;
      if (access !== undefined && access !== 'metrics' && access !== 'public') {
        throw new ExtensionError(name, `route ${method.toUpperCase()} ${path}: unknown access "${String(access)}" (metrics, public)`);
      }
      contributions.routes.push({ method, path, handler, access });
    };
    // Drivers and authenticators are chosen once at start-up: a reload registers them again to no effect.
    const contribute = <T>(map: Map<string, T>, what: string) => (kind: string, value: T) => {
      if (!reloading) addOnce(map, kind, value, name, what);
    };
    const host = this;
    let registry: RegistryFacade | undefined;
    return {
      name,
      config: entry.config,
      logger,
      metrics: this.metrics,
      routes: { get: route('get'), post: route('post'), put: route('put'), patch: route('patch'), delete: route('delete') },
      http: { observe: (observer) => contributions.observe(observer) },
      get registry(): RegistryFacade {
        return (registry ??= host.#usable(name, host.#registry)(name));
      },
      access: {
        require: (c, repo, action) => host.#usable(name, host.#access).require(c, repo, action),
        readable: (c, repos) => host.#usable(name, host.#access).readable(c, repos),
      },
      events: {
        on: (event, handler) => contributions.on(event, handler),
        emit: (event, payload) => {
          if (!event.startsWith(`${name}.`)) throw new ExtensionError(name, `may emit only its own events (${name}.*), not ${event}`);
          this.events.emit(event, payload as RegistryEventMap[typeof event]);
        },
      },
      manifestValidators: { add: (validator) => contributions.validate(validator) },
      get metaStore(): MetaStore {
        if (!host.#metaStore) throw new ExtensionError(name, 'ctx.metaStore is usable once start-up has opened it (in authenticator factories, handlers, schedules, events)');
        return host.#metaStore;
      },
      contentSources: { add: (source) => void contributions.sources.push(source) },
      storageDrivers: { add: contribute(this.storageDrivers, 'storage driver') },
      metaStores: { add: contribute(this.metaStores, 'metastore') },
      authenticators: { add: contribute(this.authenticators, 'authenticator') },
      schedule: (every, task, opts) => {
        try {
          contributions.schedule(every, task, opts);
        } catch (err) {
          throw new ExtensionError(name, (err as Error).message);
        }
      },
      onStart: (fn) => contributions.onStart(fn),
      onShutdown: (fn) => contributions.onShutdown(fn),
      get server(): ServerInfo {
        if (!host.#server) throw new ExtensionError(name, 'ctx.server is not available in this host');
        return host.#server;
      },
    };
  }

  /** Registry and access exist only once start-up has chosen storage and auth; register() runs before. */
  #usable<T>(name: string, service: T | undefined): T {
    if (!service) throw new ExtensionError(name, 'ctx.registry, ctx.access and ctx.metaStore are usable once start-up opened them (in onStart, handlers, schedules, events), not during register');
    return service;
  }
}

const routeKey = (extension: string, method: string, path: string) => `${extension}\0${method}\0${path}`;

/**
 * Checks each entry's shape, API version, name, dependencies and config slice (before anything registers, and
 * for `berth verify`); returns them by name.
 */
export function checkEntries(entries: ExtensionEntry[]): Map<string, ExtensionEntry> {
  const byName = new Map<string, ExtensionEntry>();
  for (const entry of entries) {
    const ext = entry.extension;
    const name = typeof ext?.name === 'string' ? ext.name : entry.configPath;
    if (!ext || typeof ext.register !== 'function') throw new ExtensionError(name, 'does not export an extension object (name, apiVersion, register)');
    if (ext.apiVersion !== EXTENSION_API_VERSION) {
      throw new ExtensionError(name, `targets extension API version ${String(ext.apiVersion)}, this berth implements ${EXTENSION_API_VERSION}`);
    }
    if (byName.has(name)) throw new ExtensionError(name, 'is registered twice');
    byName.set(name, entry);
  }
  for (const [name, entry] of byName) {
    for (const dep of entry.extension.dependsOn ?? []) {
      if (!byName.has(dep)) throw new ExtensionError(name, `depends on ${dep}, which is not loaded`);
    }
    parseSlice(entry); // every slice is checked before the first register runs
  }
  return byName;
}

/** The entry's config slice parsed by its schema; an invalid slice names the extension and the keys. */
function parseSlice(entry: ExtensionEntry): unknown {
  if (!entry.extension.configSchema || entry.validated) return entry.config;
  const parsed = entry.extension.configSchema.safeParse(entry.config ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${[entry.configPath, ...i.path.map(String)].join('.')}: ${i.message}`);
    throw new ExtensionError(entry.extension.name, `invalid configuration: ${issues.join('; ')}`);
  }
  return parsed.data;
}

function addOnce<T>(map: Map<string, T>, kind: string, value: T, ext: string, what: string): void {
  if (map.has(kind)) throw new ExtensionError(ext, `${what} ${kind} is registered twice`);
  map.set(kind, value);
}

function topologicalOrder(byName: Map<string, ExtensionEntry>): ExtensionEntry[] {
  const order: ExtensionEntry[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new ExtensionError(name, `has a dependency cycle: ${[...chain, name].join(' -> ')}`);
    state.set(name, 'visiting');
    const entry = byName.get(name)!;
    for (const dep of entry.extension.dependsOn ?? []) visit(dep, [...chain, name]);
    state.set(name, 'done');
    order.push(entry);
  };
  for (const name of byName.keys()) visit(name, []);
  return order;
}
