import type { Logger } from 'pino';
import type { CloudEvent } from './cloud-event';
import type { EventsMetrics } from './events-metrics';
import { DeliveryError, type Sink } from './sink';

export interface DeliveryLimits {
  /** Events and data bytes a sink's queue holds; past either, new events are dropped (and counted). */
  maxEvents: number;
  maxBytes: number;
  /** Attempts per event, the first included. */
  attempts: number;
  /** Wait before the first retry; each later one waits twice as long, up to `maxBackoffMs`. */
  firstBackoffMs: number;
  maxBackoffMs: number;
  /** Milliseconds one attempt may take (the sink's `timeout`). */
  timeoutMs: number;
}

/**
 * One sink's bounded queue, delivered in order by a single worker: an event is retried (with backoff) before
 * the next is sent, so a receiver sees events in the order they happened. Pushing never waits, so a slow or
 * dead sink costs a request nothing; when the queue is full the new event is dropped and counted.
 */
export class DeliveryQueue {
  readonly #items: CloudEvent[] = [];
  #bytes = 0;
  #worker: Promise<void> | undefined;
  #closing = false;
  #full = false;
  readonly #stop = new AbortController();

  constructor(
    private readonly sink: Sink,
    private readonly limits: DeliveryLimits,
    private readonly metrics: EventsMetrics,
    private readonly logger: Logger,
  ) {}

  push(event: CloudEvent): void {
    const sink = this.sink.label;
    if (this.#closing) {
      this.metrics.dropped.inc({ sink, reason: 'shutdown' });
      return;
    }
    if (this.#items.length >= this.limits.maxEvents || this.#bytes + event.data.length > this.limits.maxBytes) {
      this.metrics.dropped.inc({ sink, reason: 'queue_full' });
      if (!this.#full) this.logger.warn({ sink, queued: this.#items.length }, 'event queue full, dropping events');
      this.#full = true;
      return;
    }
    this.#items.push(event);
    this.#bytes += event.data.length;
    this.metrics.queued.set({ sink }, this.#items.length);
    this.#worker ??= this.#work().finally(() => (this.#worker = undefined));
  }

  /**
   * Stops taking events and gives those queued until `graceMs` to go out; then aborts the attempt in flight,
   * counts what is left as dropped, and closes the sink.
   */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    if (this.#worker) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.#worker, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    this.#stop.abort();
    await this.#worker;
    if (this.#items.length > 0) {
      this.metrics.dropped.inc({ sink: this.sink.label, reason: 'shutdown' }, this.#items.length);
      this.logger.warn({ sink: this.sink.label, dropped: this.#items.length }, 'failed to deliver events before shutdown');
    }
    this.#items.length = 0;
    this.metrics.queued.set({ sink: this.sink.label }, 0);
    await this.sink.close().catch((err: unknown) => this.logger.warn({ sink: this.sink.label, err }, 'failed to close event sink'));
  }

  async #work(): Promise<void> {
    while (this.#items.length > 0 && !this.#stop.signal.aborted) {
      const event = this.#items[0];
      const done = await this.#deliver(event);
      if (!done) return; // stopped mid-attempt: the event stays queued and close() counts it
      this.#items.shift();
      this.#bytes -= event.data.length;
      this.#full = false;
      this.metrics.queued.set({ sink: this.sink.label }, this.#items.length);
    }
  }

  /** Delivers or gives up on one event (true), or returns false when stopped first. */
  async #deliver(event: CloudEvent): Promise<boolean> {
    const sink = this.sink.label;
    let backoff = this.limits.firstBackoffMs;
    for (let attempt = 1; ; attempt++) {
      const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(this.limits.timeoutMs)]);
      try {
        await this.sink.send(event, signal);
        this.metrics.delivered.inc({ sink, type: event.type });
        return true;
      } catch (err) {
        if (this.#stop.signal.aborted) return false;
        const retryable = !(err instanceof DeliveryError) || err.retryable;
        if (!retryable || attempt >= this.limits.attempts) {
          this.metrics.failed.inc({ sink, type: event.type });
          this.logger.warn({ sink, type: event.type, id: event.id, attempts: attempt, err: describe(err, signal) }, 'failed to deliver event');
          return true;
        }
        this.metrics.retries.inc({ sink });
        if (!(await pause(backoff, this.#stop.signal))) return false;
        backoff = Math.min(backoff * 2, this.limits.maxBackoffMs);
      }
    }
  }
}

/** The reason only: an error may carry the request it failed on, and with it the sink's credentials. */
function describe(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'timed out';
  return err instanceof Error ? err.message : String(err);
}

/** Waits `ms`; false when `signal` aborted first. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
