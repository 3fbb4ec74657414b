import { collectDefaultMetrics, Gauge } from 'prom-client';
import { berthVersion, defineExtension } from '../../core/extensions/api';
import { httpMetrics } from './http-metrics';
import { RepoMetrics } from './repo-metrics';
import { metricsSchema, type MetricsConfig } from './schema';

/** Every repository's storage is measured again this often, so what GC freed shows (changes show at once). */
const MEASURE_ALL_EVERY_MS = 60 * 60_000;

/**
 * Zot's metrics extension: Prometheus text at `prometheus.path` (default /metrics) with Zot's series, plus
 * everything berth counts on the app's registry (berth_*: pull-through, sync, GC, dedupe, auth, storage
 * drivers). Scrapes are guarded as Zot guards them (`http.accessControl.metrics`). The route exists only with
 * the extension on; the core's counters are cheap and count either way.
 */
export default defineExtension<MetricsConfig>({
  name: 'metrics',
  apiVersion: 1,
  configSchema: metricsSchema,
  register(ctx) {
    const path = ctx.config.prometheus.path;
    const registry = ctx.metrics;
    // Zot's Go client exports process_* and go_*; Node's counterparts are process_* and nodejs_*, less three
    // gauges prom-client names *_total, which Prometheus reserves for counters (promtool rejects them).
    collectDefaultMetrics({ register: registry });
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
    new Gauge({ name: 'zot_info', help: 'Zot general information', labelNames: ['commit', 'binaryType', 'goVersion', 'version'], registers: [registry] })
      .set({ commit: '', binaryType: 'berth', goVersion: process.version, version: berthVersion() }, 0);

    ctx.http.observe(httpMetrics(registry, (o) => o.route === path));
    const repos = new RepoMetrics(registry, () => ctx.registry, ctx.logger);
    // Every repository is measured at start-up in the background, then now and then; changes right away.
    ctx.events.on('image.pulled', (e) => repos.downloaded(e.repo));
    ctx.events.on('manifest.stored', (e) => repos.uploaded(e.repo));
    ctx.events.on('manifest.deleted', (e) => repos.changed(e.repo));
    ctx.schedule(MEASURE_ALL_EVERY_MS, (signal) => repos.measureAll(signal), { id: 'storage-bytes', initialDelay: 0 });
    ctx.onShutdown(() => repos.close());

    ctx.routes.get(path, async (http) => {
      const text = await registry.metrics();
      http.set('Content-Type', registry.contentType);
      http.set('Cache-Control', 'no-store');
      http.body = text;
    }, { access: 'metrics' });
  },
});
