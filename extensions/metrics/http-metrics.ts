import { Counter, Histogram, type Registry, Summary } from 'prom-client';
import type { RequestObservation, RequestObserver } from '../../core/extensions/api';

/** Zot's buckets for `zot_http_method_latency_seconds` (pkg/extensions/monitoring GetDefaultBuckets). */
const ZOT_BUCKETS = [0.05, 0.5, 1, 5, 30, 60, 600];
/** berth's per-route histogram: fine enough below 50 ms, where a warm registry answers. */
const ROUTE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Zot's label for a request that names no repository. */
const NO_REPO = 'N/A';

/**
 * Zot's request series (zot_http_*) and berth's per-route histogram, fed by the core's request seam.
 * `skip` is the metrics route itself: Zot leaves scrapes out of its request metrics.
 */
export function httpMetrics(registry: Registry, skip: (o: RequestObservation) => boolean): RequestObserver {
  const registers = [registry];
  const requests = new Counter({ name: 'zot_http_requests_total', help: 'Total number of http request in zot', labelNames: ['method', 'code'], registers });
  // Zot's is a Go summary with no objectives: only _sum and _count.
  const repoLatency = new Summary({ name: 'zot_http_repo_latency_seconds', help: 'Latency of serving HTTP requests', labelNames: ['repo'], percentiles: [], registers });
  const methodLatency = new Histogram({ name: 'zot_http_method_latency_seconds', help: 'Latency of serving HTTP requests', labelNames: ['method'], buckets: ZOT_BUCKETS, registers });
  const routeLatency = new Histogram({
    name: 'berth_http_request_duration_seconds',
    help: 'Latency of serving HTTP requests, by method and route template',
    labelNames: ['method', 'route'],
    buckets: ROUTE_BUCKETS,
    registers,
  });
  return (o) => {
    if (skip(o)) return;
    requests.inc({ method: o.method, code: String(o.status) });
    // A refused or unknown name gets no series of its own: anyone could otherwise mint series by asking.
    repoLatency.observe({ repo: o.repo !== undefined && o.status < 400 ? o.repo : NO_REPO }, o.durationSeconds);
    methodLatency.observe({ method: o.method }, o.durationSeconds);
    routeLatency.observe({ method: o.method, route: o.route }, o.durationSeconds);
  };
}
