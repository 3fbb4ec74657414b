/**
 * `berth verify` prints what a valid config would run, one line per concern. Secrets never appear: passwords,
 * keys and tokens are not read here, and URLs lose any `user:password@` part.
 */
import { formatDuration } from './duration';
import { thirdPartyExtensions } from './extensions-schema';
import { tlsEnabled } from './http-schema';
import type { BerthConfig } from './schema';
import type { StoreConfig } from './storage-schema';

export function describeConfig(config: BerthConfig): string[] {
  return [
    ...describeListener(config),
    ...describeStore('storage', config.storage),
    ...Object.entries(config.storage.subPaths ?? {}).flatMap(([route, store]) => describeStore(`storage for ${route}`, store)),
    describeLog(config),
    ...describeAuth(config),
    ...describeExtensions(config),
    ...(config.cluster ? [`cluster: ${config.cluster.members.length} member(s): ${config.cluster.members.join(', ')}`] : []),
  ];
}

function describeListener(config: BerthConfig): string[] {
  const { http } = config;
  const tls = tlsEnabled(http.tls);
  const lines = [`listen: ${http.address}:${http.port === '0' ? '0 (any free port)' : http.port} over ${tls ? 'HTTPS' : 'plain HTTP'}`];
  if (tls && http.tls?.cacert) lines.push(`tls: client certificates verified against ${http.tls.cacert}`);
  if (http.externalUrl) lines.push(`external URL: ${redactUrl(http.externalUrl)}`);
  if (http.ratelimit) {
    const methods = http.ratelimit.methods.map((m) => `${m.method} ${m.rate}/s`);
    lines.push(`rate limit per client IP: ${[http.ratelimit.rate ? `${http.ratelimit.rate}/s` : undefined, ...methods].filter(Boolean).join(', ')}`);
  }
  if (http.compat.length > 0) lines.push(`compat: ${http.compat.join(', ')}`);
  return lines;
}

function describeStore(label: string, store: StoreConfig): string[] {
  const driver = store.storageDriver;
  const where = driver
    ? `${driver.name} ${driver.bucket ?? driver.container ?? ''}${driver.rootdirectory ? ` prefix ${driver.rootdirectory}` : ''}`.replace(/\s+/g, ' ')
    : 'local filesystem';
  const lines = [`${label}: ${store.rootDirectory || '(no local root)'} (${where.trim()})`];
  const gc = store.gc
    ? `gc every ${formatDuration(store.gcInterval)} (blobs older than ${formatDuration(store.gcDelay)})${store.gcTimeWindow ? ` within ${store.gcTimeWindow}` : ''}`
    : 'gc off';
  lines.push(`  dedupe ${store.dedupe ? 'on' : 'off'}, ${gc}${store.commit ? ', fsync on commit' : ''}`);
  const cache = store.remoteCache && store.cacheDriver ? `${store.cacheDriver.name} (remote)` : 'local database';
  lines.push(`  cache and metadata: ${cache}`);
  if (store.retention.policies.length > 0) {
    lines.push(`  retention: ${store.retention.policies.length} polic${store.retention.policies.length === 1 ? 'y' : 'ies'}${store.retention.dryRun ? ' (dry run)' : ''}`);
  }
  if (store.maxRepos > 0) lines.push(`  at most ${store.maxRepos} repositories`);
  if (store.redirectBlobURL) lines.push('  blob downloads redirected to presigned URLs');
  return lines;
}

function describeLog(config: BerthConfig): string {
  const { level, output, audit } = config.log;
  return `log: level ${level} to ${output ?? 'stdout'}${audit ? `, audit to ${audit}` : ''}`;
}

function describeAuth(config: BerthConfig): string[] {
  const { auth, accessControl, tls } = config.http;
  const methods: string[] = [];
  if (auth.htpasswd?.path) methods.push(`htpasswd (${auth.htpasswd.path})`);
  if (auth.ldap) {
    const ldap = auth.ldap;
    const scheme = ldap.insecure ? (ldap.startTLS ? 'ldap+starttls' : 'ldap') : 'ldaps';
    methods.push(`ldap (${scheme}://${ldap.address}${ldap.port ? `:${ldap.port}` : ''}, base ${ldap.baseDN})`);
  }
  if (auth.bearer) methods.push(`bearer tokens (realm ${redactUrl(auth.bearer.realm)})`);
  const providers = Object.entries(auth.openid?.providers ?? {}).filter(([, p]) => p).map(([name]) => name);
  if (providers.length > 0) methods.push(`openid (${providers.join(', ')})`);
  if (auth.apikey) methods.push('api keys');
  if (auth.mtls || (tlsEnabled(tls) && tls?.cacert)) methods.push('client certificates');
  const lines = [methods.length > 0 ? `authentication: ${methods.join(', ')}` : 'authentication: none (anonymous access)'];
  if (methods.length > 0 && auth.failDelay > 0) lines.push(`  failed logins delayed ${auth.failDelay}s`);
  if (accessControl) {
    const rules = Object.keys(accessControl.repositories).length;
    const anonymous = Object.values(accessControl.repositories).some((r) => r.anonymousPolicy.length > 0);
    lines.push(`access control: ${rules} repository rule(s)${accessControl.adminPolicy ? ', admin policy' : ''}${anonymous ? ', anonymous access for some repositories' : ''}`);
  } else if (methods.length > 0) {
    lines.push('access control: none (every authenticated user may do everything)');
  }
  return lines;
}

function describeExtensions(config: BerthConfig): string[] {
  const ext = config.extensions;
  if (!ext) return ['extensions: none'];
  const on: string[] = [];
  if (ext.sync?.enable) {
    const regs = ext.sync.registries;
    const hosts = regs.map((r) => redactUrl(r.urls[0] ?? '')).join(', ');
    on.push(`sync from ${regs.length} registr${regs.length === 1 ? 'y' : 'ies'}${hosts ? ` (${hosts})` : ''}`);
  }
  if (ext.search?.enable) on.push(`search${ext.search.cve ? ` with CVE scanning every ${formatDuration(ext.search.cve.updateInterval)}` : ''}`);
  if (ext.metrics?.enable) on.push(`metrics at ${ext.metrics.prometheus.path}`);
  if (ext.scrub?.enable) on.push(`scrub every ${formatDuration(ext.scrub.interval)}`);
  if (ext.lint?.enable) on.push(`lint (${ext.lint.mandatoryAnnotations.length} mandatory annotation(s))`);
  if (ext.ui?.enable) on.push('ui');
  if (ext.trust?.enable) on.push(`trust (${[ext.trust.cosign && 'cosign', ext.trust.notation && 'notation'].filter(Boolean).join(', ') || 'no verifier'})`);
  if (ext.events?.enable) on.push(`events to ${ext.events.sinks.length} sink(s)`);
  for (const { name, config: slice } of thirdPartyExtensions(ext)) {
    if (slice.enable !== false) on.push(`${name} (module ${slice.module})`);
  }
  return [on.length > 0 ? `extensions: ${on.join('; ')}` : 'extensions: none enabled'];
}

/** Drops credentials from a URL-ish string; leaves anything unparseable as is. */
function redactUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1');
}
