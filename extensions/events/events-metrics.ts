import { Counter, Gauge, type Registry } from 'prom-client';

/** The events extension's series on the app's registry (ctx.metrics), labelled by sink (`http[0]`, `nats[1]`). */
export class EventsMetrics {
  readonly delivered: Counter<'sink' | 'type'>;
  readonly failed: Counter<'sink' | 'type'>;
  readonly dropped: Counter<'sink' | 'reason'>;
  readonly retries: Counter<'sink'>;
  readonly queued: Gauge<'sink'>;

  constructor(registry: Registry) {
    const registers = [registry];
    const once = <M>(name: string, make: () => M): M => (registry.getSingleMetric(name) as M | undefined) ?? make();
    this.delivered = once('berth_events_delivered_total', () => new Counter({
      name: 'berth_events_delivered_total', help: 'CloudEvents a sink accepted, by sink and event type', labelNames: ['sink', 'type'], registers,
    }));
    this.failed = once('berth_events_failed_total', () => new Counter({
      name: 'berth_events_failed_total', help: 'CloudEvents given up on after every delivery attempt failed, by sink and event type', labelNames: ['sink', 'type'], registers,
    }));
    this.dropped = once('berth_events_dropped_total', () => new Counter({
      name: 'berth_events_dropped_total', help: 'CloudEvents never sent: the sink\'s queue was full (queue_full) or berth stopped first (shutdown)', labelNames: ['sink', 'reason'], registers,
    }));
    this.retries = once('berth_events_retries_total', () => new Counter({
      name: 'berth_events_retries_total', help: 'Delivery attempts repeated after a failure, by sink', labelNames: ['sink'], registers,
    }));
    this.queued = once('berth_events_queued', () => new Gauge({
      name: 'berth_events_queued', help: 'CloudEvents waiting for delivery, by sink', labelNames: ['sink'], registers,
    }));
  }
}
