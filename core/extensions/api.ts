/**
 * The public extension API of berth: everything a built-in or third-party extension may use.
 * Import it as `import { defineExtension, type Extension } from 'berth/extension'`.
 * Nothing here exposes the DI container: extensions receive plain objects.
 */
import type { Readable } from 'node:stream';
import type { Context as KoaContext } from 'koa';
import type { Logger } from 'pino';
import type { Registry as PromRegistry } from 'prom-client';
import type { ZodType } from 'zod';
import type { DriverFactory } from '../storage/driver';
import type { MetaStore, MetaStoreFactory } from '../metastore/meta-store';

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

/** A koa context; `ctx.state.user` holds the authenticated identity when there is one. */
export type HttpContext = KoaContext;
export type RouteHandler = (ctx: HttpContext) => Promise<void> | void;

export type AccessAction = 'read' | 'create' | 'update' | 'delete';

/**
 * The core's authorization for an extension's routes. The core authenticates every request before an
 * extension's handler runs, but only the extension knows which repository a route touches: call these.
 */
export interface AccessCheck {
  /** Throws UNAUTHORIZED (401 with the challenge) or DENIED (403) unless the request may do `action` on `repo`. */
  require(ctx: HttpContext, repo: string, action: AccessAction): Promise<void>;
  /** The repositories among `repos` that the request may read (for listings and search results). */
  readable(ctx: HttpContext, repos: string[]): Promise<string[]>;
}

/**
 * Who may call a route, when the core decides it rather than the handler:
 * - `metrics`: a Prometheus scrape, as Zot guards its metrics route. With authentication on, the caller is
 *   authenticated as on any route and must be one of `http.accessControl.metrics.users`; an anonymous one gets
 *   in only with `metrics.anonymousPolicy: ["read"]`. Otherwise 401 (anonymous) or 403, with the challenge.
 *   Without `accessControl`, any authenticated caller; without authentication, anyone.
 * - `public`: anyone; no authentication runs, even with credentials sent (`ctx.state.user` stays unset), as
 *   for the health probes.
 * Without it, the core authenticates as on /v2 and the handler authorizes with {@link AccessCheck}.
 */
export type RouteAccess = 'metrics' | 'public';

export interface RouteOptions {
  access?: RouteAccess;
}

/**
 * Mounts HTTP handlers. Paths use @koa/router syntax (`/v2/_zot/ext/x`, `/items/:id`). The core applies
 * request ids, access logging, authentication and OCI error mapping around them: throw a {@link RegistryError}
 * (see `berth` exports) to answer with OCI error JSON.
 */
export interface RouteRegistrar {
  get(path: string, handler: RouteHandler, opts?: RouteOptions): void;
  post(path: string, handler: RouteHandler, opts?: RouteOptions): void;
  put(path: string, handler: RouteHandler, opts?: RouteOptions): void;
  patch(path: string, handler: RouteHandler, opts?: RouteOptions): void;
  delete(path: string, handler: RouteHandler, opts?: RouteOptions): void;
}

/** One finished HTTP request, as {@link RequestObserver}s hear of it. */
export interface RequestObservation {
  method: string;
  /**
   * The @koa/router path template that matched (`/v2/*name/manifests/:reference`, `/metrics`), or `unmatched`:
   * a stable, low-cardinality label, never the raw path.
   */
  route: string;
  status: number;
  /** From the request's arrival to the end of its response (or the client hanging up). */
  durationSeconds: number;
  /** The repository a Distribution route (`/v2/<name>/manifests|blobs|tags|referrers/...`) names. */
  repo?: string;
  /** The response body's length, when it was known (Content-Length). */
  bytes?: number;
  /** The client went away before the response ended. */
  aborted: boolean;
}

/**
 * Called once per finished request, synchronously on the response's `close`: count or observe, never wait or
 * do I/O (every request pays for it). A throw is logged and ignored.
 */
export type RequestObserver = (observation: RequestObservation) => void;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  platform?: { architecture: string; os: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] };
}

export interface StoredManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** Read and write images through the same logic as the HTTP API (validation, locks, events). */
export interface RegistryFacade {
  listRepositories(): Promise<string[]>;
  listTags(repo: string): Promise<string[]>;
  /** A manifest by tag or digest, or undefined; never asks content sources. */
  getManifest(repo: string, reference: string): Promise<StoredManifest | undefined>;
  /**
   * Stores a manifest; its blobs and child manifests must already be present, unless `sparse`: then its
   * references are not checked (a mirror keeping an index's bytes and digest while holding only some of its
   * platforms, as a pull-through cache does). Returns its digest.
   */
  putManifest(repo: string, reference: string, mediaType: string, bytes: Buffer, opts?: { sparse?: boolean }): Promise<string>;
  deleteManifest(repo: string, reference: string): Promise<void>;
  hasBlob(repo: string, digest: string): Promise<number | undefined>;
  /**
   * True when a content source serves `repo` (pull-through): its manifests may name blobs and child
   * manifests not fetched yet, which a client's pull fetches, so their absence here is not damage.
   */
  pullsThrough(repo: string): boolean;
  /** Streams a blob in; it is kept only if its bytes hash to `digest`. */
  putBlob(repo: string, digest: string, body: Readable, size?: number): Promise<void>;
  openBlob(repo: string, digest: string): Promise<{ size: number; stream: Readable } | undefined>;
  /** Every manifest the repository's index lists (each digest once, tagged or not). */
  listManifests(repo: string): Promise<Descriptor[]>;
  /** Every blob digest the repository holds (manifests included, since they are blobs too). */
  listBlobs(repo: string): Promise<string[]>;
  /** Deletes a blob no manifest of the repository references; rejects (UNSUPPORTED) when one still does. */
  deleteBlob(repo: string, digest: string): Promise<void>;
  /**
   * When content was last pulled (ms since the epoch), from the durable record in the MetaStore, shared by
   * every berth on it; content never pulled counts from when the record began (so nothing looks stale at once).
   */
  lastPulled(digest: string): Promise<number>;
  /** {@link lastPulled} of many digests in one read of the record; every digest asked is in the map. */
  lastPulledMany(digests: readonly string[]): Promise<Map<string, number>>;
  /**
   * Deletes manifests (indexes before their children; one an index that stays still lists is skipped), then
   * the repository's blobs no remaining manifest uses, except those `keepBlob` protects. Returns the counts.
   */
  removeManifests(repo: string, manifests: Descriptor[], keepBlob: (digest: string) => boolean): Promise<{ manifests: number; blobs: number }>;
}

/**
 * Who stored a manifest: `push` (a client through the Distribution API), `pull-through` (cached on a client's
 * miss from a content source), or the name of the extension that wrote through `ctx.registry` (`sync` for
 * periodic sync).
 */
export type ManifestWriter = 'push' | 'pull-through' | (string & {});

/** Who asked for a change through the Distribution API (absent for writes by the core or an extension). */
export interface RequestOrigin {
  /** The authenticated user; absent for anonymous requests. */
  user?: string;
  /** The client's address as the socket saw it. */
  addr: string;
  method: string;
  userAgent?: string;
}

export interface ManifestStoredEvent {
  repo: string;
  digest: string;
  mediaType: string;
  /** The manifest's bytes as stored. */
  bytes: Buffer;
  /** The tag written; absent for a write by digest. A write under several tags emits one event per tag. */
  tag?: string;
  writer: ManifestWriter;
  /** The request that pushed it, when `writer` is `push`. */
  origin?: RequestOrigin;
}

/** A manifest about to be stored, as a {@link ManifestValidator} sees it. */
export interface ManifestWrite {
  repo: string;
  /** The reference written: a tag or the digest. */
  reference: string;
  /** The (first) tag written; absent for a write by digest alone. */
  tag?: string;
  digest: string;
  mediaType: string;
  /** The manifest's bytes, as they will be stored. */
  bytes: Buffer;
  /** The manifest parsed as JSON (already checked to be a well-formed manifest or index). */
  manifest: ParsedManifest;
  /** The manifest's artifactType, or for an image manifest without one its config's mediaType. */
  artifactType?: string;
  writer: ManifestWriter;
  /**
   * The config blob of an image manifest parsed as JSON (at most 4 MiB), undefined for an index or when the
   * config is not JSON. For a pull-through write it is fetched from the content source (and cached); it
   * rejects (MANIFEST_BLOB_UNKNOWN) when the config is nowhere to be had.
   */
  readConfig(): Promise<unknown>;
}

/** The JSON of an image manifest or index, loosely typed: fields the spec defines, others untouched. */
export interface ParsedManifest {
  schemaVersion?: number;
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** Refuses a manifest write by throwing (see {@link ExtensionContext.manifestValidators}). */
export type ManifestValidator = (write: ManifestWrite) => void | Promise<void>;

export interface ManifestDeletedEvent {
  repo: string;
  digest: string;
  mediaType: string;
  /** The tag removed; a delete by digest emits one event per tag it removed, or one without a tag. */
  tag?: string;
  /** The request that deleted it, when it came through the Distribution API. */
  origin?: RequestOrigin;
}

/** One image a periodic sync run copied or failed to copy (images already up to date emit nothing). */
export interface SyncResultEvent {
  /** The upstream registry's host. */
  upstream: string;
  /** The repository upstream, and the local repository it is stored under. */
  upstreamRepo: string;
  repo: string;
  tag: string;
  status: 'synced' | 'failed';
  /** The manifest digest stored, when synced. */
  digest?: string;
  /** Why it failed (after the configured retries). */
  error?: string;
}

/** One image a scrub pass re-hashed: `affected` when a manifest, config or layer does not match its digest. */
export interface ScrubResultEvent {
  repo: string;
  digest: string;
  /** The tag the image was reached by, if any. */
  reference?: string;
  status: 'ok' | 'affected';
  /** The first blob found damaged or missing, when affected. */
  blob?: string;
}

/**
 * Events extensions emit with `ctx.events.emit`. Each kind begins with the emitting extension's name
 * (`sync.`, `scrub.`): an extension emits only its own. A third-party extension declares its kinds by
 * merging into this interface (`declare module 'berth/extension' { interface ExtensionEventMap { … } }`).
 */
export interface ExtensionEventMap {
  'sync.result': SyncResultEvent;
  'scrub.result': ScrubResultEvent;
}
export type ExtensionEventName = keyof ExtensionEventMap;

export interface RegistryEventMap extends ExtensionEventMap {
  /** Every manifest write, whoever writes: emitted once on the single manifest write path. */
  'manifest.stored': ManifestStoredEvent;
  /** The same event under its API v1 name (every writer, not only pushes); prefer `manifest.stored`. */
  'manifest.pushed': ManifestStoredEvent;
  'manifest.deleted': ManifestDeletedEvent;
  /**
   * The first manifest landed in a repository that had none (on the manifest write path, any writer);
   * emitted before that manifest's `manifest.stored`.
   */
  'repository.created': { repo: string; writer: ManifestWriter; origin?: RequestOrigin };
  'image.pulled': { repo: string; reference: string; digest: string };
  'blob.pulled': { repo: string; digest: string; size: number };
  'blob.committed': { repo: string; digest: string; size: number };
}
export type RegistryEventName = keyof RegistryEventMap;

/** Typed events; handlers run after the response is decided and their errors are logged, not thrown. */
export interface RegistryEvents {
  on<E extends RegistryEventName>(event: E, handler: (payload: RegistryEventMap[E]) => void | Promise<void>): void;
  /**
   * Emits one of this extension's own kinds ({@link ExtensionEventMap}) to every subscriber, in this app only.
   * Never waits for handlers; a kind outside the extension's name throws.
   */
  emit<E extends ExtensionEventName>(event: E, payload: ExtensionEventMap[E]): void;
}

export interface UpstreamManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}
export interface UpstreamBlob {
  size?: number;
  stream: Readable;
  /** The byte offset `stream` starts at: the `start` asked for when the upstream honoured it, else 0. */
  offset?: number;
}

/**
 * A source asked, in registration order, when a manifest or blob is missing locally (pull-through).
 * `ns` is the `?ns=` query parameter containerd sends with the upstream registry host. The core keeps one
 * upstream flight per (local repository, digest or tag): concurrent pulls of the same content join it.
 */
export interface ContentSource {
  name: string;
  /** The upstream it asks (a host, for logs and client errors: "upstream <upstream> could not be reached"). */
  readonly upstream?: string;
  matches(repo: string, ns: string | undefined): boolean;
  /**
   * The repository this request's content is stored under locally (e.g. a per-upstream path for `?ns=`
   * requests, so two upstreams' `foo/bar` never collide). Asked of the first matching source; default `repo`.
   */
  localRepository?(repo: string, ns: string | undefined): string;
  /** The manifest by tag or digest, or undefined when the upstream does not have it (or will not serve it). */
  manifest(repo: string, reference: string, accept: string[], ns: string | undefined): Promise<UpstreamManifest | undefined>;
  /**
   * The digest `tag` has upstream now (one HEAD, bounded in time), undefined when the upstream does not
   * know the tag; rejects when the upstream cannot be asked (down, timeout, 5xx). The core calls it to
   * revalidate a cached tag, at most once per {@link tagCheckInterval}; without it cached tags never change.
   */
  manifestDigest?(repo: string, tag: string, accept: string[], ns: string | undefined): Promise<string | undefined>;
  /** Milliseconds a revalidated tag is served without asking upstream again; 0 or unset: on every pull. */
  readonly tagCheckInterval?: number;
  /**
   * The blob as a stream (never a buffer), or undefined when the upstream does not have it. With `start`,
   * the source may ask the upstream for a range and says where its stream starts in `offset`.
   */
  blob(repo: string, digest: string, ns: string | undefined, opts?: { start?: number }): Promise<UpstreamBlob | undefined>;
  /**
   * The blob's size upstream from one HEAD (bounded in time), without fetching it; undefined when the upstream
   * does not have it; rejects when it cannot be asked. A HEAD of an uncached blob asks this, never `blob`.
   */
  blobSize?(repo: string, digest: string, ns: string | undefined): Promise<number | undefined>;
}

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
