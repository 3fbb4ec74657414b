import { createHash } from 'node:crypto';
import { defineExtension } from '../../core/extensions/api';
import { syncSchema, type SyncConfig } from './schema';
import { CacheEviction } from './eviction';
import { runPeriodicSync } from './periodic-sync';
import { RegistryRouter } from './routing';
import { createSyncSource } from './sync-source';
import { SyncMetrics } from './sync-metrics';
import { credentialsFor, loadCredentials } from './upstream-auth';
import { UpstreamClient } from './upstream-client';

// Eviction looks at most this often, and at least four times per TTL.
const MAX_SWEEP_MS = 3_600_000;
const MIN_SWEEP_MS = 1_000;

/**
 * Zot's `extensions.sync` on berth's extension points: each `onDemand` registry becomes a content source
 * (pull-through, routed by `?ns=` or by `content` rules), each registry with `pollInterval` and `content`
 * a scheduled copy, and `ttl` a scheduled eviction. Its schema (schema.ts) is part of the whole config's.
 */
export default defineExtension<SyncConfig>({
  name: 'sync',
  apiVersion: 1,
  reloadable: true, // Zot reloads extensions.sync
  configSchema: syncSchema,
  register(ctx) {
    const { config, logger } = ctx;
    const metrics = new SyncMetrics(ctx.metrics);
    const credentials = loadCredentials(config.credentialsFile, logger);
    const registries = config.registries.map((reg, i) => {
      const router = new RegistryRouter(reg);
      const client = new UpstreamClient({
        urls: reg.urls,
        tlsVerify: reg.tlsVerify,
        certDir: reg.certDir,
        credentials: credentialsFor(credentials, router.host),
        maxIdleConnsPerHost: reg.maxIdleConnsPerHost,
        logger,
        onResponse: (method, code) => metrics.upstreamRequests.inc({ registry: router.host, method, code: String(code) }),
      });
      ctx.onShutdown(async () => client.close());
      return { reg, router, client, index: i };
    });

    const cachedBy = new Map<string, number>();
    const owner = (repo: string) => registries.find((r) => r.router.owns(repo)) ?? registries[cachedBy.get(repo) ?? -1];
    const eviction = new CacheEviction((repo) => owner(repo)?.reg.ttl ?? 0, () => ctx.registry, metrics, logger);

    for (const { reg, router, client, index } of registries) {
      if (reg.onDemand) {
        ctx.contentSources.add(createSyncSource({
          name: `sync.${index}.${router.host}`,
          router,
          client,
          manifestCheckInterval: reg.manifestCheckInterval,
          onlySigned: reg.onlySigned,
          localManifest: async (repo, digest) => (await ctx.registry.getManifest(repo, digest))?.bytes,
          localManifests: (repo) => ctx.registry.listManifests(repo),
          logger: logger.child({ upstream: router.host }),
          onCached: (repo) => {
            if (!cachedBy.has(repo)) cachedBy.set(repo, index);
            eviction.watch(repo);
          },
        }));
      }
      // Zot: periodic only with content and a non-zero pollInterval.
      if (reg.pollInterval > 0 && router.rules.length > 0) {
        const task = (signal: AbortSignal) => runPeriodicSync({
          reg, router, client, registry: () => ctx.registry, metrics, logger: logger.child({ upstream: router.host }), signal,
          onResult: (result) => ctx.events.emit('sync.result', result),
        });
        // As Zot, the first run does not wait a whole interval. Global: replicas on one MetaStore sync once per
        // interval between them, not once each (the upstream's rate limit counts every replica). The id carries
        // the registry's settings, so a reload that changes them syncs at once instead of waiting for the period.
        ctx.schedule(reg.pollInterval, task, { id: `periodic-${index}-${settingsId(reg)}`, initialDelay: 0, scope: 'global' });
      }
    }

    const ttls = config.registries.map((r) => r.ttl).filter((t) => t > 0);
    if (ttls.length > 0) {
      const every = Math.max(MIN_SWEEP_MS, Math.min(MAX_SWEEP_MS, Math.floor(Math.min(...ttls) / 4)));
      // Every repository is swept from the shared record of pull times: one replica at a time is enough.
      ctx.schedule(every, () => eviction.sweep(), { id: 'eviction', scope: 'global' });
    }
  },
});

/** A short fingerprint of one registry's settings (credentials are not in them: they come from a file). */
function settingsId(reg: unknown): string {
  return createHash('sha256').update(JSON.stringify(reg)).digest('hex').slice(0, 12);
}
