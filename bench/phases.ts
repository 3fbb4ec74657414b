// The measurements. Each phase alternates between the servers round by round, so drift on the machine
// (page cache, another process) hits both alike.
import { createHash } from 'node:crypto';
import type { BenchConfig } from './config.js';
import { MB, median } from './config.js';
import { digestOf } from './gen.js';
import { downloadRound, pushChunked, pushMonolithic, pushSmall, putManifest, timedPush } from './client.js';
import { nodeLoad, wrkLoad, type LoadResult } from './manifest-load.js';
import { performance } from 'node:perf_hooks';
import { cpuSeconds, memStatus, sampleRss, type Server } from './servers.js';

export const REPO = 'bench/app';
export const TAG = 'latest';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** Per server name, the measured value. */
export type PerServer = Record<string, number>;

/** CPU seconds the server and this client process spent while `fn` ran, and the wall time. */
export async function withCpu<T>(s: Server, fn: () => Promise<T>): Promise<{ value: T; serverCpu: number; clientCpu: number; wall: number }> {
  const c0 = cpuSeconds(s.pid);
  const u0 = cpuSeconds(process.pid, true); // this process plus exited children (curl, wrk)
  const t0 = performance.now();
  const value = await fn();
  const wall = (performance.now() - t0) / 1000;
  return { value, serverCpu: cpuSeconds(s.pid) - c0, clientCpu: cpuSeconds(process.pid, true) - u0, wall };
}

/** Totals over all rounds, for CPU per unit of work (more robust to a busy machine than throughput). */
export class CpuTally {
  private readonly t: Record<string, { server: number; client: number; wall: number; units: number }> = {};
  add(name: string, m: { serverCpu: number; clientCpu: number; wall: number }, units: number): void {
    const e = (this.t[name] ??= { server: 0, client: 0, wall: 0, units: 0 });
    e.server += m.serverCpu;
    e.client += m.clientCpu;
    e.wall += m.wall;
    e.units += units;
  }
  /** Server CPU seconds per unit. */
  perUnit(): PerServer {
    return Object.fromEntries(Object.entries(this.t).map(([k, e]) => [k, e.server / e.units]));
  }
  describe(name: string): string {
    const e = this.t[name]!;
    return `server CPU ${((e.server / e.wall) * 100).toFixed(0)}%, client CPU ${((e.client / e.wall) * 100).toFixed(0)}% of wall`;
  }
}

const SEED_BLOB = 1;
const SEED_BIG = 7;
const SEED_UPLOAD = 9;

/** Same content on both: the warm blob, a config blob and a small OCI manifest tagged `latest`. */
export async function seed(servers: Server[], cfg: BenchConfig): Promise<{ blobDigest: string }> {
  const blobDigest = digestOf(SEED_BLOB, cfg.blobBytes);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: blobDigest, size: cfg.blobBytes }],
      annotations: { 'org.opencontainers.image.title': 'berth benchmark' },
    }),
  );
  for (const s of servers) {
    log(`seeding ${s.name}: ${cfg.blobBytes / MB} MB blob, config, manifest`);
    await pushMonolithic(s.url, REPO, SEED_BLOB, cfg.blobBytes);
    await pushSmall(s.url, REPO, config, configDigest);
    await putManifest(s.url, REPO, TAG, OCI_MANIFEST, manifest);
  }
  return { blobDigest };
}

/** Warm blob GET MB/s at concurrency 1 and `cfg.concurrency` (median of rounds). */
export async function blobGet(
  servers: Server[],
  cfg: BenchConfig,
  digest: string,
): Promise<{ c1: PerServer; cN: PerServer; cpu1: PerServer; cpuN: PerServer }> {
  // Enough bytes per round (a second or so at loopback speed) that timer and scheduling noise averages out.
  const roundBytes1 = (cfg.quick ? 200 : 1000) * MB;
  const roundBytesN = (cfg.quick ? 320 : 1600) * MB;
  const per1 = Math.max(1, Math.round(roundBytes1 / cfg.blobBytes));
  const perN = Math.max(1, Math.round(roundBytesN / (cfg.concurrency * cfg.blobBytes)));
  const out = { c1: {} as PerServer, cN: {} as PerServer, cpu1: {} as PerServer, cpuN: {} as PerServer };
  for (const [label, conc, per, into, cpuInto] of [
    ['c=1', 1, per1, out.c1, out.cpu1],
    [`c=${cfg.concurrency}`, cfg.concurrency, perN, out.cN, out.cpuN],
  ] as const) {
    const runs: Record<string, number[]> = {};
    const cpu = new CpuTally();
    for (const s of servers) await downloadRound(`${s.url}/v2/${REPO}/blobs/${digest}`, conc, 1, cfg.getClient); // warm-up
    for (let r = 0; r < cfg.rounds; r++) {
      for (const s of servers) {
        const m = await withCpu(s, () => downloadRound(`${s.url}/v2/${REPO}/blobs/${digest}`, conc, per, cfg.getClient));
        cpu.add(s.name, m, m.value.bytes / 1e9);
        (runs[s.name] ??= []).push(m.value.mbps);
      }
    }
    for (const s of servers) {
      into[s.name] = median(runs[s.name]!);
      cpuInto[s.name] = cpu.perUnit()[s.name]!;
      const runsText = runs[s.name]!.map((x) => x.toFixed(0)).join(', ');
      log(`blob GET ${label} ${s.name}: ${runsText} MB/s -> median ${into[s.name]!.toFixed(0)}; ${cpu.describe(s.name)}`);
    }
  }
  return out;
}

/** Manifest GET by tag, req/s at `cfg.concurrency` connections (median of runs). */
export async function manifestGet(servers: Server[], cfg: BenchConfig, useWrk: boolean): Promise<{ rps: PerServer; cpuPerReq: PerServer; detail: Record<string, LoadResult[]> }> {
  const runs = Number(process.env.BENCH_MANIFEST_RUNS ?? (cfg.quick ? 1 : 3));
  const threads = Number(process.env.BENCH_WRK_THREADS ?? 1);
  const load = (url: string, seconds: number) =>
    useWrk ? wrkLoad(url, OCI_MANIFEST, cfg.concurrency, seconds, threads) : nodeLoad(url, OCI_MANIFEST, cfg.concurrency, seconds);
  const detail: Record<string, LoadResult[]> = {};
  const cpu = new CpuTally();
  for (const s of servers) await load(`${s.url}/v2/${REPO}/manifests/${TAG}`, 1); // warm-up (JIT, caches)
  for (let r = 0; r < runs; r++) {
    for (const s of servers) {
      const m = await withCpu(s, () => load(`${s.url}/v2/${REPO}/manifests/${TAG}`, cfg.manifestSeconds));
      const res = m.value;
      cpu.add(s.name, m, res.requests);
      if (res.errors > 0) throw new Error(`manifest GET on ${s.name}: ${res.errors} errors of ${res.requests} requests`);
      (detail[s.name] ??= []).push(res);
    }
  }
  const rps: PerServer = {};
  for (const s of servers) {
    rps[s.name] = median(detail[s.name]!.map((d) => d.rps));
    const lat = detail[s.name]!.at(-1)!;
    const runsText = detail[s.name]!.map((d) => d.rps.toFixed(0)).join(', ');
    log(`manifest GET ${s.name}: ${runsText} req/s (p50 ${lat.p50Ms?.toFixed(2)} ms, p99 ${lat.p99Ms?.toFixed(2)} ms); ${cpu.describe(s.name)}`);
  }
  return { rps, cpuPerReq: cpu.perUnit(), detail };
}

/** Push MB/s: POST + one streaming PUT, and chunked PATCHes; fresh content every round. */
export async function push(
  servers: Server[],
  cfg: BenchConfig,
): Promise<{ mono: PerServer; chunked: PerServer; cpuMono: PerServer; cpuChunked: PerServer }> {
  const rounds = Math.max(1, Number(process.env.BENCH_PUSH_ROUNDS ?? (cfg.quick ? 2 : 3)));
  const out = { mono: {} as PerServer, chunked: {} as PerServer, cpuMono: {} as PerServer, cpuChunked: {} as PerServer };
  for (const [label, into, cpuInto, chunked] of [
    ['monolithic', out.mono, out.cpuMono, false],
    ['chunked', out.chunked, out.cpuChunked, true],
  ] as const) {
    const runs: Record<string, number[]> = {};
    const cpu = new CpuTally();
    for (let r = 0; r < rounds; r++) {
      const seedN = 100 + r * 2 + (chunked ? 1 : 0);
      digestOf(seedN, cfg.pushBytes); // hash before the clock starts
      for (const s of servers) {
        const go = () =>
          chunked
            ? pushChunked(s.url, 'bench/push', seedN, cfg.pushBytes, cfg.chunkBytes)
            : pushMonolithic(s.url, 'bench/push', seedN, cfg.pushBytes);
        const m = await withCpu(s, () => timedPush(go, cfg.pushBytes));
        cpu.add(s.name, m, cfg.pushBytes / 1e9);
        (runs[s.name] ??= []).push(m.value);
      }
    }
    for (const s of servers) {
      into[s.name] = median(runs[s.name]!);
      cpuInto[s.name] = cpu.perUnit()[s.name]!;
      const runsText = runs[s.name]!.map((x) => x.toFixed(0)).join(', ');
      log(`push ${label} ${s.name}: ${runsText} MB/s -> median ${into[s.name]!.toFixed(0)}; ${cpu.describe(s.name)}`);
    }
  }
  return out;
}

export interface RssResult {
  /** Peak RSS (bytes) while `concurrency` clients download the big blob. */
  downloadPeak: PerServer;
  downloadBase: PerServer;
  downloadMBps: PerServer;
  /** RSS samples (bytes) during the streamed upload. */
  upload: Record<string, { base: number; min: number; max: number; growth: number; trend: number; samples: number }>;
  uploadMBps: PerServer;
}

/** Memory under load: N concurrent downloads of a big blob, then one big streamed upload. */
export async function rss(servers: Server[], cfg: BenchConfig): Promise<RssResult> {
  const out: RssResult = { downloadPeak: {}, downloadBase: {}, downloadMBps: {}, upload: {}, uploadMBps: {} };
  const bigDigest = digestOf(SEED_BIG, cfg.bigBytes);
  for (const s of servers) {
    log(`seeding ${s.name}: ${(cfg.bigBytes / 2 ** 20).toFixed(0)} MiB blob`);
    await pushMonolithic(s.url, REPO, SEED_BIG, cfg.bigBytes);
  }
  for (const s of servers) {
    out.downloadBase[s.name] = memStatus(s.pid).rss;
    const sampler = sampleRss(s.pid, 50);
    const res = await downloadRound(`${s.url}/v2/${REPO}/blobs/${bigDigest}`, cfg.concurrency, 1, cfg.getClient);
    const { peak, peakExact } = sampler.stop();
    out.downloadPeak[s.name] = peak;
    out.downloadMBps[s.name] = res.mbps;
    log(`${cfg.concurrency}x big GET ${s.name}: ${res.mbps.toFixed(0)} MB/s, RSS ${mb(out.downloadBase[s.name]!)} -> peak ${mb(peak)}${peakExact ? '' : ' (sampled)'}`);
  }
  digestOf(SEED_UPLOAD, cfg.uploadBytes);
  for (const s of servers) {
    const base = memStatus(s.pid).rss;
    const sampler = sampleRss(s.pid, 100);
    const mbps = await timedPush(() => pushMonolithic(s.url, 'bench/upload', SEED_UPLOAD, cfg.uploadBytes), cfg.uploadBytes);
    const { samples, peak } = sampler.stop();
    const half = Math.max(1, samples.length >> 1);
    const trend = Math.max(...samples.slice(half)) - Math.max(...samples.slice(0, half));
    out.upload[s.name] = { base, min: Math.min(...samples), max: peak, growth: peak - base, trend, samples: samples.length };
    out.uploadMBps[s.name] = mbps;
    log(`big upload ${s.name}: ${mbps.toFixed(0)} MB/s, RSS min ${mb(Math.min(...samples))} max ${mb(peak)} (base ${mb(base)}, 2nd-half vs 1st-half peak ${mb(trend)})`);
  }
  return out;
}

export const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;
