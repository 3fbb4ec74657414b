// Chunked push through HAProxy round-robin (no sticky sessions) to 3 berth replicas on one S3 bucket (s3rver)
// and one Redis MetaStore, against the same HAProxy with two of the replicas disabled, so the only difference
// is where each request lands (issue 11: 3 replicas ≥ 0.8× of one). With 3 replicas every PATCH may land on
// another replica than the one before, which continues the upload from the state in Redis and S3. Part of
// `npm run bench` (skipped with BENCH_CLUSTER=0; with BENCH_ONLY set it runs only when BENCH_CLUSTER=1), or alone:
//   npx tsc -p . && node dist/bench/cluster-push.js
import { startCluster } from '../test/helpers/cluster.js';
import { pushChunked } from './client.js';
import { MiB, median, type BenchConfig } from './config.js';
import { digestOf } from './gen.js';
import type { Row, Target } from './report.js';
import { requireFreeDisk } from './s3-backend.js';
import { runAlone } from './standalone.js';

const REPO = 'bench/cluster';
const CONCURRENCY = [1, 4] as const;
type Mode = '3 replicas' | '1 replica';

export async function runClusterPush(cfg: BenchConfig, rows: Row[], targets: Target[], log: (m: string) => void): Promise<void> {
  const wanted = process.env.BENCH_CLUSTER ?? (process.env.BENCH_ONLY ? '0' : '1');
  if (wanted === '0') return;
  const size = Math.round(Number(process.env.BENCH_CLUSTER_BLOB_MIB ?? (cfg.quick ? 32 : 64)) * MiB);
  const rounds = Math.max(1, Number(process.env.BENCH_CLUSTER_ROUNDS ?? (cfg.quick ? 1 : 3)));
  const cluster = await startCluster({
    replicas: 3,
    // GC on as the cluster runs it, at its default interval: no pass falls inside the measurement.
    gcDelay: '1h',
    gcInterval: '1h',
    config: { log: { level: 'warn' } },
  });
  try {
    requireFreeDisk(cluster.s3.dir, 1.2 * rounds * 2 * (CONCURRENCY[0] + CONCURRENCY[1]) * size, 'the cluster bench');
    const { haproxy } = cluster;
    const setMode = async (mode: Mode) => {
      for (const name of ['r1', 'r2']) await haproxy.command(`${mode === '1 replica' ? 'disable' : 'enable'} server berth-cluster/${name}`);
      for (const name of ['r1', 'r2']) await haproxy.waitStatus(name, mode === '1 replica' ? 'MAINT' : 'UP');
    };
    log(`cluster bench: haproxy at ${cluster.url}, replicas ${cluster.replicas.map((r) => r.daemon.pid).join(', ')}; ${size / MiB} MiB blobs in ${cfg.chunkBytes / 1e6} MB PATCHes, ${rounds} rounds`);
    // Unmeasured: every replica's JIT warms up on the upload path (with 3 replicas each sees a third of the requests).
    await setMode('3 replicas');
    await Promise.all([0, 1, 2].map((i) => pushChunked(cluster.url, REPO, 4090 + i, 6 * cfg.chunkBytes, cfg.chunkBytes)));
    const modes: Mode[] = ['3 replicas', '1 replica'];
    for (const conc of CONCURRENCY) {
      const runs: Record<Mode, number[]> = { '3 replicas': [], '1 replica': [] };
      let spread = '';
      for (let r = 0; r < rounds; r++) {
        for (const mode of r % 2 === 0 ? modes : [...modes].reverse()) {
          await setMode(mode);
          const seeds = Array.from({ length: conc }, (_, i) => 4000 + conc * 100 + r * 10 + (mode === '1 replica' ? 5 : 0) + i);
          for (const seed of seeds) digestOf(seed, size); // hash before the clock starts
          const logged = haproxy.log().length;
          const t0 = performance.now();
          await Promise.all(seeds.map((seed) => pushChunked(cluster.url, REPO, seed, size, cfg.chunkBytes)));
          runs[mode].push((conc * size) / 1e6 / ((performance.now() - t0) / 1000));
          if (mode === '3 replicas') {
            const per: Record<string, number> = {};
            for (const line of haproxy.log().slice(logged)) per[line.server] = (per[line.server] ?? 0) + 1;
            spread = Object.entries(per).sort().map(([k, v]) => `${k} ${v}`).join(', ');
          }
        }
      }
      for (const mode of modes) log(`cluster chunked c=${conc} ${mode}: ${runs[mode].map((x) => x.toFixed(0)).join(', ')} MB/s`);
      log(`cluster chunked c=${conc}: requests per replica in the last 3-replica round: ${spread}`);
      const row: Row = {
        metric: `cluster push ${size / MiB} MiB PATCH ${cfg.chunkBytes / 1e6} MB chunks via HAProxy, c=${conc} (MB/s) [2nd column: 1 replica]`,
        unit: 'MB/s',
        berth: median(runs['3 replicas']),
        distribution: median(runs['1 replica']),
        better: 'higher',
      };
      rows.push(row);
      targets.push({ name: `cluster chunked push c=${conc}, 3 replicas/1 replica`, value: row.berth! / row.distribution!, min: 0.8, unit: '×' });
    }
  } finally {
    await cluster.stop().catch((err: unknown) => log(`cluster bench: stopping: ${String(err)}`));
  }
}

if (require.main === module) runAlone(runClusterPush);
