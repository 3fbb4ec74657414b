/**
 * berth accepts every Zot key from day one but builds features one at a time. This lists the sections a config
 * turns on whose feature is not built yet, so the app can warn "configured but not built yet: <key>" instead of
 * silently ignoring them.
 */
import { tlsEnabled } from './http-schema';
import type { BerthConfig } from './schema';
import type { StoreConfig } from './storage-schema';
import { formatPath } from './config-error';

export const FEATURE_IDS = [
  'http.auth.htpasswd',
  'http.auth.ldap',
  'http.auth.bearer',
  'http.auth.openid',
  'http.auth.apikey',
  'http.auth.mtls',
  'http.accessControl',
  'http.ratelimit',
  'storage.storageDriver',
  'storage.cacheDriver',
  'storage.subPaths',
  'storage.retention',
  'extensions.sync',
  'extensions.search',
  'extensions.metrics',
  'extensions.scrub',
  'extensions.lint',
  'extensions.ui',
  'extensions.trust',
  'extensions.events',
  'cluster',
] as const;

export type FeatureId = (typeof FEATURE_IDS)[number];

/** Key paths (as written in the config) that each feature is configured and enabled at; empty = not in use. */
function usedAt(config: BerthConfig, feature: FeatureId): string[] {
  const { storage, http, extensions: ext } = config;
  const auth = http.auth;
  const stores: Array<[PropertyKey[], StoreConfig]> = [
    [['storage'], storage],
    ...Object.entries(storage.subPaths ?? {}).map(([route, s]): [PropertyKey[], StoreConfig] => [['storage', 'subPaths', route], s]),
  ];
  const inStores = (pick: (s: StoreConfig) => boolean, key: string) =>
    stores.filter(([, s]) => pick(s)).map(([at]) => formatPath([...at, key]));
  const when = (on: boolean, key: string) => (on ? [key] : []);
  switch (feature) {
    case 'http.auth.htpasswd': return when(Boolean(auth.htpasswd?.path), feature);
    case 'http.auth.ldap': return when(auth.ldap !== undefined, feature);
    case 'http.auth.bearer': return when(auth.bearer !== undefined, feature);
    case 'http.auth.openid': return when(Object.values(auth.openid?.providers ?? {}).some(Boolean), feature);
    case 'http.auth.apikey': return when(auth.apikey, feature);
    // A CA in http.tls already means "verify client certificates", even without an auth.mtls block.
    case 'http.auth.mtls':
      if (auth.mtls) return [feature];
      return when(tlsEnabled(http.tls) && Boolean(http.tls?.cacert), 'http.tls.cacert');
    case 'http.accessControl': return when(http.accessControl !== undefined, feature);
    case 'http.ratelimit': return when(http.ratelimit !== undefined, feature);
    case 'storage.storageDriver': return inStores((s) => s.storageDriver !== undefined, 'storageDriver');
    // Zot ignores a cacheDriver unless remoteCache is on.
    case 'storage.cacheDriver': return inStores((s) => s.cacheDriver !== undefined && s.remoteCache, 'cacheDriver');
    case 'storage.subPaths': return when(Object.keys(storage.subPaths ?? {}).length > 0, feature);
    case 'storage.retention': return inStores((s) => s.retention.policies.length > 0, 'retention');
    case 'extensions.lint':
    case 'extensions.events':
    case 'extensions.sync':
    case 'extensions.search':
    case 'extensions.metrics':
    case 'extensions.scrub':
    case 'extensions.ui':
    case 'extensions.trust': {
      const name = feature.slice('extensions.'.length) as 'sync';
      const section = ext?.[name] as { enable?: boolean } | undefined;
      return when(section?.enable === true, feature);
    }
    case 'cluster': return when(config.cluster !== undefined, feature);
  }
}

/** Key paths of sections that are configured and enabled but whose feature id is not in `built`. */
export function configuredButUnbuilt(config: BerthConfig, built: ReadonlySet<string>): string[] {
  return FEATURE_IDS.filter((feature) => !built.has(feature)).flatMap((feature) => usedAt(config, feature));
}
