/**
 * What search keeps about each repository in the MetaStore (`kv('search')`), as plain JSON. Manifests are
 * addressed by digest and never change, so a re-index reuses what it already read and only reads new ones.
 */

export interface PlatformMeta {
  os: string;
  /** `arch` or `arch/variant`, as Zot shows it. */
  arch: string;
}

export interface LayerMeta {
  digest: string;
  size: number;
}

export interface HistoryMeta {
  created?: string;
  createdBy?: string;
  author?: string;
  comment?: string;
  emptyLayer: boolean;
}

/** One manifest of a repository (an image manifest, an index, or an artifact such as a signature). */
export interface ManifestMeta {
  digest: string;
  mediaType: string;
  /** The manifest's own bytes. */
  size: number;
  artifactType?: string;
  annotations: Record<string, string>;
  /** The digest this manifest refers to (`subject`): it is a referrer of that manifest. */
  subject?: string;
  /** When this berth first indexed it (ms); the closest thing to Zot's push time for content written before search. */
  pushedAt: number;
  /** Image manifests: the config and layers. */
  config?: { digest: string; size: number; mediaType: string };
  layers?: LayerMeta[];
  platform?: PlatformMeta;
  /** The config's `created` (RFC 3339), when it has one. */
  created?: string;
  labels?: Record<string, string>;
  history?: HistoryMeta[];
  /** Indexes: the child manifests they list. */
  children?: Array<{ digest: string; platform?: PlatformMeta }>;
}

export interface TagMeta {
  digest: string;
  taggedAt: number;
}

/** `repo/<name>`: everything about one repository. */
export interface RepoRecord {
  name: string;
  tags: Record<string, TagMeta>;
  manifests: Record<string, ManifestMeta>;
}

/**
 * `stats/<name>`: what changes on reads and user actions rather than on writes (kept apart from the record so
 * a pull never rewrites the repository's metadata).
 */
export interface RepoStats {
  /** Per manifest digest: pulls and the last pull (ms). */
  downloads: Record<string, { count: number; last: number }>;
  /** Users who starred the repository. */
  stars: string[];
}

/** `user/<name>`: one user's stars and bookmarks. */
export interface UserPrefs {
  stars: string[];
  bookmarks: string[];
}

export const emptyStats = (): RepoStats => ({ downloads: {}, stars: [] });
export const emptyPrefs = (): UserPrefs => ({ stars: [], bookmarks: [] });
