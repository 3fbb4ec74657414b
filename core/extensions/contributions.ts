import type { Logger } from 'pino';
import type { MetaStore } from '../metastore/meta-store';
import { RequestObservers } from '../http/request-observers';
import type { ContentSource, ManifestValidator, RegistryEventMap, RegistryEventName, RequestObserver, RouteAccess, RouteHandler, StartedContext } from './api';
import type { EventBus } from './events';
import { ManifestValidators } from './manifest-validators';
import { startSchedule, validateEvery, type ScheduledTask, type ScheduleOptions } from './schedule';

export type { ScheduledTask, ScheduleOptions } from './schedule';

export type RouteMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
type AnyHandler = (payload: never) => void | Promise<void>;

/**
 * What one instance of an extension contributed while it ran `register`: content sources, schedules, event
 * handlers, manifest validators, routes, start and shutdown hooks. Nothing takes effect until `start()` and
 * `activate()`, so a reload can register and start the new instance completely before anything of the old one
 * is replaced, and drop it unseen when it fails.
 */
export class Contributions {
  readonly sources: ContentSource[] = [];
  readonly routes: Array<{ method: RouteMethod; path: string; handler: RouteHandler; access?: RouteAccess }> = [];
  readonly #observers: RequestObserver[] = [];
  readonly #schedules: Array<() => () => Promise<void>> = [];
  readonly #scheduleIds = new Set<string>();
  readonly #starts: Array<(started: StartedContext) => void | Promise<void>> = [];
  readonly #subscriptions: Array<[RegistryEventName, AnyHandler]> = [];
  readonly #validators: ManifestValidator[] = [];
  readonly #shutdown: Array<() => Promise<void>> = [];
  readonly #stops: Array<() => Promise<void> | void> = [];
  #active = false;
  #retired = false;

  constructor(
    readonly name: string,
    private readonly logger: Logger,
    private readonly events: EventBus,
    private readonly metaStore: () => MetaStore = () => {
      throw new Error('global schedules need the MetaStore');
    },
    private readonly manifestValidators: ManifestValidators = new ManifestValidators(),
    // Tests that only schedule pass none: observers then hear of no request.
    private readonly requests: RequestObservers = new RequestObservers(logger),
  ) {}

  onStart(fn: (started: StartedContext) => void | Promise<void>): void {
    this.#starts.push(fn);
  }

  /** Runs the start hooks in registration order; a rejection propagates (start-up stops, a reload is refused). */
  async start(started: StartedContext): Promise<void> {
    for (const fn of this.#starts.splice(0)) await fn(started);
  }

  on<E extends RegistryEventName>(event: E, handler: (payload: RegistryEventMap[E]) => void | Promise<void>): void {
    this.#subscriptions.push([event, handler as AnyHandler]);
    if (this.#active) this.#stops.push(this.events.on(event, handler));
  }

  validate(validator: ManifestValidator): void {
    this.#validators.push(validator);
    if (this.#active) this.#stops.push(this.manifestValidators.add(validator));
  }

  observe(observer: RequestObserver): void {
    this.#observers.push(observer);
    if (this.#active) this.#stops.push(this.requests.add(observer));
  }

  onShutdown(fn: () => Promise<void>): void {
    this.#shutdown.push(fn);
  }

  /**
   * Runs `task` every `every` (a node-cron expression or ms) once active, and first after `initialDelay` ms
   * when given; a run still going is not started twice (see schedule.ts for timeouts and global scope).
   */
  schedule(every: string | number, task: ScheduledTask, opts: ScheduleOptions = {}): void {
    validateEvery(every);
    if (opts.scope !== undefined && opts.scope !== 'local' && opts.scope !== 'global') throw new Error(`invalid schedule scope "${String(opts.scope)}"`);
    const id = opts.id ?? String(this.#scheduleIds.size + 1);
    if (this.#scheduleIds.has(id)) throw new Error(`schedule id "${id}" is used twice`);
    this.#scheduleIds.add(id);
    const spec = { name: `${this.name}:${id}`, every, task, opts, logger: this.logger, metaStore: this.metaStore };
    const start = () => startSchedule(spec);
    this.#schedules.push(start);
    if (this.#active) this.#stops.push(start());
  }

  /** Starts the schedules, event handlers, validators and request observers registered so far (and any registered later). */
  activate(): void {
    if (this.#active) return;
    this.#active = true;
    for (const start of this.#schedules) this.#stops.push(start());
    for (const [event, handler] of this.#subscriptions) this.#stops.push(this.events.on(event, handler as never));
    for (const validator of this.#validators) this.#stops.push(this.manifestValidators.add(validator));
    for (const observer of this.#observers) this.#stops.push(this.requests.add(observer));
  }

  /** Stops schedules, event handlers, validators and request observers; shutdown hooks wait for {@link shutdown}. */
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
