/** Config loading for berth: Zot's config.json (or YAML), validated once, handed out in typed slices. */
export { ConfigError, formatPath } from './config-error';
export { DurationError, formatDuration, parseGoDuration } from './duration';
export { loadConfigFile, parseConfig } from './load';
export { rootSchema, DIST_SPEC_VERSION, type BerthConfig } from './schema';
export { configuredButUnbuilt, describeInactive, FEATURE_IDS, inactiveKeys, NOT_ACTIVE, refusedFeatures, type FeatureId, type InactiveKey } from './unbuilt-features';
export { configuredStorageDrivers, unavailableStorageDrivers } from './driver-availability';
export { describeConfig, startupRefusals, type Build } from './summary';
export { changesNeedingRestart } from './reload-scope';
export { thirdPartyExtensions, BUILTIN_EXTENSIONS, type ExtensionsConfig, type ThirdPartyExtensionConfig } from './extensions-schema';
export type { StorageConfig, StoreConfig } from './storage-schema';
export type { HttpConfig, TlsConfig } from './http-schema';
export type { AuthConfig } from './auth-schema';
export type { AccessControlConfig } from './access-control-schema';
export type { LogConfig, LogLevel } from './log-schema';
export type { SyncConfig, SyncRegistryConfig } from '../../extensions/sync/schema';
export type { ClusterConfig, SchedulerConfig } from './cluster-schema';
export type { StorageDriverConfig, CacheDriverConfig, SessionDriverConfig } from './driver-schema';
