import { Counter, Gauge, type Registry } from 'prom-client';

export interface SyncRun {
  readonly done: number;
  readonly bytes: number;
  addBytes(n: number): void;
  imageDone(result: 'synced' | 'skipped' | 'failed'): void;
}

/** Sync's Prometheus series on the app's registry (ctx.metrics), labelled by upstream host. */
export class SyncMetrics {
  readonly images: Counter<'registry' | 'result'>;
  readonly bytes: Counter<'registry'>;
  readonly progress: Gauge<'registry' | 'state'>;
  readonly upstreamRequests: Counter<'registry' | 'method' | 'code'>;
  readonly evicted: Counter<'kind'>;

  constructor(registry: Registry) {
    const registers = [registry];
    // A reload registers sync again: the series it already has keep counting instead of starting over.
    const once = <M>(name: string, make: () => M): M => (registry.getSingleMetric(name) as M | undefined) ?? make();
    this.images = once('berth_sync_images_total', () => new Counter({ name: 'berth_sync_images_total', help: 'Images handled by periodic sync, by result', labelNames: ['registry', 'result'], registers }));
    this.bytes = once('berth_sync_bytes_total', () => new Counter({ name: 'berth_sync_bytes_total', help: 'Blob bytes copied by periodic sync', labelNames: ['registry'], registers }));
    this.progress = once('berth_sync_run_images', () => new Gauge({ name: 'berth_sync_run_images', help: 'Images of the current or last periodic sync run (state: total, done)', labelNames: ['registry', 'state'], registers }));
    this.upstreamRequests = once('berth_sync_upstream_requests_total', () => new Counter({ name: 'berth_sync_upstream_requests_total', help: 'Requests sent to upstream registries', labelNames: ['registry', 'method', 'code'], registers }));
    this.evicted = once('berth_sync_evicted_total', () => new Counter({ name: 'berth_sync_evicted_total', help: 'Cached manifests and blobs removed by the sync TTL', labelNames: ['kind'], registers }));
  }

  startRun(registry: string, total: number): SyncRun {
    this.progress.set({ registry, state: 'total' }, total);
    this.progress.set({ registry, state: 'done' }, 0);
    const metrics = this;
    let done = 0;
    let bytes = 0;
    return {
      get done() {
        return done;
      },
      get bytes() {
        return bytes;
      },
      addBytes(n) {
        bytes += n;
        metrics.bytes.inc({ registry }, n);
      },
      imageDone(result) {
        done++;
        metrics.images.inc({ registry, result });
        metrics.progress.set({ registry, state: 'done' }, done);
      },
    };
  }
}
