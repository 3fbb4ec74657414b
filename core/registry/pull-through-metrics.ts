import { Counter, Gauge, type Registry as PromRegistry } from 'prom-client';

export type PullKind = 'manifest' | 'blob';
/** hit: served from the cache; miss: a new upstream fetch; join: shared a fetch already under way. */
export type PullResult = 'hit' | 'miss' | 'join';
/** unreachable: could not be asked (down, timeout, 5xx); invalid: answered content that failed verification; fill: a blob download broke off. */
export type UpstreamErrorKind = 'unreachable' | 'invalid' | 'fill';

/**
 * berth's pull-through series (Zot has none), counted in the core where pull-through happens and served by the
 * metrics extension. `upstream` is the content source's upstream host: one series per configured upstream.
 */
export interface PullThroughMetrics {
  requests: Counter<'upstream' | 'kind' | 'result'>;
  upstreamBytes: Counter<'upstream'>;
  savedBytes: Counter<'upstream'>;
  errors: Counter<'upstream' | 'kind'>;
  fillsInFlight: Gauge<'upstream'>;
  up: Gauge<'upstream'>;
}

export function createPullThroughMetrics(registry: PromRegistry): PullThroughMetrics {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'berth_pull_through_requests_total',
      help: 'Pulls of content a content source serves, by kind (manifest, blob) and result (hit: from the cache, miss: fetched upstream, join: shared a fetch under way)',
      labelNames: ['upstream', 'kind', 'result'],
      registers,
    }),
    upstreamBytes: new Counter({ name: 'berth_pull_through_upstream_bytes_total', help: 'Bytes of manifests and blobs received from the upstream', labelNames: ['upstream'], registers }),
    savedBytes: new Counter({
      name: 'berth_pull_through_saved_bytes_total',
      help: 'Bytes of blobs served from the cache or a shared fill instead of a new upstream download',
      labelNames: ['upstream'],
      registers,
    }),
    errors: new Counter({
      name: 'berth_pull_through_upstream_errors_total',
      help: 'Upstream failures on pull-through, by kind (unreachable, invalid content, fill broken off)',
      labelNames: ['upstream', 'kind'],
      registers,
    }),
    fillsInFlight: new Gauge({ name: 'berth_pull_through_fills_in_flight', help: 'Blob downloads from the upstream under way', labelNames: ['upstream'], registers }),
    up: new Gauge({ name: 'berth_upstream_up', help: 'Whether the upstream answered the last time it was asked (1) or not (0)', labelNames: ['upstream'], registers }),
  };
}
