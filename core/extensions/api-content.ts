/** The extension API's view of stored content and of pull-through sources (see api.ts). */
import type { Readable } from 'node:stream';

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
