/** Symbol tokens for every service in an app's container; nothing relies on design:paramtypes. */
export const TOKENS = {
  Config: Symbol('berth.Config'),
  Logger: Symbol('berth.Logger'),
  Metrics: Symbol('berth.Metrics'),
  /** Every configured store and which one serves a repository (core/registry/stores.ts). */
  Stores: Symbol('berth.Stores'),
  MetaStore: Symbol('berth.MetaStore'),
  AccessTimes: Symbol('berth.AccessTimes'),
  RepoLocks: Symbol('berth.RepoLocks'),
  /** Records of the start-up walks, for storage.fastRestart (core/registry/startup-walks.ts). */
  StartupWalks: Symbol('berth.StartupWalks'),
  Events: Symbol('berth.Events'),
  ContentSources: Symbol('berth.ContentSources'),
  RegistryOptions: Symbol('berth.RegistryOptions'),
  Catalog: Symbol('berth.Catalog'),
  RepoStore: Symbol('berth.RepoStore'),
  BlobStore: Symbol('berth.BlobStore'),
  BlobArrivals: Symbol('berth.BlobArrivals'),
  Dedupe: Symbol('berth.Dedupe'),
  DedupePass: Symbol('berth.DedupePass'),
  UploadStore: Symbol('berth.UploadStore'),
  ManifestStore: Symbol('berth.ManifestStore'),
  PullThrough: Symbol('berth.PullThrough'),
  Registry: Symbol('berth.Registry'),
  GarbageCollector: Symbol('berth.GarbageCollector'),
  Authenticators: Symbol('berth.Authenticators'),
  ExtensionHost: Symbol('berth.ExtensionHost'),
  /** The extensions' manifest validators, run on the manifest write path (core/extensions/manifest-validators.ts). */
  ManifestValidators: Symbol('berth.ManifestValidators'),
  AccessControl: Symbol('berth.AccessControl'),
} as const;
