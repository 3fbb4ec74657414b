import { dirname, isAbsolute, resolve } from 'node:path';
import cron from 'node-cron';
import type { Logger } from 'pino';
import type { Registry as PromRegistry } from 'prom-client';
import type {
  AccessCheck, AuthenticatorFactory, ContentSource, Extension, ExtensionContext, RegistryFacade, RouteHandler,
} from './api';
import { EXTENSION_API_VERSION } from './api';
import type { DriverFactory } from '../storage/driver';
import type { EventBus } from './events';

export class ExtensionError extends Error {
  constructor(readonly extension: string, message: string) {
    super(`extension ${extension}: ${message}`);
    this.name = 'ExtensionError';
  }
}

export interface MountedRoute {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  handler: RouteHandler;
  extension: string;
}

/** One extension to load: the object, and the config slice it receives. */
export interface ExtensionEntry {
  extension: Extension<unknown>;
  config: unknown;
  /** The config key its slice came from, for error messages (`extensions.myext`). */
  configPath: string;
}

/**
 * Loads extensions through the public API only: checks each one up front (apiVersion, duplicate names,
 * dependsOn, config slice), registers them in dependency order, and owns what they contribute.
 */
export class ExtensionHost {
  readonly routes: MountedRoute[] = [];
  readonly storageDrivers = new Map<string, DriverFactory>();
  readonly authenticators = new Map<string, AuthenticatorFactory>();
  readonly #shutdown: Array<() => Promise<void>> = [];
  readonly #timers: Array<() => Promise<void> | void> = [];
  #registry: ((writer: string) => RegistryFacade) | undefined;
  #access: AccessCheck | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: PromRegistry,
    private readonly events: EventBus,
    private readonly contentSources: { add(source: ContentSource): void },
  ) {}

  /**
   * Makes the registry facade available to extensions (it exists only once a storage driver is chosen); each
   * extension gets its own, so the manifests it writes are attributed to it.
   */
  setRegistry(facadeFor: (writer: string) => RegistryFacade): void {
    this.#registry = facadeFor;
  }

  /** Makes the core's access control available to extensions' routes. */
  setAccess(access: AccessCheck): void {
    this.#access = access;
  }

  async load(entries: ExtensionEntry[]): Promise<void> {
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
      if (entry.extension.configSchema) {
        const parsed = entry.extension.configSchema.safeParse(entry.config ?? {});
        if (!parsed.success) {
          const issues = parsed.error.issues.map((i) => `${[entry.configPath, ...i.path.map(String)].join('.')}: ${i.message}`);
          throw new ExtensionError(name, `invalid configuration: ${issues.join('; ')}`);
        }
        entry.config = parsed.data;
      }
    }
    for (const entry of topologicalOrder(byName)) {
      await entry.extension.register(this.context(entry));
      this.logger.debug({ ext: entry.extension.name }, 'extension registered');
    }
  }

  async close(): Promise<void> {
    for (const stop of this.#timers.splice(0)) await stop();
    for (const fn of this.#shutdown.splice(0).reverse()) {
      await fn().catch((err: unknown) => this.logger.warn({ err }, 'failed to shut down extension'));
    }
  }

  private context(entry: ExtensionEntry): ExtensionContext<unknown> {
    const name = entry.extension.name;
    const logger = this.logger.child({ ext: name });
    const route = (method: MountedRoute['method']) => (path: string, handler: RouteHandler) => {
      this.routes.push({ method, path, handler, extension: name });
    };
    const host = this;
    let registry: RegistryFacade | undefined;
    return {
      name,
      config: entry.config,
      logger,
      metrics: this.metrics,
      routes: { get: route('get'), post: route('post'), put: route('put'), patch: route('patch'), delete: route('delete') },
      get registry(): RegistryFacade {
        return (registry ??= host.#usable(name, host.#registry)(name));
      },
      access: {
        require: (c, repo, action) => host.#usable(name, host.#access).require(c, repo, action),
        readable: (c, repos) => host.#usable(name, host.#access).readable(c, repos),
      },
      events: this.events,
      contentSources: this.contentSources,
      storageDrivers: { add: (kind, factory) => addOnce(this.storageDrivers, kind, factory, name, 'storage driver') },
      authenticators: { add: (kind, factory) => addOnce(this.authenticators, kind, factory, name, 'authenticator') },
      schedule: (every, task) => this.schedule(name, logger, every, task),
      onShutdown: (fn) => this.#shutdown.push(fn),
    };
  }

  /** Registry and access exist only once start-up has chosen storage and auth; register() runs before. */
  #usable<T>(name: string, service: T | undefined): T {
    if (!service) throw new ExtensionError(name, 'ctx.registry and ctx.access are usable once start-up completes (in handlers, schedules, events)');
    return service;
  }

  private schedule(name: string, logger: Logger, every: string | number, task: () => Promise<void>): void {
    let running = false;
    const run = async () => {
      if (running) return; // a run still going does not start twice
      running = true;
      try {
        await task();
      } catch (err) {
        logger.warn({ err }, 'failed to run scheduled task');
      } finally {
        running = false;
      }
    };
    if (typeof every === 'number') {
      const timer = setInterval(() => void run(), every);
      timer.unref();
      this.#timers.push(() => clearInterval(timer));
      return;
    }
    if (!cron.validate(every)) throw new ExtensionError(name, `invalid schedule "${every}"`);
    const task_ = cron.schedule(every, run, { name: `${name}:${this.#timers.length}` });
    this.#timers.push(async () => {
      await task_.stop();
      await task_.destroy();
    });
  }
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

/** Loads a third-party extension module named by `extensions.<name>.module` (a package or a path). */
export function requireExtensionModule(specifier: string, configFile: string | undefined, name: string): Extension<unknown> {
  const base = configFile ? dirname(resolve(configFile)) : process.cwd();
  const target = specifier.startsWith('.') ? resolve(base, specifier) : specifier;
  let loaded: { default?: unknown } | undefined;
  try {
    const resolved = isAbsolute(target) ? target : require.resolve(target, { paths: [base, process.cwd()] });
    loaded = require(resolved) as { default?: unknown };
  } catch (err) {
    throw new ExtensionError(name, `cannot load module "${specifier}" (extensions.${name}.module): ${(err as Error).message}`);
  }
  return (loaded?.default ?? loaded) as Extension<unknown>;
}
