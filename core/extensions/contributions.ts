import { randomUUID } from 'node:crypto';
import cron from 'node-cron';
import type { Logger } from 'pino';
import type { ContentSource, RegistryEventMap, RegistryEventName, RouteHandler } from './api';
import type { EventBus } from './events';

export type RouteMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
type AnyHandler = (payload: never) => void | Promise<void>;

/**
 * What one instance of an extension contributed while it ran `register`: content sources, schedules, event
 * handlers, routes and shutdown hooks. Nothing takes effect until `activate()`, so a reload can register the
 * new instance completely before anything of the old one is replaced, and drop it unseen when it fails.
 */
export class Contributions {
  readonly sources: ContentSource[] = [];
  readonly routes: Array<{ method: RouteMethod; path: string; handler: RouteHandler }> = [];
  readonly #schedules: Array<() => () => Promise<void>> = [];
  readonly #subscriptions: Array<[RegistryEventName, AnyHandler]> = [];
  readonly #shutdown: Array<() => Promise<void>> = [];
  readonly #stops: Array<() => Promise<void> | void> = [];
  #active = false;
  #retired = false;

  constructor(readonly name: string, private readonly logger: Logger, private readonly events: EventBus) {}

  on<E extends RegistryEventName>(event: E, handler: (payload: RegistryEventMap[E]) => void | Promise<void>): void {
    this.#subscriptions.push([event, handler as AnyHandler]);
    if (this.#active) this.#stops.push(this.events.on(event, handler));
  }

  onShutdown(fn: () => Promise<void>): void {
    this.#shutdown.push(fn);
  }

  /**
   * Runs `task` every `every` (a node-cron expression or ms) once active, and first after `initialDelay` ms
   * when given; a run still going is not started twice.
   */
  schedule(every: string | number, task: ScheduledTask, opts: ScheduleOptions = {}): void {
    if (typeof every === 'string' && !cron.validate(every)) throw new Error(`invalid schedule "${every}"`);
    const start = () => startSchedule(`${this.name}:${randomUUID()}`, every, task, this.logger, opts.initialDelay);
    this.#schedules.push(start);
    if (this.#active) this.#stops.push(start());
  }

  /** Starts the schedules and event handlers registered so far (and any registered later). */
  activate(): void {
    if (this.#active) return;
    this.#active = true;
    for (const start of this.#schedules) this.#stops.push(start());
    for (const [event, handler] of this.#subscriptions) this.#stops.push(this.events.on(event, handler as never));
  }

  /** Stops schedules and event handlers; shutdown hooks wait for {@link shutdown}. */
  async deactivate(): Promise<void> {
    this.#active = false;
    for (const stop of this.#stops.splice(0)) await stop();
  }

  /** Runs the shutdown hooks once, in reverse order of registration. */
  async shutdown(): Promise<void> {
    if (this.#retired) return;
    this.#retired = true;
    await this.deactivate();
    for (const fn of this.#shutdown.splice(0).reverse()) {
      await fn().catch((err: unknown) => this.logger.warn({ err }, 'failed to shut down extension'));
    }
  }
}

/** A scheduled task; `signal` aborts when its schedule stops (shutdown, reload): stop soon, at a safe point. */
export type ScheduledTask = (signal: AbortSignal) => Promise<void>;

export interface ScheduleOptions {
  /** Milliseconds after start-up (or after a reload swapped the extension in) for the first run. */
  initialDelay?: number;
}

/**
 * Starts one schedule; the returned stop ends it, aborts a run in progress and waits for that run to end, so
 * a replaced instance's run never overlaps its successor's and shutdown never closes what a run still uses.
 */
function startSchedule(id: string, every: string | number, task: ScheduledTask, logger: Logger, initialDelay?: number): () => Promise<void> {
  const stopped = new AbortController();
  let running: Promise<void> | undefined;
  const run = () => {
    if (running || stopped.signal.aborted) return; // a run still going does not start twice
    running = task(stopped.signal)
      .catch((err: unknown) => logger.warn({ err }, 'failed to run scheduled task'))
      .finally(() => (running = undefined));
  };
  const first = initialDelay === undefined ? undefined : setTimeout(run, initialDelay);
  first?.unref();
  let end: () => Promise<void> | void;
  if (typeof every === 'number') {
    const timer = setInterval(run, every);
    timer.unref();
    end = () => clearInterval(timer);
  } else {
    const scheduled = cron.schedule(every, run, { name: id });
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
