import { Counter, Gauge, type Registry } from 'prom-client';
import type { ScrubImageResult } from './check';

/** Scrub's Prometheus series on the app's registry (ctx.metrics); Zot has none, so all are berth's. */
export class ScrubMetrics {
  readonly running: Gauge;
  readonly repositories: Gauge<'state'>;
  readonly images: Gauge<'status'>;
  readonly affected: Gauge<'repository' | 'tag' | 'blob' | 'error'>;
  readonly hashed: Counter;
  readonly passes: Counter<'result'>;
  readonly lastPass: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    // A reload registers scrub again: the series it already has carry on instead of being registered twice.
    const once = <M>(name: string, make: (name: string) => M): M => (registry.getSingleMetric(name) as M | undefined) ?? make(name);
    this.running = once('berth_scrub_running', (name) => new Gauge({ name, help: '1 while a scrub pass runs on this berth', registers }));
    this.repositories = once('berth_scrub_repositories', (name) => new Gauge({ name, help: 'Repositories of the current or last scrub pass (state: total, done)', labelNames: ['state'], registers }));
    this.images = once('berth_scrub_images', (name) => new Gauge({ name, help: 'Images the current or last scrub pass found ok or affected so far', labelNames: ['status'], registers }));
    this.affected = once('berth_scrub_affected_images', (name) => new Gauge({ name, help: 'Images the last scrub found affected (1 each), with the first wrong blob and Zot\'s error', labelNames: ['repository', 'tag', 'blob', 'error'], registers }));
    this.hashed = once('berth_scrub_hashed_bytes_total', (name) => new Counter({ name, help: 'Bytes re-hashed by scrub', registers }));
    this.passes = once('berth_scrub_passes_total', (name) => new Counter({ name, help: 'Scrub passes, by result (completed, stopped, failed)', labelNames: ['result'], registers }));
    this.lastPass = once('berth_scrub_last_pass_timestamp_seconds', (name) => new Gauge({ name, help: 'When the last completed scrub pass ended (Unix seconds)', registers }));
  }

  started(repositories: number): void {
    this.running.set(1);
    this.repositories.set({ state: 'total' }, repositories);
    this.repositories.set({ state: 'done' }, 0);
    for (const status of ['ok', 'affected']) this.images.set({ status }, 0);
  }

  repositoryDone(results: readonly ScrubImageResult[], hashed: number): void {
    this.repositories.inc({ state: 'done' });
    this.hashed.inc(hashed);
    for (const r of results) this.images.inc({ status: r.status });
  }

  /** A completed pass replaces the affected list: an image repaired (or deleted) since drops out. */
  completed(results: readonly ScrubImageResult[]): void {
    this.running.set(0);
    this.passes.inc({ result: 'completed' });
    this.lastPass.set(Date.now() / 1000);
    this.affected.reset();
    for (const r of results) {
      if (r.status === 'affected') this.affected.set({ repository: r.imageName, tag: r.tag, blob: r.affectedBlob, error: r.error }, 1);
    }
  }

  ended(result: 'stopped' | 'failed'): void {
    this.running.set(0);
    this.passes.inc({ result });
  }
}
