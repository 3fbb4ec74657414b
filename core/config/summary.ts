/**
 * `berth verify` prints what a valid config would run, one line per concern. A line either says what runs or names
 * a key as "accepted, not active in this build" (from unbuilt-features.ts, the list start-up warns with), so the
 * summary never describes a feature that will not run. Secrets never appear: passwords, keys and tokens are not
 * read here, and URLs lose any `user:password@` part.
 */
import { describeCluster } from './cluster';
import { unavailableStorageDrivers } from './driver-availability';
import { EMBEDDED_META_STORE, metaStoreChoice, unavailableMetaStores } from '../metastore/open-meta-store';
import { formatDuration } from './duration';
import { thirdPartyExtensions } from './extensions-schema';
import { tlsEnabled } from './http-schema';
import type { BerthConfig } from './schema';
import { isMatchableRoute, type StoreConfig } from './storage-schema';
import { describeInactive, type FeatureId, inactiveKeys, type InactiveKey, refusedFeatures } from './unbuilt-features';

/** What this build can run: feature ids (core/builtins.ts BUILT_FEATURES) and registered storage driver kinds. */
export interface Build {
  features: ReadonlySet<string>;
  storageDrivers: ReadonlySet<string>;
  /** The MetaStore kinds built in (a `cacheDriver` naming another refuses to start). */
  metaStores: ReadonlySet<string>;
}

export function describeConfig(config: BerthConfig, build: Build): string[] {
  const inactive = inactiveKeys(config, build.features);
  const on = (id: FeatureId) => build.features.has(id);
  // Each section prints the inactive keys under its prefixes; the table's order is kept within a section.
  const shown = new Set<InactiveKey>();
  const marked = (...prefixes: string[]) =>
    inactive
      .filter((k) => !shown.has(k) && prefixes.some((p) => k.key === p || k.key.startsWith(`${p}.`) || k.key.startsWith(`${p}[`)))
      .map((k) => (shown.add(k), `  ${describeInactive(k)}`));
  const lines = [
    ...describeListener(config, on),
    ...marked('http.allowOrigin', 'http.externalUrl', 'http.ratelimit'),
    ...describeStore(config, build, on),
    ...marked('storage'),
    describeLog(config),
    ...describeAuth(config, on),
    ...marked('http'),
    ...describeExtensions(config, on),
    ...marked('extensions'),
    ...(on('cluster') ? describeCluster(config.cluster) : []),
    ...marked('cluster', 'scheduler'),
  ];
  return [...lines, ...inactive.filter((k) => !shown.has(k)).map((k) => `  ${describeInactive(k)}`)];
}

/**
 * Why `berth serve` would refuse this config in this build (empty = it would start). With third-party modules
 * configured, a storage driver kind that is not built in may still be registered by one; that is only known
 * once they load, so verify leaves it to start-up.
 */
export function startupRefusals(config: BerthConfig, build: Build): string[] {
  return [
    ...refusedFeatures(inactiveKeys(config, build.features)),
    ...(loadsModules(config) ? [] : unavailableStorageDrivers(config, build.storageDrivers)),
    ...(loadsModules(config) ? [] : unavailableMetaStores(config.storage, build.metaStores)),
  ];
}

function loadsModules(config: BerthConfig): boolean {
  return thirdPartyExtensions(config.extensions).some((ext) => ext.config.enable !== false);
}

type On = (id: FeatureId) => boolean;

function describeListener(config: BerthConfig, on: On): string[] {
  const { http } = config;
  const tls = tlsEnabled(http.tls);
  const lines = [`listen: ${http.address}:${http.port === '0' ? '0 (any free port)' : http.port} over ${tls ? 'HTTPS' : 'plain HTTP'}`];
  if (tls && http.tls?.cacert && on('http.auth.mtls')) lines.push(`tls: client certificates verified against ${http.tls.cacert}`);
  if (http.externalUrl && on('http.externalUrl')) lines.push(`external URL: ${redactUrl(http.externalUrl)}`);
  if (http.ratelimit && on('http.ratelimit')) {
    const methods = http.ratelimit.methods.map((m) => `${m.method} ${m.rate}/s`);
    lines.push(`rate limit per client IP: ${[http.ratelimit.rate ? `${http.ratelimit.rate}/s` : undefined, ...methods].filter(Boolean).join(', ')}`);
  }
  lines.push('docker schema 2 manifests and manifest lists: accepted (with or without http.compat)');
  return lines;
}

function describeStore(config: BerthConfig, build: Build, on: On): string[] {
  const store = config.storage;
  const lines = [`storage: ${store.rootDirectory || '(no local root)'} (${driverWhere(config, build, store)})`];
  if (!store.storageDriver) lines.push('  every write fsynced before it is acknowledged (whatever storage.commit says)');
  const meta = metaStoreChoice(store);
  const metaNote = build.metaStores.has(meta.kind) ? '' : loadsModules(config) ? ': not built in; a third-party extension must register it' : ': not available in this build';
  lines.push(...storeSettings(store, on, '  '));
  lines.push(`  cache and metadata: ${meta.kind === EMBEDDED_META_STORE ? `embedded SQLite (${store.rootDirectory}/_berth/berth.db)` : `${meta.kind} (remote)`}${metaNote}`);
  if (store.fastRestart && on('storage.fastRestart')) lines.push('  fastRestart: the start-up walk is skipped while version and storage config stay the same');
  if (!on('storage.subPaths')) return lines;
  for (const [route, sub] of Object.entries(store.subPaths ?? {})) {
    if (!isMatchableRoute(route)) {
      lines.push(`  subPaths ${JSON.stringify(route)}: never matches a repository name (a route is "/" and one name segment); not served`);
      continue;
    }
    lines.push(`  subPaths ${JSON.stringify(route)}: repositories ${route.slice(1)}/… from ${sub.rootDirectory || '(no local root)'} (${driverWhere(config, build, sub)})`);
    lines.push(...storeSettings(sub, on, '    '));
  }
  return lines;
}

function driverWhere(config: BerthConfig, build: Build, store: StoreConfig): string {
  const driver = store.storageDriver;
  if (!driver) return 'local filesystem';
  const target = `${driver.name} ${driver.bucket ?? driver.container ?? ''}${driver.rootdirectory ? ` prefix ${driver.rootdirectory}` : ''}`.replace(/\s+/g, ' ').trim();
  if (build.storageDrivers.has(driver.name)) return target;
  return `${target}: ${loadsModules(config) ? 'not built in; a third-party extension must register it' : 'driver not available in this build'}`;
}

/** What one store's own settings turn on (the default store's or a subPaths route's). */
function storeSettings(store: StoreConfig, on: On, indent: string): string[] {
  const lines: string[] = [];
  if (store.dedupe && on('storage.dedupe')) lines.push('dedupe on');
  if (store.gc && on('storage.gc')) {
    lines.push(store.gcInterval > 0
      ? `gc every ${formatDuration(store.gcInterval)} (blobs older than ${formatDuration(store.gcDelay)})${store.gcTimeWindow && on('storage.gcTimeWindow') ? ` within ${store.gcTimeWindow} UTC` : ''}`
      : 'gc on, never run (gcInterval is 0)');
  }
  const policies = store.retention.policies.length;
  if (policies > 0 && on('storage.retention')) {
    const count = `${policies} polic${policies === 1 ? 'y' : 'ies'}`;
    // As in Zot, retention runs only as part of GC.
    const when = !store.gc ? 'never run (storage.gc is false)' : store.gcInterval > 0 ? `every ${formatDuration(store.gcInterval)}` : 'never run (gcInterval is 0)';
    lines.push(`retention: ${count}, ${when}${store.retention.dryRun ? ' (dry run: logs, deletes nothing)' : ''}`);
  }
  if (store.maxRepos > 0 && on('storage.maxRepos')) lines.push(`at most ${store.maxRepos} repositories`);
  if (store.redirectBlobURL && on('storage.redirectBlobURL')) lines.push('blob downloads redirected to presigned URLs');
  return lines.map((line) => indent + line);
}

function describeLog(config: BerthConfig): string {
  const { level, output, audit } = config.log;
  return `log: level ${level} to ${output ?? 'stdout'}${audit ? `, audit to ${audit}` : ''}`;
}

function describeAuth(config: BerthConfig, on: On): string[] {
  const { auth, accessControl, tls } = config.http;
  const methods: string[] = [];
  if (auth.htpasswd?.path && on('http.auth.htpasswd')) methods.push(`htpasswd (${auth.htpasswd.path})`);
  if (auth.ldap && on('http.auth.ldap')) {
    const ldap = auth.ldap;
    const scheme = ldap.insecure ? (ldap.startTLS ? 'ldap+starttls' : 'ldap') : 'ldaps';
    methods.push(`ldap (${scheme}://${ldap.address}${ldap.port ? `:${ldap.port}` : ''}, base ${ldap.baseDN})`);
  }
  if (auth.bearer && on('http.auth.bearer')) methods.push(`bearer tokens (realm ${redactUrl(auth.bearer.realm)})`);
  const providers = Object.entries(auth.openid?.providers ?? {}).filter(([, p]) => p).map(([name]) => name);
  if (providers.length > 0 && on('http.auth.openid')) methods.push(`openid (${providers.join(', ')})`);
  if (auth.apikey && on('http.auth.apikey')) methods.push('api keys');
  if ((auth.mtls || (tlsEnabled(tls) && tls?.cacert)) && on('http.auth.mtls')) methods.push('client certificates');
  const lines = [methods.length > 0 ? `authentication: ${methods.join(', ')}` : 'authentication: none (anonymous access)'];
  if (methods.length > 0 && auth.failDelay > 0) lines.push(`  failed logins delayed ${auth.failDelay}s`);
  if (accessControl && on('http.accessControl')) {
    const rules = Object.keys(accessControl.repositories).length;
    const anonymous = Object.values(accessControl.repositories).some((r) => r.anonymousPolicy.length > 0);
    lines.push(`access control: ${rules} repository rule(s)${accessControl.adminPolicy ? ', admin policy' : ''}${anonymous ? ', anonymous access for some repositories' : ''}`);
  } else if (methods.length > 0) {
    lines.push('access control: none (every authenticated user may do everything)');
  }
  return lines;
}

function describeExtensions(config: BerthConfig, on: On): string[] {
  const ext = config.extensions;
  const running: string[] = [];
  if (ext?.sync?.enable && on('extensions.sync')) {
    const regs = ext.sync.registries;
    const hosts = regs.map((r) => redactUrl(r.urls[0] ?? '')).join(', ');
    running.push(`sync from ${regs.length} registr${regs.length === 1 ? 'y' : 'ies'}${hosts ? ` (${hosts})` : ''}`);
  }
  if (ext?.search?.enable && on('extensions.search')) running.push(`search${ext.search.cve && on('extensions.search.cve') ? ` with CVE scanning every ${formatDuration(ext.search.cve.updateInterval)}` : ''}`);
  if (ext?.metrics?.enable && on('extensions.metrics')) running.push(`metrics at ${ext.metrics.prometheus.path}`);
  if (ext?.scrub?.enable && on('extensions.scrub')) running.push(`scrub every ${formatDuration(ext.scrub.interval)}`);
  if (ext?.lint?.enable && on('extensions.lint')) running.push(`lint (${ext.lint.mandatoryAnnotations.length} mandatory annotation(s))`);
  if (ext?.ui?.enable && on('extensions.ui')) running.push('ui');
  if (ext?.trust?.enable && on('extensions.trust')) {
    running.push(`trust (${[ext.trust.cosign && 'cosign', ext.trust.notation && 'notation'].filter(Boolean).join(', ') || 'no verifier'})`);
  }
  if (ext?.events?.enable && on('extensions.events')) running.push(`events to ${ext.events.sinks.length} sink(s)`);
  for (const { name, config: slice } of thirdPartyExtensions(ext)) {
    if (slice.enable !== false) running.push(`${name} (module ${slice.module})`);
  }
  return [running.length > 0 ? `extensions: ${running.join('; ')}` : 'extensions: none running'];
}

/** Drops credentials from a URL-ish string; leaves anything unparseable as is. */
function redactUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1');
}
