/**
 * What a config turns on that this build does not run. berth accepts every Zot key from day one but builds
 * features one at a time; each feature below is a Zot key (or section) that changes behaviour in Zot, with the
 * key paths a config sets it at. `inactiveKeys` lists those whose feature id is not built (core/builtins.ts
 * BUILT_FEATURES): `berth verify` prints them and start-up warns once per key, in the same words, so neither
 * pretends. Features marked `refuses` stop start-up instead: serving without the authentication or policies an
 * operator configured would open the registry to anyone.
 *
 * Keys berth honours at least as strongly as Zot are not listed: `commit` (berth always fsyncs), `compat`
 * (Docker schema 2 is always accepted), sync's `preserveDigest` (nothing is ever converted) and `disableHTTP2`
 * (upstreams are always spoken to over HTTP/1.1).
 */
import { formatPath } from './config-error';
import { configuredStores } from './driver-availability';
import type { StoreConfig } from './storage-schema';
import type { BerthConfig } from './schema';

/** The wording shared by `berth verify` and the start-up warning. */
export const NOT_ACTIVE = 'accepted, not active in this build';

interface Feature {
  /** Refuse to start rather than run without it. */
  refuses?: boolean;
  /** What berth does instead, for the operator. */
  note?: string;
  /** Key paths (as written in the config) where it is configured and enabled; empty = not in use. */
  at(config: BerthConfig): string[];
}

export interface InactiveKey {
  feature: FeatureId;
  /** The key path as the config writes it, e.g. `storage.retention.policies[0].deleteReferrers`. */
  key: string;
  note?: string;
  refuses: boolean;
}

const when = (on: boolean, key: string): string[] => (on ? [key] : []);
const path = (...segments: PropertyKey[]) => formatPath(segments);

function syncRegistries(config: BerthConfig) {
  const sync = config.extensions?.sync;
  return sync?.enable ? sync.registries.map((reg, i) => ({ reg, at: (key: string) => path('extensions', 'sync', 'registries', i, key) })) : [];
}

function extensionOn(config: BerthConfig, name: 'search' | 'metrics' | 'scrub' | 'lint' | 'ui' | 'trust' | 'events'): string[] {
  const section = config.extensions?.[name] as { enable?: boolean } | undefined;
  return when(section?.enable === true, `extensions.${name}`);
}

/** `keys` of every store, the default store (`storage`) first, then each `subPaths` route. */
function eachStore(config: BerthConfig, keys: (store: StoreConfig, at: PropertyKey[]) => string[]): string[] {
  return configuredStores(config.storage).flatMap(({ store, at }) => keys(store, at));
}

/** Every access-control policy with its key path, the admin policy included. */
function policies(config: BerthConfig) {
  const acl = config.http.accessControl;
  if (!acl) return [];
  return [
    ...Object.entries(acl.repositories).flatMap(([glob, rule]) =>
      rule.policies.map((policy, i) => ({ policy, at: ['http', 'accessControl', 'repositories', glob, 'policies', i] as PropertyKey[] }))),
    ...(acl.adminPolicy ? [{ policy: acl.adminPolicy, at: ['http', 'accessControl', 'adminPolicy'] as PropertyKey[] }] : []),
  ];
}

const FEATURES = {
  // storage: each key where the default store or a subPaths store sets it (every store runs its own settings).
  'storage.dedupe': {
    note: 'each repository keeps its own copy of a blob; only cross-repository mounts share one, by hard link',
    at: (c) => eachStore(c, (s, at) => when(s.dedupe, path(...at, 'dedupe'))),
  },
  'storage.gc': {
    note: 'no unreferenced blob, untagged manifest or stale upload is collected; retention policies do run every gcInterval',
    at: (c) => eachStore(c, (s, at) => when(s.gc, path(...at, 'gc'))),
  },
  'storage.gcTimeWindow': { note: 'retention runs at any time of day', at: (c) => eachStore(c, (s, at) => when(Boolean(s.gcTimeWindow?.trim()), path(...at, 'gcTimeWindow'))) },
  'storage.retention': { at: (c) => eachStore(c, (s, at) => when(s.retention.policies.length > 0, path(...at, 'retention'))) },
  'storage.retention.deleteReferrers': {
    note: 'referrers whose subject is gone are kept',
    at: (c) => eachStore(c, (s, at) => s.retention.policies.flatMap((p, i) => when(p.deleteReferrers, path(...at, 'retention', 'policies', i, 'deleteReferrers')))),
  },
  // Zot ignores a cacheDriver unless remoteCache is on.
  'storage.cacheDriver': {
    note: 'berth keeps its state under storage.rootDirectory',
    at: (c) => when(c.storage.cacheDriver !== undefined && c.storage.remoteCache, 'storage.cacheDriver'),
  },
  // Built for the stores that can presign (s3); this id names the others, whose blobs are served directly.
  'storage.redirectBlobURL': {
    note: 'only the s3 driver presigns; blobs of this store are served directly',
    at: (c) => eachStore(c, (s, at) => when(s.redirectBlobURL && s.storageDriver?.name !== 's3', path(...at, 'redirectBlobURL'))),
  },
  'storage.maxRepos': { note: 'the number of repositories is not limited', at: (c) => eachStore(c, (s, at) => when(s.maxRepos > 0, path(...at, 'maxRepos'))) },
  // Built: the catalog reconcile (the only start-up walk so far) is skipped when version and storage config match.
  'storage.fastRestart': { note: 'every start-up walks the storage in the background', at: (c) => when(c.storage.fastRestart, 'storage.fastRestart') },
  'storage.subPaths': { at: (c) => when(Object.keys(c.storage.subPaths ?? {}).length > 0, 'storage.subPaths') },

  'http.allowOrigin': { note: 'no CORS headers are sent', at: (c) => when(c.http.allowOrigin !== '', 'http.allowOrigin') },
  'http.externalUrl': { note: 'URLs berth hands out are built from each request instead', at: (c) => when(c.http.externalUrl !== '', 'http.externalUrl') },
  'http.ratelimit': { note: 'requests are not rate limited', at: (c) => when(c.http.ratelimit !== undefined, 'http.ratelimit') },
  'http.auth.htpasswd': { refuses: true, at: (c) => when(Boolean(c.http.auth.htpasswd?.path), 'http.auth.htpasswd') },
  'http.auth.ldap': { refuses: true, at: (c) => when(c.http.auth.ldap !== undefined, 'http.auth.ldap') },
  'http.auth.bearer': { refuses: true, at: (c) => when(c.http.auth.bearer !== undefined, 'http.auth.bearer') },
  'http.auth.bearer.awsSecretsManager': {
    note: 'tokens are verified with bearer.cert only',
    at: (c) => when(c.http.auth.bearer?.awsSecretsManager !== undefined, 'http.auth.bearer.awsSecretsManager'),
  },
  'http.auth.bearer.oidc': { note: 'workload identity tokens are refused', at: (c) => when((c.http.auth.bearer?.oidc?.length ?? 0) > 0, 'http.auth.bearer.oidc') },
  'http.auth.bearer.upstreamTokenEndpoint': {
    note: 'token requests are not proxied',
    at: (c) => when(c.http.auth.bearer?.upstreamTokenEndpoint !== undefined, 'http.auth.bearer.upstreamTokenEndpoint'),
  },
  'http.auth.openid': { refuses: true, at: (c) => when(Object.values(c.http.auth.openid?.providers ?? {}).some(Boolean), 'http.auth.openid') },
  'http.auth.apikey': { refuses: true, at: (c) => when(c.http.auth.apikey, 'http.auth.apikey') },
  // A CA in http.tls already means "verify client certificates", even without an auth.mtls block.
  'http.auth.mtls': {
    refuses: true,
    at: (c) => (c.http.auth.mtls ? ['http.auth.mtls'] : when(Boolean(c.http.tls?.cert && c.http.tls.key && c.http.tls.cacert), 'http.tls.cacert')),
  },
  // Browser sessions for zui run (secureSession applies); their key and revocations live in the MetaStore.
  'http.auth.sessions': {
    note: "session cookies are signed with a key in the MetaStore and ended there: berth reads no key file and needs no session store",
    at: (c) => {
      const auth = c.http.auth;
      return [
        ...when(Boolean(auth.sessionKeysFile), 'http.auth.sessionKeysFile'),
        ...when(auth.sessionDriver !== undefined, 'http.auth.sessionDriver'),
      ];
    },
  },
  'http.accessControl': { refuses: true, at: (c) => when(c.http.accessControl !== undefined, 'http.accessControl') },
  // Withheld rather than ignored: a policy with conditions grants nothing (fails closed), so berth still starts.
  'http.accessControl.conditions': {
    note: 'a policy with conditions grants nothing',
    at: (c) => policies(c).flatMap(({ policy, at }) => when(policy.conditions.length > 0, path(...at, 'conditions'))),
  },
  'http.accessControl.detectManifestCollision': {
    note: 'not enforced: the action is ignored',
    at: (c) => policies(c).flatMap(({ policy, at }) => {
      const i = policy.actions.indexOf('detectManifestCollision');
      return when(i >= 0, path(...at, 'actions', i));
    }),
  },
  'http.accessControl.metrics': { note: 'there is no metrics route', at: (c) => when(c.http.accessControl?.metrics !== undefined, 'http.accessControl.metrics') },

  'extensions.sync': { at: (c) => when(c.extensions?.sync?.enable === true, 'extensions.sync') },
  'extensions.sync.downloadDir': {
    note: 'pull-through blobs are spooled under storage.rootDirectory/_berth/spool',
    at: (c) => when(c.extensions?.sync?.enable === true && Boolean(c.extensions.sync.downloadDir), 'extensions.sync.downloadDir'),
  },
  'extensions.sync.reqPerSec': { note: 'upstream requests are not rate limited', at: (c) => syncRegistries(c).flatMap(({ reg, at }) => when(reg.reqPerSec !== undefined, at('reqPerSec'))) },
  'extensions.sync.credentialHelper': {
    note: 'upstream credentials come from credentialsFile only',
    at: (c) => syncRegistries(c).flatMap(({ reg, at }) => [
      ...when(reg.credentialHelper !== '', at('credentialHelper')),
      ...when(reg.oauth2CredentialHelper !== undefined, at('oauth2CredentialHelper')),
    ]),
  },
  'extensions.sync.responseHeaderTimeout': {
    note: 'on-demand pulls use idle timeouts',
    at: (c) => syncRegistries(c).flatMap(({ reg, at }) => when(reg.responseHeaderTimeout !== undefined, at('responseHeaderTimeout'))),
  },
  'extensions.search': { note: 'no /v2/_zot/ext/search route', at: (c) => extensionOn(c, 'search') },
  // Trivy's database cannot be downloaded here: CVE queries and fields answer that scanning is not available.
  'extensions.search.cve': {
    note: 'no vulnerability database: CVE queries and fields answer that scanning is not available',
    at: (c) => when(c.extensions?.search?.enable === true && c.extensions.search.cve !== undefined, 'extensions.search.cve'),
  },
  'extensions.metrics': { note: 'no metrics route', at: (c) => extensionOn(c, 'metrics') },
  'extensions.scrub': { note: 'blobs are not re-verified in the background', at: (c) => extensionOn(c, 'scrub') },
  'extensions.lint': { note: 'manifests are not checked for mandatory annotations', at: (c) => extensionOn(c, 'lint') },
  'extensions.ui': { note: 'no web UI', at: (c) => extensionOn(c, 'ui') },
  'extensions.trust': { note: 'signatures are not verified', at: (c) => extensionOn(c, 'trust') },
  'extensions.events': { at: (c) => extensionOn(c, 'events') },
  // Zot itself ignores these two legacy blocks (with a warning).
  'extensions.mgmt': { note: 'ignored by Zot too', at: (c) => when(c.extensions?.mgmt !== undefined, 'extensions.mgmt') },
  'extensions.apikey': { note: 'ignored by Zot too; API keys are http.auth.apikey', at: (c) => when(c.extensions?.apikey !== undefined, 'extensions.apikey') },

  // Built: members share storage and the MetaStore, so none proxies (core/config/cluster.ts); without it each
  // member would serve alone.
  cluster: { note: 'each member serves alone; requests are not routed to a repository\'s owner', at: (c) => when(c.cluster !== undefined, 'cluster') },
  'scheduler.numWorkers': { note: 'berth has no worker pool to size', at: (c) => when(c.scheduler !== undefined, 'scheduler.numWorkers') },
} satisfies Record<string, Feature>;

export type FeatureId = keyof typeof FEATURES;

export const FEATURE_IDS = Object.keys(FEATURES) as FeatureId[];

/** Keys the config sets whose feature is not in `built`, in the order of the table above. */
export function inactiveKeys(config: BerthConfig, built: ReadonlySet<string>): InactiveKey[] {
  return FEATURE_IDS.filter((id) => !built.has(id)).flatMap((id) => {
    const feature: Feature = FEATURES[id];
    return feature.at(config).map((key) => ({ feature: id, key, refuses: feature.refuses === true, ...(feature.note ? { note: feature.note } : {}) }));
  });
}

/** Key paths of configured features that are not in `built` (the keys of {@link inactiveKeys}). */
export function configuredButUnbuilt(config: BerthConfig, built: ReadonlySet<string>): string[] {
  return inactiveKeys(config, built).map((k) => k.key);
}

/** `<key>: accepted, not active in this build (<note>)`, the line verify prints. */
export function describeInactive(k: InactiveKey): string {
  return `${k.key}: ${NOT_ACTIVE}${k.note ? ` (${k.note})` : ''}`;
}

/** The start-up error lines for inactive features that refuse to start; empty = none. */
export function refusedFeatures(inactive: InactiveKey[]): string[] {
  return inactive
    .filter((k) => k.refuses)
    .map((k) => `${k.key}: ${NOT_ACTIVE}; berth refuses to serve without the access control you configured`);
}
