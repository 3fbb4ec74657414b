import type { Build } from './config/summary';
import type { Extension } from './extensions/api';
import filesystemDriver from '../storage-drivers/filesystem';
import s3Driver from '../storage-drivers/s3';
import sqliteMetaStore from '../storage-drivers/metadata/sqlite';
import dynamoMetaStore from '../storage-drivers/metadata/dynamodb';
import redisMetaStore from '../storage-drivers/metadata/redis';
import searchExtension from '../extensions/search';
import syncExtension from '../extensions/sync';
import lintExtension from '../extensions/lint';
import scrubExtension from '../extensions/scrub';
import metricsExtension from '../extensions/metrics';
import eventsExtension from '../extensions/events';
import apikeyAuth from '../auth-providers/apikey';
import bearerAuth from '../auth-providers/bearer';
import htpasswdAuth from '../auth-providers/htpasswd';
import ldapAuth from '../auth-providers/ldap';
import mtlsAuth from '../auth-providers/mtls';

/**
 * A built-in module, loaded through the same extension API third parties use. `configKey` names its Zot
 * section under `extensions` (e.g. 'sync'): it is loaded only when that section is present and enabled,
 * and receives the section (already validated by the Zot schema) as its config.
 */
export interface BuiltinModule {
  extension: Extension<unknown>;
  configKey?: string;
}

export const BUILTIN_MODULES: BuiltinModule[] = [
  { extension: filesystemDriver as Extension<unknown> },
  { extension: s3Driver as Extension<unknown> },
  { extension: sqliteMetaStore as Extension<unknown> },
  { extension: dynamoMetaStore as Extension<unknown> },
  { extension: redisMetaStore as Extension<unknown> },
  // Authentication methods: always registered; core/auth builds the ones http.auth configures.
  ...[htpasswdAuth, ldapAuth, apikeyAuth, bearerAuth, mtlsAuth].map((extension) => ({ extension: extension as Extension<unknown> })),
  { extension: syncExtension as Extension<unknown>, configKey: 'sync' },
  { extension: lintExtension as Extension<unknown>, configKey: 'lint' },
  { extension: scrubExtension as Extension<unknown>, configKey: 'scrub' },
  { extension: metricsExtension as Extension<unknown>, configKey: 'metrics' },
  { extension: searchExtension as Extension<unknown>, configKey: 'search' },
  { extension: eventsExtension as Extension<unknown>, configKey: 'events' },
];

/**
 * Config features that are built (ids from core/config/unbuilt-features.ts); every other configured feature is
 * named "accepted, not active in this build" by `berth verify` and in a start-up warning. Add an id here in the
 * commit that makes its key work.
 */
export const BUILT_FEATURES: ReadonlySet<string> = new Set<string>([
  'http.auth.htpasswd', 'http.auth.ldap', 'http.auth.bearer', 'http.auth.apikey', 'http.auth.mtls', 'http.accessControl',
  'http.accessControl.metrics', 'extensions.sync', 'extensions.search', 'extensions.lint', 'extensions.scrub', 'extensions.metrics', 'extensions.events', 'storage.retention', 'storage.maxRepos', 'storage.subPaths', 'storage.fastRestart', 'storage.dedupe',
  'storage.gc', 'storage.gcTimeWindow',
  'http.externalUrl', // the token service's realm (OpenID, its other user, refuses to start on its own)
  // Never accepted and ignored: a registered MetaStore kind serves it, an unregistered one refuses to start.
  'storage.cacheDriver',
  // Every member serves every repository; a cluster whose members would not share their state refuses to start.
  'cluster',
]);

/**
 * The storage driver kinds BUILTIN_MODULES register (test/config/builtins.test.ts keeps the two in step), so
 * `berth verify` knows, without starting anything, that a config naming another kind would be refused.
 */
export const BUILT_STORAGE_DRIVERS: ReadonlySet<string> = new Set<string>(['filesystem', 's3']);

/** The MetaStore kinds BUILTIN_MODULES register (kept in step by the same test). */
export const BUILT_META_STORES: ReadonlySet<string> = new Set<string>(['sqlite', 'redis', 'dynamodb']);

/** What this build runs, as `berth verify` judges a config. */
export const BUILD: Build = { features: BUILT_FEATURES, storageDrivers: BUILT_STORAGE_DRIVERS, metaStores: BUILT_META_STORES };
