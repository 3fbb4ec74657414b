import type { Logger } from 'pino';
import { Counter, Gauge, type Registry as PromRegistry, Summary } from 'prom-client';
import type { RetentionConfig } from '../config/retention-schema';
import type { PreparedChange } from '../config/live-reload';
import { insideWindow, parseTimeWindow, type TimeWindow } from '../config/time-window';
import type { Leases } from '../metastore/meta-store';
import type { GarbageCollector, RepoCollected } from './gc';
import { processHolderId } from './repo-lock';
import type { Registry } from './registry';
import type { AccessTimes } from './access-times';
import { Retention } from './retention';
import type { Stores } from './stores';
import type { StorageConfig } from '../config/storage-schema';

/** The storage keys GC reads; all of them reload (zot-reference §9). */
export interface GcSettings {
  gc: boolean;
  gcDelay: number;
  gcInterval: number;
  gcTimeWindow?: string;
  retention: RetentionConfig;
}

/** Zot's scheduler delays GC work by up to 30 s at random, so replicas started together do not collect in step. */
const MAX_JITTER_MS = 30_000;
/** Outside `gcTimeWindow`, a due pass checks again this often (at most) for the window to open. */
const WINDOW_POLL_MS = 60_000;
/**
 * One pass at a time per root, across processes: the pass holds this MetaStore lease, renewed while it runs.
 * A holder that dies frees it within the TTL.
 */
export const GC_LEASE = 'berth.gc';
/** A `subPaths` route's stores have a lease (and schedule) of their own: `berth.gc:/route`. */
const leaseOf = (route: string) => (route === '' ? GC_LEASE : `${GC_LEASE}:${route}`);
const GC_LEASE_TTL_MS = 60_000;
/** A progress line this often during a long pass. */
const PROGRESS_MS = 10_000;
const PAGE = 500;
/** Repositories collected at once: each is mostly small reads and stats, so a few overlap their waits. */
const PARALLEL = 4;

/** Zot's GC metrics (pkg/extensions/monitoring), per repository collected as Zot counts them, plus bytes freed. */
export interface GcMetrics {
  runs: Counter<'error'>;
  duration: Summary;
  deleted: Counter<'type'>;
  freed: Counter;
  /** berth's progress series, per store (`/` or the subPaths route). */
  running: Gauge<'store'>;
  passRepositories: Gauge<'store'>;
  lastPassEnd: Gauge<'store'>;
}

export function createGcMetrics(registry: PromRegistry): GcMetrics {
  const registers = [registry];
  return {
    runs: new Counter({ name: 'zot_gc_runs_total', help: 'Garbage collections of a repository, by whether they failed', labelNames: ['error'], registers }),
    duration: new Summary({ name: 'zot_gc_duration_seconds', help: 'Time to garbage collect one repository', registers }),
    deleted: new Counter({ name: 'zot_gc_deleted_total', help: 'Manifests, blobs and uploads removed by garbage collection', labelNames: ['type'], registers }),
    freed: new Counter({ name: 'berth_gc_freed_bytes_total', help: 'Bytes of the blobs garbage collection removed', registers }),
    running: new Gauge({ name: 'berth_gc_pass_running', help: 'Whether a GC pass of the store is running here (1) or not (0)', labelNames: ['store'], registers }),
    passRepositories: new Gauge({
      name: 'berth_gc_pass_repositories',
      help: 'Repositories the running (or last) GC pass of the store has collected so far',
      labelNames: ['store'],
      registers,
    }),
    lastPassEnd: new Gauge({ name: 'berth_gc_last_pass_end_timestamp_seconds', help: 'When the last GC pass of the store ended (Unix time)', labelNames: ['store'], registers }),
  };
}

export interface PassResult extends Omit<RepoCollected, 'removed'> {
  repositories: number;
  removedRepositories: number;
  failed: number;
  ms: number;
  /** False when another process held the lease: nothing was done. */
  ran: boolean;
}

export interface GcSchedule {
  prepareReload(next: GcSettings): PreparedChange;
  /** Runs one pass now (joined if one is running), whatever the window; for tests and benchmarks. */
  runNow(): Promise<PassResult>;
  close(): Promise<void>;
}

/**
 * Runs GC every `gcInterval` (plus up to 30 s of jitter) while `gc` is on, starting passes only inside
 * `gcTimeWindow`: a pass that started runs to its end (Zot gates only the start of a sweep). `gc: false` runs
 * nothing, retention included, as in Zot. Passes never overlap; close aborts between repositories and waits.
 * The first pass starts once the catalog has reconciled (plus jitter): a restart never postpones GC by a
 * whole interval.
 */
export function startGc(o: {
  settings: GcSettings;
  /** The store's route (`''` for the default store) and the repositories it serves. */
  route: string;
  serves: (repo: string) => boolean;
  collector: GarbageCollector;
  registry: Registry;
  times: AccessTimes;
  leases: Leases;
  metrics: GcMetrics;
  logger: Logger;
  /** Resolves when the catalog can list every repository (catalog.ts) and the dedupe index is whole (dedupe-pass.ts). */
  ready: Promise<void>;
  /**
   * False while the MetaStore's records cannot be trusted (they were lost under this process, and are being
   * rebuilt: metastore-recovery.ts): checked before a pass and before each repository, since deleting then
   * could remove bytes that dedupe placeholders elsewhere need.
   */
  intact?: () => Promise<boolean>;
}): GcSchedule {
  const logger = o.route === '' ? o.logger.child({ component: 'gc' }) : o.logger.child({ component: 'gc', route: o.route });
  const leaseName = leaseOf(o.route);
  const holder = processHolderId();
  let settings = o.settings;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<PassResult> | undefined;
  let aborting: AbortController | undefined;
  let closed = false;

  const warnInert = (s: GcSettings) => {
    if (!s.gc && s.retention.policies.length > 0) {
      logger.warn({ key: 'storage.retention' }, 'retention policies are configured but storage.gc is false: as in Zot, retention runs only as part of GC, so none is applied');
    }
  };
  const jitter = (s: GcSettings) => Math.random() * Math.min(MAX_JITTER_MS, s.gcInterval);
  const schedule = (delay: number) => {
    clearTimeout(timer);
    timer = undefined;
    if (closed || !settings.gc || settings.gcInterval <= 0) return;
    timer = setTimeout(tick, delay);
    timer.unref();
  };
  const tick = () => {
    timer = undefined;
    const window = windowOf(settings);
    if (!insideWindow(window, new Date())) {
      logger.debug({ gcTimeWindow: settings.gcTimeWindow }, 'gc: due, waiting for gcTimeWindow');
      schedule(Math.min(WINDOW_POLL_MS, settings.gcInterval));
      return;
    }
    void start().finally(() => schedule(settings.gcInterval + jitter(settings)));
  };
  const start = (): Promise<PassResult> => {
    if (pass) return pass;
    if (closed) return Promise.resolve(emptyResult());
    const controller = new AbortController();
    aborting = controller;
    pass = runPass(settings, controller.signal)
      .catch((err: unknown) => {
        logger.error({ err }, 'gc: pass failed');
        return { ...emptyResult(), ran: false };
      })
      .finally(() => {
        pass = undefined;
        aborting = undefined;
      });
    return pass;
  };

  const runPass = async (s: GcSettings, signal: AbortSignal): Promise<PassResult> => {
    if (o.intact && !(await o.intact())) {
      logger.error('gc: the metadata store lost its records; this pass is skipped until they are rebuilt');
      return { ...emptyResult(), ran: false };
    }
    const lease = await o.leases.acquire(leaseName, holder, GC_LEASE_TTL_MS);
    if (!lease) {
      logger.info('gc: another berth on this root is collecting; this pass is skipped');
      return { ...emptyResult(), ran: false };
    }
    const renewal = setInterval(() => {
      void o.leases.renew(leaseName, holder, lease.token, GC_LEASE_TTL_MS).then((ok) => {
        if (ok) return;
        logger.warn('gc: lost the GC lease (paused past its TTL?); the pass stops');
        aborting?.abort();
      }, (err: unknown) => logger.warn({ err }, 'gc: lease renewal failed'));
    }, GC_LEASE_TTL_MS / 3);
    renewal.unref();
    const started = Date.now();
    const result = emptyResult();
    const store = { store: o.route === '' ? '/' : o.route };
    o.metrics.running.set(store, 1);
    o.metrics.passRepositories.set(store, 0);
    const retention = new Retention(s.retention, o.registry, o.times, logger);
    const settingsForPass = { gcDelay: s.gcDelay, dryRun: s.retention.dryRun };
    logger.info({ gcDelay: s.gcDelay, retentionDelay: s.retention.delay, dryRun: s.retention.dryRun }, 'gc: pass started');
    let progressAt = started + PROGRESS_MS;
    const collectOne = async (repo: string) => {
      const t0 = process.hrtime.bigint();
      try {
        const r = await o.collector.collect(repo, settingsForPass, retention, logger);
        add(result, r);
        o.metrics.runs.inc({ error: 'false' });
        for (const [type, n] of [['manifest', r.manifests], ['blob', r.blobs], ['upload', r.uploads]] as const) if (n > 0) o.metrics.deleted.inc({ type }, n);
        if (r.bytes > 0) o.metrics.freed.inc(r.bytes);
        if (r.manifests + r.blobs + r.uploads + r.leftovers > 0 || r.removed) logger.info({ repo, ...r }, 'gc: collected');
      } catch (err) {
        result.failed++;
        o.metrics.runs.inc({ error: 'true' });
        logger.warn({ repo, err }, 'gc: failed to collect the repository');
      } finally {
        o.metrics.duration.observe(Number(process.hrtime.bigint() - t0) / 1e9);
        result.repositories++;
        o.metrics.passRepositories.set(store, result.repositories);
      }
      if (Date.now() >= progressAt) {
        progressAt = Date.now() + PROGRESS_MS;
        logger.info({ ...summary(result), ms: Date.now() - started, at: repo }, 'gc: in progress');
      }
    };
    try {
      let last: string | undefined;
      for (;;) {
        const page = await o.registry.catalogPage(PAGE, last, async (repos) => repos);
        const queue = page.repos.filter(o.serves);
        const worker = async () => {
          for (let repo = queue.shift(); repo !== undefined && !signal.aborted; repo = queue.shift()) {
            if (o.intact && !(await o.intact())) {
              logger.error('gc: the metadata store lost its records during the pass; the pass stops');
              aborting?.abort();
              break;
            }
            await collectOne(repo);
          }
        };
        await Promise.all(Array.from({ length: PARALLEL }, worker));
        if (signal.aborted || !page.more || page.repos.length === 0) break;
        last = page.repos[page.repos.length - 1];
      }
      if (!signal.aborted && !s.retention.dryRun) {
        const stale = await o.collector.collectStaleSessions(o.serves, s.gcDelay, logger);
        result.uploads += stale;
        if (stale > 0) o.metrics.deleted.inc({ type: 'upload' }, stale);
      }
    } finally {
      clearInterval(renewal);
      o.metrics.running.set(store, 0);
      o.metrics.lastPassEnd.set(store, Date.now() / 1000);
      await o.leases.release(leaseName, holder, lease.token).catch(() => undefined);
    }
    result.ms = Date.now() - started;
    result.ran = true;
    logger.info({ ...summary(result), ms: result.ms, aborted: signal.aborted || undefined }, 'gc: pass finished');
    return result;
  };

  warnInert(settings);
  void o.ready.then(() => schedule(jitter(settings)), () => schedule(jitter(settings)));

  return {
    prepareReload: (next) => ({
      // A pass under way finishes with the settings it started with; the next one uses the new ones.
      commit: () => {
        settings = next;
        warnInert(next);
        if (!pass) schedule(next.gcInterval + jitter(next));
      },
      abort: () => undefined,
    }),
    runNow: () => start(),
    async close() {
      closed = true;
      clearTimeout(timer);
      aborting?.abort();
      await pass;
    },
  };
}

function windowOf(s: GcSettings): TimeWindow | undefined {
  const parsed = s.gcTimeWindow === undefined ? undefined : parseTimeWindow(s.gcTimeWindow);
  return parsed instanceof Error ? undefined : parsed; // the config schema refuses a bad one before it gets here
}

function emptyResult(): PassResult {
  return { repositories: 0, manifests: 0, blobs: 0, bytes: 0, uploads: 0, leftovers: 0, removedRepositories: 0, failed: 0, ms: 0, ran: false };
}

function add(total: PassResult, r: RepoCollected): void {
  total.manifests += r.manifests;
  total.blobs += r.blobs;
  total.bytes += r.bytes;
  total.uploads += r.uploads;
  total.leftovers += r.leftovers;
  if (r.removed) total.removedRepositories++;
}

function summary(r: PassResult) {
  return {
    repositories: r.repositories, manifests: r.manifests, blobs: r.blobs, bytesFreed: r.bytes, uploads: r.uploads,
    leftovers: r.leftovers, removedRepositories: r.removedRepositories, failed: r.failed,
  };
}

/**
 * One GC schedule per store: the default store and each `subPaths` route collect with their own `gc`,
 * `gcDelay`, `gcInterval`, `gcTimeWindow` and `retention`, over the repositories they serve, under a lease of
 * their own. A reload hands each its new keys.
 */
export function startStoreGcs(o: Omit<Parameters<typeof startGc>[0], 'settings' | 'route' | 'serves'> & { storage: StorageConfig; stores: Stores }): GcSchedule {
  const own = (storage: StorageConfig, route: string): GcSettings => (route === '' ? storage : storage.subPaths?.[route] ?? storage);
  const schedules = o.stores.all.map((store) => ({
    route: store.route,
    gc: startGc({ ...o, settings: own(o.storage, store.route), route: store.route, serves: (repo) => o.stores.of(repo) === store }),
  }));
  return {
    prepareReload: (next) => {
      const changes = schedules.map((s) => s.gc.prepareReload(own(next as StorageConfig, s.route)));
      return { commit: () => changes.forEach((c) => c.commit()), abort: () => changes.forEach((c) => c.abort()) };
    },
    async runNow() {
      const total = emptyResult();
      for (const s of schedules) {
        const r = await s.gc.runNow();
        for (const k of ['repositories', 'manifests', 'blobs', 'bytes', 'uploads', 'leftovers', 'removedRepositories', 'failed', 'ms'] as const) total[k] += r[k];
        total.ran ||= r.ran;
      }
      return total;
    },
    async close() {
      await Promise.all(schedules.map((s) => s.gc.close()));
    },
  };
}
