/**
 * The public extension API of berth: everything a built-in or third-party extension may use.
 * Import it as `import { defineExtension, type Extension } from 'berth/extension'`.
 * Nothing here exposes the DI container: extensions receive plain objects. The types are grouped by subject in
 * api-http.ts (routes, access, request observers), api-content.ts (the registry facade, content sources),
 * api-events.ts (manifest checks, events) and api-auth.ts (authenticators, API keys); all are exported here.
 */
import type { Logger } from 'pino';
import type { Registry as PromRegistry } from 'prom-client';
import type { ZodType } from 'zod';
import type { DriverFactory } from '../storage/driver';
import type { MetaStore, MetaStoreFactory } from '../metastore/meta-store';
import type { AccessCheck, RequestObserver, RouteRegistrar } from './api-http';
import type { ContentSource, RegistryFacade } from './api-content';
import type { ManifestValidator, RegistryEvents } from './api-events';
import type { AuthenticatorFactory } from './api-auth';

export type { DriverFactory, DriverOptions, DriverWriter, FileInfo, ReadOptions, StorageDriver } from '../storage/driver';
export type {
  AccessKind, AccessTimes, ApiKeyRecord, ApiKeyRecords, CasResult, CatalogIndex, DedupeIndex, KeyValueSpace, KvEntry, Lease,
  Leases, MetaStore, MetaStoreFactory, MetaStoreOptions, NewUploadSession, PageOptions, SigningKeys, UploadSession, UploadSessions,
} from '../metastore/meta-store';
export type { Logger };
/**
 * Watches a file an extension reads (credentials, a users file) as berth watches its config: through its
 * directory, so a rename-replaced file is seen too; `onChange` is debounced. Returns the function that stops it.
 */
export { watchFile } from '../config/file-watch';
/** Zot's config scalars for extension schemas (`zot.bool`, `zot.duration`, `zot.block`, ...): see zot-schema.ts. */
export * as zot from './zot-schema';
export { RegistryError, defineRegistryError, ManifestInvalid } from '../registry/errors';
/** berth's version (package.json), e.g. for an info metric or a user agent. */
export { berthVersion } from '../version';
export type * from './api-http';
export type * from './api-content';
export type * from './api-events';
export type * from './api-auth';

/** The API version this build of berth implements. */
export const EXTENSION_API_VERSION = 1 as const;

/** An extension: one exported object, checked by the host before anything starts. */
export interface Extension<C = unknown> {
  /** Its key under `extensions` in the config, and its id in logs and errors. */
  name: string;
  /** Must equal {@link EXTENSION_API_VERSION}; a mismatch stops start-up with an error naming the extension. */
  apiVersion: typeof EXTENSION_API_VERSION;
  /** Validates its slice of the config (`extensions.<name>`); validated with the rest at start-up. */
  configSchema?: ZodType<C>;
  /** Names of extensions that must be registered first; a missing one stops start-up. */
  dependsOn?: string[];
  /**
   * When its config slice changes on a live reload, register it again with the new slice and swap what it
   * contributes (content sources, schedules, event handlers, route handlers) at once; the replaced instance's
   * schedules and handlers stop then, and its shutdown hooks run when its in-flight work had time to end.
   * `register` must therefore keep its state in closures, not in module scope. Without it, a changed slice is
   * logged as taking effect after a restart.
   */
  reloadable?: boolean;
  /**
   * Phase one, at start-up before storage and auth exist: declare what the extension contributes (routes,
   * content sources, drivers, authenticators, schedules, event handlers, `onStart` and `onShutdown` hooks).
   * Phase two is `ctx.onStart`: it runs once every extension has registered and the registry, access control
   * and MetaStore are usable, before the server listens. Stopping is `ctx.onShutdown` (on shutdown, and when a
   * reload replaces this instance).
   */
  register(ctx: ExtensionContext<C>): void | Promise<void>;
}

/** Identity helper that keeps the config type inferred from the schema. */
export function defineExtension<C>(extension: Extension<C>): Extension<C> {
  return extension;
}

/** What an extension receives. Everything is scoped to this one app instance. */
export interface ExtensionContext<C = unknown> {
  readonly name: string;
  /** Its parsed config slice. */
  readonly config: C;
  /** A pino child logger tagged `{ ext: name }`. */
  readonly logger: Logger;
  /** The app's Prometheus registry. */
  readonly metrics: PromRegistry;
  readonly routes: RouteRegistrar;
  /** The request-metrics seam: hear of every finished HTTP request (see {@link RequestObserver}). */
  readonly http: { observe(observer: RequestObserver): void };
  readonly registry: RegistryFacade;
  /** Zot's access control, as the core applies it to /v2 routes, for the extension's own routes. */
  readonly access: AccessCheck;
  readonly events: RegistryEvents;
  /**
   * Checks run on the single manifest write path (push, pull-through, and every extension's
   * `registry.putManifest`, periodic sync included) before the repository's index changes: a validator that
   * throws refuses the write and nothing changes. Throw a {@link RegistryError} (e.g. `ManifestInvalid(...)`,
   * 400 MANIFEST_INVALID) to answer the writer with it; anything else is a 500.
   */
  readonly manifestValidators: { add(validator: ManifestValidator): void };
  /**
   * The app's MetaStore (meta-store.ts): what every berth on it shares. Open once start-up has chosen it:
   * usable in authenticator factories, handlers, schedules and event handlers, not during `register`. Keep
   * an extension's own data in `metaStore.kv(<its name>)`.
   */
  readonly metaStore: MetaStore;
  readonly contentSources: { add(source: ContentSource): void };
  readonly storageDrivers: { add(kind: string, factory: DriverFactory): void };
  /** Contributes a MetaStore kind (`storage.cacheDriver.name` selects it when `remoteCache` is on). */
  readonly metaStores: { add(kind: string, factory: MetaStoreFactory): void };
  readonly authenticators: { add(kind: string, factory: AuthenticatorFactory): void };
  /**
   * Runs `task` on a schedule: a cron expression (node-cron) or an interval in ms, and first `initialDelay` ms
   * after start-up when given; a run still going is not started twice. On shutdown and reload the schedule
   * stops, `signal` aborts, and the host waits for the run in progress: check `signal.aborted` at safe points.
   * `signal` also aborts at `timeout`, and, for `scope: 'global'`, when the run lost its lease. A `global`
   * schedule runs on one berth at a time among all sharing the MetaStore (a lease), and a tick that comes within
   * the same period as another berth's run is skipped, so N replicas run it once per period, not N times.
   */
  schedule(every: string | number, task: (signal: AbortSignal) => Promise<void>, opts?: ScheduleOptions): void;
  /**
   * Phase two of the lifecycle: runs once all extensions have registered and start-up has opened storage, the
   * MetaStore and auth (on a reload: once the new instance registered, before it replaces the old one). Load
   * state, open connections, check what the registry holds here; a rejection stops start-up (or refuses the
   * reload) with an error naming the extension. Schedules and event handlers start after every `onStart` ran.
   */
  onStart(fn: (started: StartedContext) => void | Promise<void>): void;
  /** Called when the app closes (and when a reload replaced this instance), in reverse order of registration. */
  onShutdown(fn: () => Promise<void>): void;
  /** What this berth serves (read-only), for routes that describe the server to clients (Zot's mgmt). */
  readonly server: ServerInfo;
}

/**
 * A read-only description of the running server. `auth()` reflects the configuration in effect now (a reload
 * of `http.auth` changes it) and holds kinds and public parameters only: never secrets, file paths or hosts.
 */
export interface ServerInfo {
  /** berth's version (package.json). */
  readonly version: string;
  /** The OCI distribution-spec version served. */
  readonly distSpecVersion: string;
  auth(): AuthSummary;
}

export interface AuthSummary {
  htpasswd: boolean;
  ldap: boolean;
  /** `http.auth.bearer`: the realm and service clients fetch tokens from. */
  bearer?: { realm: string; service: string };
  /** `http.auth.openid` provider names with a configuration. */
  openid: string[];
  apikey: boolean;
  mtls: boolean;
}

/** What `onStart` receives: the services that exist only once start-up has chosen storage, MetaStore and auth. */
export interface StartedContext {
  readonly registry: RegistryFacade;
  readonly access: AccessCheck;
  readonly metaStore: MetaStore;
}

export interface ScheduleOptions {
  /** Names the schedule in logs and (global) its lease; unique within the extension. Default: its position. */
  id?: string;
  /** Milliseconds after start-up (or after a reload swapped the extension in) for the first run. */
  initialDelay?: number;
  /** Milliseconds a run may take before its signal aborts. */
  timeout?: number;
  /** `local` (default): every berth runs it. `global`: one berth among all sharing the MetaStore, once per period. */
  scope?: 'local' | 'global';
}

