/**
 * Zot's fatal combinations that span sections (validateConfiguration in Zot's cli/server/root.go).
 * Each issue points at the key to change.
 */
import type { z } from 'zod';
import { onlyAnonymousPolicies } from './access-control-schema';
import { basicAuthEnabled } from './auth-schema';
import { isClustered, unsharedState } from './cluster';
import type { ClusterConfig } from './cluster-schema';
import { configuredStorageDrivers, configuredStores } from './driver-availability';
import { CACHE_DRIVERS, isZotStorageDriver } from './driver-schema';
import { type ExtensionsConfig, thirdPartyExtensions } from './extensions-schema';
import type { HttpConfig } from './http-schema';
import type { StorageConfig } from './storage-schema';

interface Sections {
  storage: StorageConfig;
  http: HttpConfig;
  extensions?: ExtensionsConfig | undefined;
  cluster?: ClusterConfig | undefined;
}

export function checkAcrossSections(config: Sections, ctx: z.RefinementCtx): void {
  const fail = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const { storage, http, extensions, cluster } = config;
  const cloud = storage.storageDriver !== undefined || Object.values(storage.subPaths ?? {}).some((s) => s.storageDriver);

  // Zot accepts only its own driver names. berth also accepts another name when the config loads a third-party
  // extension, which may register that kind (storageDrivers.add); whether one did is checked at start-up.
  const modules = thirdPartyExtensions(extensions).some((ext) => ext.config.enable !== false);
  for (const driver of configuredStorageDrivers(config)) {
    if (!isZotStorageDriver(driver.name) && !modules) {
      fail(driver.at, `unsupported storage driver ${JSON.stringify(driver.name)} (expected s3, gcs or azure, or a kind that a third-party extension in extensions.<name>.module registers)`);
    }
  }

  for (const { at, store } of configuredStores(storage)) {
    const cache = store.cacheDriver;
    if (cache && store.remoteCache && !(CACHE_DRIVERS as readonly string[]).includes(cache.name) && !modules) {
      fail([...at, 'cacheDriver', 'name'], `unsupported cache driver ${JSON.stringify(cache.name)} (expected redis or dynamodb, or a kind that a third-party extension in extensions.<name>.module registers)`);
    }
  }

  // Zot proxies each repository to one owner; berth has no owner, so its members must share everything.
  if (isClustered(cluster)) for (const reason of unsharedState(storage)) fail(['cluster'], reason);

  const searchOn = extensions?.search?.enable === true;
  if (extensions?.ui?.enable && !searchOn) fail(['extensions', 'ui', 'enable'], 'the ui extension needs the search extension enabled');
  if (searchOn && extensions?.search?.cve && cloud) {
    fail(['extensions', 'search', 'cve'], 'CVE scanning does not work with a cloud storageDriver; remove cve');
  }

  // Zot demands downloadDir with a cloud storageDriver; berth does not: fills spool on the local disk under
  // storage.rootDirectory/_berth/spool whatever the store, and commit the verified blob to the store.
  const sync = extensions?.sync;
  sync?.registries.forEach((reg, i) => {
    if (reg.preserveDigest && http.compat.length === 0) {
      fail(['extensions', 'sync', 'registries', i, 'preserveDigest'], 'needs http.compat (e.g. ["docker2s2"])');
    }
  });

  const auth = http.auth;
  const tls = http.tls;
  const clientCerts = Boolean(tls?.cert && tls.key && tls.cacert);
  if (auth.mtls && !clientCerts) fail(['http', 'auth', 'mtls'], 'needs http.tls with cert, key and cacert');

  const acl = http.accessControl;
  if (acl) {
    // Zot's mTLS counts as the authentication only when nothing else authenticates and no anonymous rule exists.
    const anonymousRules = Object.values(acl.repositories).some((r) => r.anonymousPolicy.length > 0);
    const mtlsAuth = clientCerts && !basicAuthEnabled(auth) && !anonymousRules;
    const bearer = auth.bearer !== undefined;
    if (!basicAuthEnabled(auth) && !mtlsAuth && !bearer && !onlyAnonymousPolicies(acl)) {
      fail(['http', 'accessControl'], 'needs an authentication method (htpasswd, ldap, openid, bearer, apikey or mTLS) unless it only has anonymousPolicy rules');
    }
  }
}
