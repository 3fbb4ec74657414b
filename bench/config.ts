// Benchmark sizes and knobs, all overridable by environment variables (see docs/benchmarks.md).

export const MB = 1_000_000;
export const MiB = 1 << 20;

export interface BenchConfig {
  quick: boolean;
  /** Size of the warm blob fetched in the GET throughput rows. */
  blobBytes: number;
  /** Size of the blob pushed in the push rows. */
  pushBytes: number;
  /** PATCH chunk size for the chunked push. */
  chunkBytes: number;
  /** Blob fetched by `concurrency` clients at once while berth's RSS is sampled. */
  bigBytes: number;
  /** Blob streamed in one PUT while berth's RSS is sampled. */
  uploadBytes: number;
  concurrency: number;
  /** Measured rounds per throughput figure; the median is reported. */
  rounds: number;
  /** Duration of one manifest GET run (seconds). */
  manifestSeconds: number;
  /** 'wrk' (default when installed) or 'node' for the manifest GET client. */
  manifestClient: 'wrk' | 'node' | 'auto';
  /** Client for blob GETs: Node's http (default) or one curl process per download. */
  getClient: 'node' | 'curl';
  /** Extra node flags for berth's process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
  berthNodeFlags: string[];
  /** Repositories generated for the catalog-at-scale section (bench/catalog-scale.ts). */
  repos: number;
  /** Repositories generated for the search section (bench/search-scale.ts). */
  searchRepos: number;
  /** Subset of phases to run: get, manifest, push, rss, catalog, gc, search (default all). */
  only: Set<string>;
  /** Write the results as JSON to this file as well. */
  jsonOut?: string;
  /** Exit non-zero when a target is missed. */
  strict: boolean;
}

function num(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${raw}: expected a positive number`);
  return n;
}

export function loadConfig(): BenchConfig {
  const quick = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';
  const onlyRaw = process.env.BENCH_ONLY ?? '';
  const phases = ['get', 'manifest', 'push', 'rss', 'catalog', 'gc', 'search'];
  const only = new Set(onlyRaw ? onlyRaw.split(',').map((s) => s.trim()).filter(Boolean) : phases);
  for (const p of only) if (!phases.includes(p)) throw new Error(`BENCH_ONLY: unknown phase ${p} (use ${phases.join(',')})`);
  const client = process.env.BENCH_MANIFEST_CLIENT ?? 'auto';
  if (client !== 'wrk' && client !== 'node' && client !== 'auto') throw new Error(`BENCH_MANIFEST_CLIENT=${client}`);
  const getClient = process.env.BENCH_GET_CLIENT ?? 'node';
  if (getClient !== 'node' && getClient !== 'curl') throw new Error(`BENCH_GET_CLIENT=${getClient}`);
  return {
    quick,
    getClient,
    blobBytes: Math.round(num('BENCH_BLOB_MB', quick ? 20 : 100) * MB),
    pushBytes: Math.round(num('BENCH_PUSH_MB', quick ? 20 : 200) * MB),
    chunkBytes: Math.round(num('BENCH_CHUNK_MB', quick ? 5 : 10) * MB),
    bigBytes: Math.round(num('BENCH_BIG_MIB', quick ? 200 : 1024) * MiB),
    uploadBytes: Math.round(num('BENCH_UPLOAD_MIB', quick ? 200 : 2048) * MiB),
    concurrency: Math.round(num('BENCH_CONCURRENCY', 16)),
    repos: Math.round(num('BENCH_REPOS', quick ? 10_000 : 100_000)),
    searchRepos: Math.round(num('BENCH_SEARCH_REPOS', quick ? 2_000 : 10_000)),
    rounds: Math.round(num('BENCH_ROUNDS', quick ? 3 : 7)),
    manifestSeconds: num('BENCH_MANIFEST_SECONDS', quick ? 2 : 5),
    manifestClient: client,
    berthNodeFlags: (process.env.BENCH_BERTH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean),
    only,
    jsonOut: process.env.BENCH_JSON || undefined,
    strict: process.env.BENCH_STRICT === '1',
  };
}

export const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const fmtMB = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;
