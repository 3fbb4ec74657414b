// berth vs CNCF Distribution, same machine, same run: blob GET, manifest GET, push throughput, and
// berth's memory under load. `npm run bench` (full, a few minutes) or `BENCH_QUICK=1 npm run bench`.
import { cpus, totalmem } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { cleanupTempDirs, ensureTools } from '../test/helpers/tools.js';
import { closeClient } from './client.js';
import { loadConfig, MB } from './config.js';
import { ensureWrk } from './manifest-load.js';
import { blobGet, manifestGet, push, rss, seed, type PerServer, type RssResult } from './phases.js';
import { table, verdict, type Row, type Target } from './report.js';
import { startBerthProcess, startDistribution, type Server } from './servers.js';
import { runCatalogScale } from './catalog-scale.js';
import { runDedupeBench } from './dedupe-bench.js';
import { runExtensionsCost } from './extensions-cost.js';
import { runGcScale } from './gc-scale.js';
import { runSearchScale } from './search-scale.js';
import { runSyncBench } from './sync-bench.js';
import { runS3Throughput } from './s3-throughput.js';
import { runClusterPush } from './cluster-push.js';

const loadavg = (): string => {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!;
  } catch {
    return 'n/a';
  }
};
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** Berth's memory targets: peak while serving big downloads, and growth across a big upload. */
const RSS_PEAK_MAX = 150 * MB;
const RSS_TREND_MAX = 16 * MB;

async function main(): Promise<number> {
  const cfg = loadConfig();
  const started = Date.now();
  const loadBefore = loadavg();
  const servers: Server[] = [];
  const rows: Row[] = [];
  const targets: Target[] = [];
  let client = 'n/a';
  try {
    await ensureTools(['docker-registry']);
    const useWrk = cfg.only.has('manifest') && cfg.manifestClient !== 'node' && (await ensureWrk());
    if (cfg.manifestClient === 'wrk' && !useWrk) throw new Error('BENCH_MANIFEST_CLIENT=wrk but wrk is not available');
    client = useWrk ? 'wrk' : 'node http.Agent';
    if (cfg.getClient === 'curl') await ensureTools(['curl']);
    // The catalog section starts its own servers on its generated roots; the others share these two.
    const shared = ['get', 'manifest', 'push', 'rss'].some((p) => cfg.only.has(p));
    if (shared) {
      servers.push(await startBerthProcess(cfg.berthNodeFlags));
      servers.push(await startDistribution());
      log(`berth pid ${servers[0]!.pid} at ${servers[0]!.url}; distribution pid ${servers[1]!.pid} at ${servers[1]!.url}`);
    }
    const { blobDigest } = shared ? await seed(servers, cfg) : { blobDigest: '' };

    const pair = (metric: string, unit: string, v: PerServer, better: Row['better'] = 'higher'): Row => {
      const row: Row = { metric, unit, berth: v.berth, distribution: v.distribution, better };
      rows.push(row);
      return row;
    };
    const ratioTarget = (name: string, row: Row, min: number) =>
      targets.push({ name, value: row.berth! / row.distribution!, min, unit: '×' });

    const blobMB = `${cfg.blobBytes / MB} MB`;
    if (cfg.only.has('get')) {
      const g = await blobGet(servers, cfg, blobDigest);
      ratioTarget('blob GET c=1, berth/distribution', pair(`blob GET ${blobMB} warm, c=1 (MB/s)`, 'MB/s', g.c1), 1.2);
      ratioTarget(`blob GET c=${cfg.concurrency}, berth/distribution`, pair(`blob GET ${blobMB} warm, c=${cfg.concurrency} (MB/s)`, 'MB/s', g.cN), 1.2);
      pair('  server CPU per GB served, c=1 (CPU-s/GB)', 'CPU-s', g.cpu1, 'lower');
      pair(`  server CPU per GB served, c=${cfg.concurrency} (CPU-s/GB)`, 'CPU-s', g.cpuN, 'lower');
    }
    if (cfg.only.has('manifest')) {
      const m = await manifestGet(servers, cfg, useWrk);
      ratioTarget('manifest GET, berth/distribution', pair(`manifest GET by tag, c=${cfg.concurrency} (req/s, ${client})`, 'req/s', m.rps), 1.0);
      const us = Object.fromEntries(Object.entries(m.cpuPerReq).map(([k, v]) => [k, v * 1e6]));
      pair('  server CPU per manifest GET (µs)', 'µs', us, 'lower');
    }
    if (cfg.only.has('push')) {
      const p = await push(servers, cfg);
      const pushMB = `${cfg.pushBytes / MB} MB`;
      ratioTarget('push POST+PUT, berth/distribution', pair(`push ${pushMB} POST+PUT (MB/s)`, 'MB/s', p.mono), 1.0);
      ratioTarget('push chunked, berth/distribution', pair(`push ${pushMB} PATCH ${cfg.chunkBytes / MB} MB chunks (MB/s)`, 'MB/s', p.chunked), 1.0);
      pair('  server CPU per GB pushed, POST+PUT (CPU-s/GB)', 'CPU-s', p.cpuMono, 'lower');
      pair('  server CPU per GB pushed, chunked (CPU-s/GB)', 'CPU-s', p.cpuChunked, 'lower');
    }
    if (cfg.only.has('rss')) {
      const r: RssResult = await rss(servers, cfg);
      const big = `${(cfg.bigBytes / 2 ** 30).toFixed(2).replace(/\.?0+$/, '')} GiB`;
      const up = `${(cfg.uploadBytes / 2 ** 30).toFixed(2).replace(/\.?0+$/, '')} GiB`;
      const toMB = (v: PerServer) => Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x / MB]));
      const each = (f: (u: RssResult['upload'][string]) => number) =>
        Object.fromEntries(Object.entries(r.upload).map(([k, u]) => [k, f(u) / MB]));
      const peak = pair(`peak RSS, ${cfg.concurrency}× GET of ${big} blob (MB)`, 'MB', toMB(r.downloadPeak), 'lower');
      pair(`  RSS just before those GETs (MB)`, 'MB', toMB(r.downloadBase), 'lower');
      pair(`  throughput of those ${cfg.concurrency} GETs (MB/s)`, 'MB/s', r.downloadMBps);
      pair(`RSS during ${up} upload: min (MB)`, 'MB', each((u) => u.min), 'lower');
      pair(`RSS during ${up} upload: max (MB)`, 'MB', each((u) => u.max), 'lower');
      const growth = pair(`RSS during ${up} upload: max − before (MB)`, 'MB', each((u) => u.growth), 'lower');
      const trend = pair(`RSS during ${up} upload: 2nd-half − 1st-half peak (MB)`, 'MB', each((u) => u.trend), 'lower');
      growth.delta = trend.delta = true;
      pair(`  upload throughput, ${up} POST+PUT (MB/s)`, 'MB/s', r.uploadMBps);
      targets.push({ name: `berth peak RSS, ${cfg.concurrency}× GET of ${big}`, value: peak.berth! * MB, max: RSS_PEAK_MAX, unit: 'B' });
      targets.push({ name: `berth RSS flat during ${up} upload (2nd-half − 1st-half peak)`, value: trend.berth! * MB, max: RSS_TREND_MAX, unit: 'B' });
    }
    await runSyncBench(cfg, rows, targets, log); // pull-through: its own servers, so after the others stop competing
    if (cfg.only.has('catalog')) {
      const scale = await runCatalogScale(cfg.repos, log);
      rows.push(...scale.rows);
      targets.push(...scale.targets);
    }
    await runS3Throughput(cfg, rows, targets, log); // S3 storage, both registries on one S3 server of its own
    await runClusterPush(cfg, rows, targets, log); // 3 replicas vs 1 behind one HAProxy, S3 + Redis of its own
    await runDedupeBench(cfg, rows, targets, log); // dedupe on vs off: two berths of its own, likewise
    await runExtensionsCost(cfg, rows, targets, log); // extensions on vs all off: berths of its own, likewise
    if (cfg.only.has('gc')) rows.push(...(await runGcScale(cfg.repos, log))); // berth only: Distribution's GC is offline
    if (cfg.only.has('search')) {
      const search = await runSearchScale(cfg.searchRepos, log); // berth only: Distribution has no search
      rows.push(...search.rows);
      targets.push(...search.targets);
    }
  } finally {
    const stops = await Promise.allSettled(servers.map((s) => s.stop()));
    stops.forEach((s, i) => s.status === 'rejected' && log(`stopping ${servers[i]!.name}: ${String(s.reason)}`));
    closeClient();
    await cleanupTempDirs();
  }

  // Byte-valued targets print in MB.
  const shown = targets.map((t) => (t.unit === 'B' ? { ...t, value: t.value! / MB, max: t.max! / MB, unit: 'MB' } : t));
  const verdicts = shown.map(verdict);
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}`;
  console.log(`\nberth vs CNCF Distribution — ${when}${cfg.quick ? ' (BENCH_QUICK)' : ''}`);
  console.log(`machine: ${machine}; manifest client: ${client}; blob GET client: ${cfg.getClient}; ${((Date.now() - started) / 1000).toFixed(0)} s`);
  // Other work on the machine skews every figure; the load average shows whether there was any.
  console.log(`load average (1 min) before: ${loadBefore}, after: ${loadavg()}`);
  if (Number(loadBefore) > 0.5) console.log('warning: the machine was busy before the run started; figures are noisy, rerun on an idle machine');
  console.log('');
  console.log(table(rows));
  console.log('\ntargets:');
  for (const v of verdicts) console.log(`  ${v.text}`);
  if (cfg.jsonOut) writeFileSync(cfg.jsonOut, JSON.stringify({ when, machine, client, getClient: cfg.getClient, loadBefore, loadAfter: loadavg(), quick: cfg.quick, rows, targets: shown, verdicts }, null, 2));
  return cfg.strict && verdicts.some((v) => v.verdict === 'MISS') ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
