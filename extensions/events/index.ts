import { defineExtension } from '../../core/extensions/api';
import { createCloudEvent } from './cloud-event';
import { DeliveryQueue, type DeliveryLimits } from './delivery-queue';
import { EventsMetrics } from './events-metrics';
import { createHttpSink } from './http-sink';
import type * as NatsSink from './nats-sink';
import { followRegistryEvents } from './registry-events';
import { eventsSchema, type EventsConfig, type SinkConfig } from './schema';
import type { Sink } from './sink';
import { readSinkFile, readTlsFiles } from './tls-files';

// Zot's CloudEvents `source` and type namespace (pkg/extensions/events/common.go), so consumers written for
// Zot keep matching; `source` and `typePrefix` change them.
const ZOT_SOURCE = 'zotregistry.dev';
const ZOT_TYPE_PREFIX = 'zotregistry';

const LIMITS: Omit<DeliveryLimits, 'timeoutMs'> = {
  maxEvents: 1_000,
  maxBytes: 16 * 1024 * 1024,
  attempts: 4,
  firstBackoffMs: 500,
  maxBackoffMs: 10_000,
};
/** How long shutdown waits for queued events to go out. */
const SHUTDOWN_GRACE_MS = 5_000;

/**
 * Zot's `extensions.events`: registry changes as CloudEvents to every configured sink (HTTP or NATS), each
 * through its own bounded queue, in order, with retries; a request never waits for a sink.
 */
export default defineExtension<EventsConfig>({
  name: 'events',
  apiVersion: 1,
  configSchema: eventsSchema, // composed into the whole config's schema by the core
  register(ctx) {
    const { config, logger } = ctx;
    if (config.sinks.length === 0) {
      logger.warn('no event sinks configured (extensions.events.sinks): no events are sent');
      return;
    }
    const source = config.source?.trim() || ZOT_SOURCE;
    const prefix = config.typePrefix?.trim() || ZOT_TYPE_PREFIX;
    const metrics = new EventsMetrics(ctx.metrics);
    const queues = config.sinks.map((sink, i) => new DeliveryQueue(createSink(sink, i, source), { ...LIMITS, timeoutMs: sink.timeout }, metrics, logger));
    followRegistryEvents(ctx.events, (type, data) => {
      const event = createCloudEvent(`${prefix}.${type}`, source, data);
      for (const queue of queues) queue.push(event);
    });
    ctx.onShutdown(async () => {
      await Promise.all(queues.map((q) => q.close(SHUTDOWN_GRACE_MS)));
    });
    logger.info({ sinks: queues.length }, 'event sinks ready');
  },
});

function createSink(config: SinkConfig, index: number, source: string): Sink {
  const label = `${config.type}[${index}]`;
  const at = `extensions.events.sinks[${index}]`;
  const tls = readTlsFiles(config, at);
  if (config.type === 'http') return createHttpSink(label, config, tls);
  const creds = config.credentials.file ? readSinkFile(config.credentials.file, `${at}.credentials.file`) : undefined;
  // The NATS client is loaded when a NATS sink is configured.
  const { createNatsSink } = require('./nats-sink') as typeof NatsSink;
  return createNatsSink(label, config, tls, creds, source);
}
