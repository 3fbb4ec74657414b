import 'reflect-metadata';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Registry as PromRegistry } from 'prom-client';
import type { Logger } from 'pino';
import type { BerthConfig } from './config/schema';
import { inactiveKeys, NOT_ACTIVE, refusedFeatures } from './config/unbuilt-features';
import { clusterLogMessage } from './config/cluster';
import { createScope } from './di/scope';
import { TOKENS } from './di/tokens';
import { EventBus } from './extensions/events';
import type { Extension } from './extensions/api';
import { ExtensionHost } from './extensions/host';
import { extensionEntries } from './extensions/entries';
import { serverInfo } from './extensions/server-info';
import { createHttpApp } from './http/server';
import type { MetaStore } from './metastore/meta-store';
import { importLegacyFiles } from './metastore/legacy-import';
import { openMetaStore } from './metastore/open-meta-store';
import type { HealthState } from './http/base-routes';
import { Readiness } from './http/readiness';
import type { AccessControl } from './http/route-helpers';
import { createAuditLogger, createLogger } from './log/logger';
import { BlobStore } from './registry/blob-store';
import { Dedupe } from './registry/dedupe';
import { DedupePass } from './registry/dedupe-pass';
import { UploadStore } from './registry/blob-upload';
import { ContentSources } from './registry/content-sources';
import { ManifestStore } from './registry/manifest-store';
import { PullThrough } from './registry/pull-through';
import { Registry } from './registry/registry';
import { createLeasedLocks } from './registry/repo-lock';
import { Catalog } from './registry/catalog';
import { RepoStore } from './registry/repo-store';
import { AccessTimes } from './registry/access-times';
import { closeStores, openStores } from './registry/open-stores';
import type { Stores } from './registry/stores';
import { BlobArrivals } from './registry/blob-arrivals';
import { GarbageCollector } from './registry/gc';
import { createGcMetrics, startStoreGcs, type GcSchedule } from './registry/gc-schedule';
import { watchYoungGcPacing } from './registry/young-gc';
import { startSpoolSweep } from './registry/spool';
import { SESSIONS_NAMESPACE } from './auth/session-service';
import { STARTUP_WALKS_NAMESPACE, StartupWalks, storageFingerprint } from './registry/startup-walks';
import { metaStoreGuard } from './registry/metastore-recovery';
import { EPOCH_NAMESPACE, MetaStoreEpoch } from './metastore/epoch';
import { berthVersion } from './version';
import { BUILT_FEATURES } from './builtins';
import { AuthService } from './auth/auth-service';
import { watchConfigFile } from './config/live-reload';

export interface AppOptions {
  /** The config file's path, to resolve relative module paths and for reloads. */
  configFile?: string;
  /** A logger to use instead of one built from `log` (tests). */
  logger?: Logger;
  /**
   * Extensions given as objects instead of by `extensions.<name>.module` (embedding, `berth/testkit`), each
   * with its config slice; they load and reload exactly as a module named in the config does.
   */
  extensions?: Array<{ extension: Extension<unknown>; config?: unknown }>;
}

export interface BerthApp {
  readonly logger: Logger;
  readonly registry: Registry;
  /** The app's Prometheus registry (what extensions get as `ctx.metrics`), for embedding and tests. */
  readonly metrics: PromRegistry;
  /** The GC schedules (tests and benchmarks run a pass with `gc.runNow()`). */
  readonly gc: GcSchedule;
  /** Starts listening on `http.address`:`http.port` (port "0" picks a free one). */
  listen(): Promise<{ address: string; port: number; url: string }>;
  /** Stops accepting, lets in-flight requests finish (bounded), then closes stores and extensions. */
  close(graceMs?: number): Promise<void>;
  /**
   * Re-reads the config file (also done when it changes) and applies its reloadable sections; an invalid
   * file is logged and the running config stays. Resolves true when applied; false without a config file.
   */
  reload(): Promise<boolean>;
}

/** The only composition root: one child container per app, so several apps live in one process. */
export async function createApp(config: BerthConfig, opts: AppOptions = {}): Promise<BerthApp> {
  const logger = opts.logger ?? createLogger({ level: config.log?.level, output: config.log?.output });
  const audit = config.log?.audit ? createAuditLogger(config.log.audit) : undefined;
  const scope = createScope();
  const metrics = new PromRegistry();
  watchYoungGcPacing(metrics, logger);
  const events = new EventBus(logger);
  const sources = new ContentSources();
  const host = new ExtensionHost(logger, metrics, events, sources);
  let running = config; // swapped when a reload commits, for ctx.server
  host.setServerInfo(serverInfo(() => running));
  const health: HealthState = { started: false, ready: false };

  // The same list `berth verify` prints: unbuilt authentication or policies refuse to start (serving without
  // them would open the registry to anyone); every other inactive key starts with one warning naming it.
  const inactive = inactiveKeys(config, BUILT_FEATURES);
  const refused = refusedFeatures(inactive);
  if (refused.length > 0) throw new Error(refused.join('; '));
  for (const { key, note } of inactive) logger.warn({ key, note }, NOT_ACTIVE);
  // Said in the words `berth verify` prints, so an operator reading either knows nothing is proxied.
  if (config.cluster) logger.info({ members: config.cluster.members }, clusterLogMessage(config.cluster));
  let stores: Stores;
  let openedStores: Stores | undefined;
  let auth: AuthService;
  let metaStore: MetaStore | undefined;
  let times: AccessTimes;
  try {
    await host.load(await extensionEntries(config, opts));
    stores = openedStores = await openStores(config.storage, host.storageDrivers, logger, metrics);
    metaStore = await openMetaStore(config.storage, host.metaStores, logger);
    host.setMetaStore(metaStore);
    await importLegacyFiles(config.storage.rootDirectory, metaStore, logger);
    times = await AccessTimes.open(metaStore, logger);
    auth = await AuthService.create(config, host.authenticators, logger, metaStore.signingKeys, metaStore.kv(SESSIONS_NAMESPACE), metrics);
  } catch (err) {
    await metaStore?.close();
    if (openedStores) await closeStores(openedStores);
    await host.close(); // stop schedules and shutdown hooks of the extensions that did register
    throw err;
  }
  const readiness = new Readiness(stores, metaStore);
  health.reachable = () => readiness.check();
  scope.value(TOKENS.Config, config);
  scope.value(TOKENS.Logger, logger);
  scope.value(TOKENS.Metrics, metrics);
  scope.value(TOKENS.Stores, stores);
  scope.value(TOKENS.MetaStore, metaStore);
  scope.value(TOKENS.AccessTimes, times);
  times.follow(events);
  // Leases in the MetaStore: the locks hold across every berth on this root (rolling updates), not only here.
  scope.value(TOKENS.RepoLocks, createLeasedLocks(metaStore.leases, logger));
  scope.value(TOKENS.StartupWalks, new StartupWalks(
    metaStore.kv(STARTUP_WALKS_NAMESPACE),
    storageFingerprint(berthVersion(), config.storage),
    config.storage.fastRestart,
  ));
  scope.value(TOKENS.Events, events);
  scope.value(TOKENS.ManifestValidators, host.manifestValidators);
  scope.value(TOKENS.ContentSources, sources);
  scope.value<AccessControl>(TOKENS.AccessControl, auth.access);
  scope.singleton(TOKENS.Catalog, Catalog);
  scope.singleton(TOKENS.RepoStore, RepoStore);
  scope.singleton(TOKENS.Dedupe, Dedupe);
  scope.singleton(TOKENS.DedupePass, DedupePass);
  scope.singleton(TOKENS.BlobArrivals, BlobArrivals);
  scope.singleton(TOKENS.BlobStore, BlobStore);
  scope.singleton(TOKENS.UploadStore, UploadStore);
  scope.singleton(TOKENS.ManifestStore, ManifestStore);
  scope.singleton(TOKENS.PullThrough, PullThrough);
  scope.singleton(TOKENS.Registry, Registry);
  scope.singleton(TOKENS.GarbageCollector, GarbageCollector);
  const registry = scope.resolve<Registry>(TOKENS.Registry);
  const epoch = new MetaStoreEpoch(metaStore.kv(EPOCH_NAMESPACE));
  await epoch.adopt(); // before the walks: a loss from here on is noticed (metastore/epoch.ts)
  const catalog = scope.resolve<Catalog>(TOKENS.Catalog);
  catalog.startReconcile(); // in the background: the server serves meanwhile (catalog.ts)
  const dedupePass = scope.resolve<DedupePass>(TOKENS.DedupePass);
  dedupePass.start(); // likewise: rebuilds the dedupe index, links or restores copies when needed (dedupe-pass.ts)
  host.setRegistry((writer) => registry.facadeFor(writer));
  host.setAccess(auth.access);
  // Deletes and GC wait while the MetaStore's records are being rebuilt after a loss (metastore-recovery.ts).
  const metaStoreIntact = metaStoreGuard({ epoch, catalog, dedupePass, logger });
  scope.resolve<Dedupe>(TOKENS.Dedupe).guardDeletes(metaStoreIntact);
  const gc = startStoreGcs({
    storage: config.storage,
    stores,
    collector: scope.resolve<GarbageCollector>(TOKENS.GarbageCollector),
    registry,
    times,
    leases: metaStore.leases,
    metrics: createGcMetrics(metrics),
    logger,
    ready: Promise.all([catalog.whenReconciled(), dedupePass.whenDone()]).then(() => undefined),
    intact: metaStoreIntact,
  });
  const spoolSweep = startSpoolSweep(stores.spool, logger.child({ component: 'pull-through' }));
  const closeServices = async () => {
    await host.close();
    await gc.close();
    await times.close();
    await spoolSweep.close();
    await auth.close();
    await catalog.close();
    await dedupePass.close();
    await closeStores(stores);
    await metaStore.close();
    await scope.dispose();
  };
  try {
    await host.start(); // the extensions' onStart hooks, then their schedules and event handlers
  } catch (err) {
    await closeServices();
    throw err;
  }

  const koa = createHttpApp({
    logger,
    audit,
    registry,
    access: scope.resolve<AccessControl>(TOKENS.AccessControl),
    health,
    extensionRoutes: [...host.routes, ...auth.routes],
    before: [auth.middleware],
    // Each store decides for its own repositories (BlobStore.redirectURL); the route only asks when one may.
    redirectBlobs: stores.all.some((s) => s.config.redirectBlobURL),
    requests: host.requests,
  });
  const server = createServer(config, koa.callback());
  health.started = true;
  // Zot reloads http.auth, http.accessControl, extensions.sync and the storage GC and retention keys when its
  // config file changes; all of them are staged first and swapped in together (live-reload.ts).
  const reloader = opts.configFile
    ? watchConfigFile(opts.configFile, config, [
        (next) => auth.prepareReload(next),
        async (next) => host.prepareReload(await extensionEntries(next, opts)),
        async (next) => gc.prepareReload(next.storage),
        async (next) => dedupePass.prepareReload(next.storage),
        async (next) => ({ commit: () => void (running = next), abort: () => undefined }),
      ], logger, { reloadable: () => host.reloadablePaths() })
    : undefined;

  let closing: Promise<void> | undefined;
  return {
    logger,
    registry,
    metrics,
    gc,
    async listen() {
      const port = Number(config.http.port ?? 8080);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, config.http.address, () => {
          server.off('error', reject);
          resolve();
        });
      });
      health.ready = true;
      const addr = server.address() as AddressInfo;
      const scheme = config.http.tls?.cert ? 'https' : 'http';
      const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      const url = `${scheme}://${hostPart}:${addr.port}`;
      logger.info({ address: addr.address, port: addr.port, url, rootDirectory: config.storage.rootDirectory }, 'listening');
      return { address: addr.address, port: addr.port, url };
    },
    reload: () => (closing ? Promise.resolve(false) : reloader?.reload() ?? Promise.resolve(false)),
    close(graceMs = 10_000) {
      closing ??= (async () => {
        health.ready = false;
        await reloader?.stop(); // a reload under way ends (or is aborted) before anything closes
        await stopServer(server, graceMs);
        await closeServices();
        logger.info('stopped');
        logger.flush();
        audit?.flush();
      })();
      return closing;
    },
  };
}

function createServer(config: BerthConfig, handler: http.RequestListener): http.Server {
  const tls = config.http.tls;
  const server = tls?.cert && tls.key
    ? https.createServer({
        cert: readFileSync(tls.cert),
        key: readFileSync(tls.key),
        ca: tls.cacert ? readFileSync(tls.cacert) : undefined,
        // Zot: with a CA, client certificates are requested and verified, but optional.
        requestCert: Boolean(tls.cacert),
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      }, handler)
    : http.createServer(handler);
  // Large blobs take long: no whole-request deadline (Zot's 60 s aborts big transfers), only idle ones.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  server.setTimeout(idleTimeoutMs(config));
  return server;
}

function idleTimeoutMs(config: BerthConfig): number {
  const t = (config.http as { readTimeout?: number; writeTimeout?: number }).readTimeout;
  return typeof t === 'number' && t > 0 ? t : 60_000;
}

async function stopServer(server: http.Server, graceMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(timer);
}
