/**
 * The MetaStore: the state berth shares between requests, restarts and replicas that is not image content.
 * The embedded default is SQLite (storage-drivers/metadata/sqlite); remote stores (Redis, DynamoDB) implement
 * the same interface for clusters, registered through `ctx.metaStores.add(kind, factory)`.
 *
 * Rules every implementation follows (the conformance suite, `berth/metastore-conformance`, checks them):
 * - Every method is async and talks only in plain data: no callbacks run inside the store, so a network
 *   store can implement each call as one request or one server-side transaction.
 * - Each single method call is atomic: another replica sees all of its effect or none of it.
 * - Writes that can race between replicas are compare-and-set (a version the caller read) or happen under
 *   a lease; a lost race is a return value (`{ ok: false }`, `undefined`, `false`), never an exception.
 *   Exceptions mean the store itself failed (unreachable, disk full) and change nothing.
 * - A version is an opaque positive integer compared only for equality. Every write gives the record a
 *   version it never had before, so a caller holding an old version can never succeed by coincidence.
 * - Times are milliseconds since the epoch. Lease expiry is judged by the store's clock (for SQLite, the
 *   host's); callers renew well before expiry instead of comparing clocks.
 * - Strings sort by byte order of their UTF-8 form (OCI names are ASCII, so plain code-unit order too).
 * - A resolved write is durable: it survives the process being killed and, for the embedded store, a
 *   power loss.
 */
import type { Logger } from 'pino';

/** The outcome of a compare-and-set: the new record, or the record that is there instead (if any). */
export type CasResult<T> = { ok: true; value: T } | { ok: false; current: T | undefined };

/** A page of keys in byte order: ask again with `after` set to the last key seen. */
export interface PageOptions {
  /** Only keys sorting strictly after this one. */
  after?: string;
  /** At most this many; a store may return fewer only when no more exist. */
  limit: number;
}

export interface MetaStore {
  /** The kind it was registered as (`sqlite`, `redis`, …), for logs. */
  readonly kind: string;
  /**
   * True for a store that other hosts share (Redis, DynamoDB): replicas behind a load balancer continue each
   * other's uploads, so the UploadStore saves each chunk's hash state in the session ({@link
   * UploadSession.hashState}) and no replica reads an upload back to hash it. An embedded store leaves it
   * unset: its uploads are served by one host, hashed by the faster node:crypto.
   */
  readonly shared?: boolean;
  readonly uploads: UploadSessions;
  readonly leases: Leases;
  readonly dedupe: DedupeIndex;
  readonly accessTimes: AccessTimes;
  readonly apiKeys: ApiKeyRecords;
  readonly catalog: CatalogIndex;
  readonly signingKeys: SigningKeys;
  /**
   * The key/value space of one namespace (an extension's name, e.g. `search`). Namespaces never see each
   * other's keys; the core uses names starting with `berth.`.
   */
  kv(namespace: string): KeyValueSpace;
  /**
   * A cheap round trip to the store, optional: `/readyz` calls it (bounded in time, cached briefly) and
   * answers 503 naming the MetaStore while it rejects. A store without it counts as reachable.
   */
  ping?(): Promise<void>;
  /** Releases files or connections. Pending calls complete first; later calls reject. */
  close(): Promise<void>;
}

/** Options every MetaStore factory receives. */
export interface MetaStoreOptions {
  /** `storage.rootDirectory`: where an embedded store keeps its file. */
  rootDirectory: string;
  /** The store's own keys (`storage.cacheDriver` for a remote store, lower-cased as Zot passes them). */
  params: Record<string, unknown>;
  logger: Logger;
}

/** Builds a MetaStore; may reject (unreachable server, unusable file) to stop start-up with the reason. */
export type MetaStoreFactory = (options: MetaStoreOptions) => MetaStore | Promise<MetaStore>;

// ---------------------------------------------------------------------------------------------------------

/** An upload in progress (`POST /v2/<repo>/blobs/uploads/` until the final `PUT`). */
export interface UploadSession {
  /** The upload's id (a UUID the registry made; ids are never reused). */
  id: string;
  repo: string;
  /** The storage-driver path of its scratch object. */
  path: string;
  /** Bytes acknowledged to the client so far. */
  size: number;
  /**
   * The saved state of the running digest at `size` bytes, opaque to the store (a serialized hasher), so
   * any replica can continue hashing without re-reading the upload; absent when none was saved.
   *
   * berth's UploadStore saves it when the store is {@link MetaStore.shared} (hash-wasm's SHA-256 state, 117
   * bytes). On an embedded store it stays unset: node:crypto cannot export a hash state and is seven times
   * faster (1,670 against 240 MiB/s with SHA-NI on the build machine), so the running hash lives in the
   * process that streamed the chunks, and an upload another process continued is hashed once, at the PUT.
   */
  hashState?: Uint8Array;
  createdAt: number;
  updatedAt: number;
  /** Changes on every write; pass it back to {@link UploadSessions.update}. */
  version: number;
}

export type NewUploadSession = Omit<UploadSession, 'version' | 'updatedAt'> & { updatedAt?: number };

/** Upload sessions. Two replicas serving PATCHes of one upload cannot both advance it: updates are CAS. */
export interface UploadSessions {
  /** Records a new session; false (and no change) when the id exists already. */
  create(session: NewUploadSession): Promise<boolean>;
  get(id: string): Promise<UploadSession | undefined>;
  /**
   * Advances a session if its version is still `expectedVersion`. `hashState: undefined` clears a saved
   * state (it belonged to the old size). Fails (`ok: false` with the current session, or undefined when it
   * is gone) when another writer got there first; the caller then answers from `current`.
   */
  update(id: string, expectedVersion: number, change: { size: number; hashState?: Uint8Array; updatedAt?: number }): Promise<CasResult<UploadSession>>;
  /** Deletes a session (finished or cancelled); with `expectedVersion`, only if unchanged. True when deleted. */
  delete(id: string, expectedVersion?: number): Promise<boolean>;
  /** Sessions last updated before `updatedBefore`, oldest first: stale uploads for GC to remove. */
  stale(updatedBefore: number, limit: number): Promise<UploadSession[]>;
}

// ---------------------------------------------------------------------------------------------------------

/** A held lease. `token` is the fencing number: compare it, never the holder, before acting on shared state. */
export interface Lease {
  name: string;
  holder: string;
  /**
   * Grows each time the lease is acquired, by anyone, across releases and expiries; a write guarded by a
   * lease can carry its token so a holder that lost the lease (paused past expiry) is recognised as stale.
   */
  token: number;
  /** When the lease lapses unless renewed, by the store's clock. */
  expiresAt: number;
}

/**
 * Named leases: repository locks across replicas, `scope: 'global'` schedules. A holder that dies holds the
 * lease only until it expires. Holder ids are unique per process (e.g. host, pid and a random part).
 */
export interface Leases {
  /**
   * Takes the lease for `ttlMs` if nobody holds it or the last holder's lease has expired; undefined when
   * it is held (by anyone, `holder` included: a holder extends with {@link renew}). Atomic: of many replicas
   * asking at once, exactly one gets it. `ttlMs` must be a positive number; anything else rejects.
   */
  acquire(name: string, holder: string, ttlMs: number): Promise<Lease | undefined>;
  /**
   * Extends a lease still held by `holder` with `token` to `ttlMs` from now. False once it has expired
   * (even if nobody took it since) or was released: the holder must stop and acquire again.
   */
  renew(name: string, holder: string, token: number, ttlMs: number): Promise<boolean>;
  /** Gives up the lease if `holder` still holds it with `token`; true when it did. */
  release(name: string, holder: string, token: number): Promise<boolean>;
  /** The live lease, if any (an expired one is reported as undefined). */
  get(name: string): Promise<Lease | undefined>;
}

// ---------------------------------------------------------------------------------------------------------

/**
 * The dedupe index: which locations (storage paths, e.g. `<repo>/blobs/sha256/<hex>`) hold a blob. The
 * reference count is the number of distinct locations; the first location recorded is the original (the
 * copy holding the bytes, as Zot's cache records it), the others point at it.
 */
export interface DedupeIndex {
  /** Records a location; adding one already there changes nothing. Returns the digest's count after. */
  add(digest: string, location: string): Promise<number>;
  /** Forgets a location; a missing one changes nothing. Returns the count after (0: no location is left). */
  remove(digest: string, location: string): Promise<number>;
  /** The locations in the order they were first added: `[0]` is the original. */
  locations(digest: string): Promise<string[]>;
  count(digest: string): Promise<number>;
  /** Digests in byte order, for reconcile and GC passes over the whole index. */
  digests(page: PageOptions): Promise<string[]>;
}

// ---------------------------------------------------------------------------------------------------------

/**
 * When content was last pulled or pushed, for retention and the sync TTL. `kind` says what `subject` is:
 * `pulled` is per digest, `pushed` per `<repo>@<digest>` (or `<repo>:<tag>`); subjects are opaque strings.
 */
export type AccessKind = 'pulled' | 'pushed';

export interface AccessTimes {
  /** Records times in one atomic step; a time never moves back (an older `at` than the stored one is ignored). */
  record(kind: AccessKind, entries: ReadonlyArray<{ subject: string; at: number }>): Promise<void>;
  get(kind: AccessKind, subject: string): Promise<number | undefined>;
  /** The recorded ones among `subjects` (missing ones are absent from the map). */
  getMany(kind: AccessKind, subjects: readonly string[]): Promise<Map<string, number>>;
  /** Forgets subjects (deleted content). */
  forget(kind: AccessKind, subjects: readonly string[]): Promise<void>;
  /** Every recorded time, by subject in byte order, a page at a time. */
  page(kind: AccessKind, page: PageOptions): Promise<Array<{ subject: string; at: number }>>;
}

// ---------------------------------------------------------------------------------------------------------

/** An API key as stored: never the key itself, only its SHA-256 (hex), which is unique. */
export interface ApiKeyRecord {
  uuid: string;
  user: string;
  /** The identity's groups when the key was made. */
  groups: string[];
  hash: string;
  label: string;
  scopes: string[];
  /** ISO-8601. */
  createdAt: string;
  /** ISO-8601, or null for a key that never expires. */
  expirationDate: string | null;
  creatorUa: string;
  /** ISO-8601 of the last successful use, if recorded. */
  lastUsed?: string;
}

export interface ApiKeyRecords {
  /** Inserts or replaces the record with this uuid; rejects if another uuid already has this hash. */
  put(record: ApiKeyRecord): Promise<void>;
  getByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** The user's keys, oldest first. */
  listByUser(user: string): Promise<ApiKeyRecord[]>;
  /** Deletes the user's key with this uuid; false when the user has none such. */
  delete(user: string, uuid: string): Promise<boolean>;
  /**
   * Sets `lastUsed` of the key with this uuid if it still exists (false when not): unlike a `put` of a record
   * read earlier, it never brings back a key another replica deleted meanwhile.
   */
  markUsed(uuid: string, lastUsed: string): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------------------

/** The repository names, kept sorted so `GET /v2/_catalog?n=&last=` is one range read at any size. */
export interface CatalogIndex {
  /** True when the repository was not listed before. */
  add(repo: string): Promise<boolean>;
  /**
   * Lists many in one atomic step (a start-up reconcile adds thousands: one durable commit, not one each);
   * returns how many were not listed before.
   */
  addMany(repos: readonly string[]): Promise<number>;
  /** True when it was listed. */
  remove(repo: string): Promise<boolean>;
  /** Up to `n` names sorting after `last` (all from the start without it), in byte order; n = 0 gives []. */
  page(n: number, last?: string): Promise<string[]>;
  count(): Promise<number>;
}

// ---------------------------------------------------------------------------------------------------------

/** Secrets every replica must agree on, such as the token service's signing key. */
export interface SigningKeys {
  /**
   * The key stored under `name`; when there is none, stores `candidate` and returns it. Atomic: replicas
   * starting at once each pass their own candidate and all get the same winner back.
   */
  getOrCreate(name: string, candidate: Uint8Array): Promise<Uint8Array>;
  get(name: string): Promise<Uint8Array | undefined>;
}

// ---------------------------------------------------------------------------------------------------------

export interface KvEntry {
  key: string;
  value: Uint8Array;
  version: number;
}

/** One namespace's keys (search indexes, user preferences). Values are opaque bytes (JSON, say). */
export interface KeyValueSpace {
  get(key: string): Promise<KvEntry | undefined>;
  /** Writes unconditionally; returns the new version. */
  put(key: string, value: Uint8Array): Promise<number>;
  /**
   * Writes if the key's version is still `expectedVersion`, or if the key is absent when it is `undefined`;
   * otherwise nothing changes and `current` is what is there.
   */
  compareAndSet(key: string, expectedVersion: number | undefined, value: Uint8Array): Promise<CasResult<KvEntry>>;
  /** Deletes the key (with `expectedVersion`, only if unchanged); true when something was deleted. */
  delete(key: string, expectedVersion?: number): Promise<boolean>;
  /** Entries whose keys start with `prefix`, in byte order, a page at a time. */
  list(prefix: string, page: PageOptions): Promise<KvEntry[]>;
}
