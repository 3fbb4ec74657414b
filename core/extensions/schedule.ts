/**
 * One extension schedule (`ctx.schedule`): an interval in ms or a cron expression, an optional first run after
 * `initialDelay`, never two runs of it at once in this process, and with `scope: 'global'` never two at once
 * among every berth on the same MetaStore: a run holds a lease (renewed while it goes on; losing it aborts
 * the run) and records when it started, so a replica whose tick comes just after another's run skips it.
 */
import { randomUUID } from 'node:crypto';
import cron from 'node-cron';
import type { Logger } from 'pino';
import type { MetaStore } from '../metastore/meta-store';
import type { ScheduleOptions } from './api';

/** A scheduled task; `signal` aborts when its schedule stops (shutdown, reload), at its timeout, or when a global run lost its lease. */
export type ScheduledTask = (signal: AbortSignal) => Promise<void>;

export type { ScheduleOptions };

export interface ScheduleSpec {
  /** `<extension>:<id>`. */
  name: string;
  every: string | number;
  task: ScheduledTask;
  opts: ScheduleOptions;
  logger: Logger;
  /** The app's MetaStore, for global schedules (open by the time a schedule starts). */
  metaStore: () => MetaStore;
}

// A global run holds its lease this long past its last renewal; renewed every third of it.
const LEASE_TTL_MS = 30_000;
const RUNS_SPACE = 'berth.schedule';
// This process, as the holder of global runs' leases.
const HOLDER = `schedule:${process.pid}:${randomUUID()}`;

export function validateEvery(every: string | number): void {
  if (typeof every === 'string' ? !cron.validate(every) : !(Number.isFinite(every) && every > 0)) throw new Error(`invalid schedule "${every}"`);
}

/**
 * Starts one schedule; the returned stop ends it, aborts a run in progress and waits for that run to end, so
 * a replaced instance's run never overlaps its successor's and shutdown never closes what a run still uses.
 */
export function startSchedule(spec: ScheduleSpec): () => Promise<void> {
  const { every, opts, logger } = spec;
  const stopped = new AbortController();
  let running: Promise<void> | undefined;
  const run = () => {
    if (running || stopped.signal.aborted) return; // a run still going does not start twice
    running = (opts.scope === 'global' ? runGlobal(spec, stopped.signal) : runOnce(spec, stopped.signal))
      .catch((err: unknown) => logger.warn({ err, schedule: spec.name }, 'failed to run scheduled task'))
      .finally(() => (running = undefined));
  };
  const first = opts.initialDelay === undefined ? undefined : setTimeout(run, opts.initialDelay);
  first?.unref();
  let end: () => Promise<void> | void;
  if (typeof every === 'number') {
    const timer = setInterval(run, every);
    timer.unref();
    end = () => clearInterval(timer);
  } else {
    const scheduled = cron.schedule(every, run, { name: `${spec.name}:${randomUUID()}` });
    end = async () => {
      await scheduled.stop();
      await scheduled.destroy();
    };
  }
  return async () => {
    clearTimeout(first);
    stopped.abort();
    await end();
    await running;
  };
}

/** One run with the schedule's timeout; `extra` aborts it too (a lost lease). */
async function runOnce(spec: ScheduleSpec, stopped: AbortSignal, extra?: AbortSignal): Promise<void> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  stopped.addEventListener('abort', abort, { once: true });
  extra?.addEventListener('abort', abort, { once: true });
  const timer = spec.opts.timeout === undefined ? undefined : setTimeout(() => {
    spec.logger.warn({ schedule: spec.name, timeoutMs: spec.opts.timeout }, 'scheduled task reached its timeout; asking it to stop');
    controller.abort();
  }, spec.opts.timeout);
  timer?.unref();
  try {
    await spec.task(controller.signal);
  } finally {
    clearTimeout(timer);
    stopped.removeEventListener('abort', abort);
    extra?.removeEventListener('abort', abort);
  }
}

/**
 * A global run: skipped when another berth holds the lease or started a run within this period; otherwise
 * records its start, runs, and gives the lease back. A renewal that fails (this process paused past the
 * lease, or the MetaStore lost it) aborts the run, so two berths never go on with it at once.
 */
async function runGlobal(spec: ScheduleSpec, stopped: AbortSignal): Promise<void> {
  const store = spec.metaStore();
  const leaseName = `${RUNS_SPACE}:${spec.name}`;
  const lease = await store.leases.acquire(leaseName, HOLDER, LEASE_TTL_MS);
  if (!lease) {
    spec.logger.debug({ schedule: spec.name }, 'scheduled task runs on another berth now; skipped here');
    return;
  }
  const runs = store.kv(RUNS_SPACE);
  const lost = new AbortController();
  const renewal = setInterval(() => {
    void store.leases.renew(leaseName, HOLDER, lease.token, LEASE_TTL_MS).then((ok) => {
      if (ok) return;
      spec.logger.warn({ schedule: spec.name }, 'scheduled task lost its lease (paused past it?); the run stops');
      lost.abort();
    }, (err: unknown) => spec.logger.warn({ err, schedule: spec.name }, 'failed to renew a scheduled task lease'));
  }, LEASE_TTL_MS / 3);
  renewal.unref();
  try {
    const last = await runs.get(spec.name);
    const startedAt = last ? Number(Buffer.from(last.value).toString()) : 0;
    if (ranThisPeriod(spec.every, startedAt, Date.now())) return;
    await runs.put(spec.name, Buffer.from(String(Date.now())));
    await runOnce(spec, stopped, lost.signal);
  } finally {
    clearInterval(renewal);
    await store.leases.release(leaseName, HOLDER, lease.token).catch(() => false);
  }
}

/**
 * Whether a run that started at `startedAt` already served the tick at `now`: within the last interval (less a
 * tenth, for replicas' timers drifting apart), or for a cron schedule within the same minute.
 */
function ranThisPeriod(every: string | number, startedAt: number, now: number): boolean {
  if (startedAt <= 0) return false;
  if (typeof every === 'number') return now - startedAt < every * 0.9;
  return Math.floor(startedAt / 60_000) === Math.floor(now / 60_000);
}
