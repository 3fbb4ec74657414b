/** The extension API's manifest write checks and registry events (see api.ts). */
import type { Descriptor } from './api-content';

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
