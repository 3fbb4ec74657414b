// Push throughput with storage.dedupe on vs off (issue 9: dedupe must not cost a push more than 10%): two berth
// processes, identical but for `dedupe`, take the same pushes in alternating order each round. Two workloads:
// one blob pushed into K repositories (dedupe links every copy after the first) and K different blobs (dedupe
// only records them). Also the bytes each root holds afterwards. Part of `npm run bench` (skipped with
// BENCH_DEDUPE=0; with BENCH_ONLY set it runs only when BENCH_DEDUPE=1), or alone:
//   npx tsc -p . && node dist/bench/dedupe-bench.js
import { execFileSync } from 'node:child_process';
import { spawnBerth, type BerthProcess } from '../test/helpers/berth-process.js';
import { pushMonolithic } from './client.js';
import { MB, median, type BenchConfig } from './config.js';
import { digestOf } from './gen.js';
import { cpuSeconds } from './servers.js';
import type { Row, Target } from './report.js';
import { runAlone } from './standalone.js';

const REPOS = 8;

/** Bytes on disk under `root`, hard links counted once (du does). */
function diskBytes(root: string): number {
  return Number(execFileSync('du', ['-s', '--block-size=1', root], { encoding: 'utf8' }).split('\t')[0]);
}

type Mode = 'on' | 'off';
interface Tally {
  seconds: number;
  cpu: number;
}

/**
 * One workload: each of the `seeds` pushed into its own repository on both servers, one push at a time and
 * alternating which server goes first, so load from elsewhere on the machine falls on both alike. Returns the
 * wall and server CPU seconds per server.
 */
async function pushPaired(servers: Array<{ name: Mode; berth: BerthProcess }>, prefix: string, seeds: number[], size: number): Promise<Record<Mode, Tally>> {
  const out: Record<Mode, Tally> = { on: { seconds: 0, cpu: 0 }, off: { seconds: 0, cpu: 0 } };
  for (let i = 0; i < seeds.length; i++) {
    for (const { name, berth } of i % 2 === 0 ? servers : [...servers].reverse()) {
      const cpu0 = cpuSeconds(berth.daemon.pid);
      const t0 = performance.now();
      await pushMonolithic(berth.url, `${prefix}-${i}`, seeds[i]!, size);
      out[name].seconds += (performance.now() - t0) / 1000;
      out[name].cpu += cpuSeconds(berth.daemon.pid) - cpu0;
    }
  }
  return out;
}

export async function runDedupeBench(cfg: BenchConfig, rows: Row[], targets: Target[], log: (m: string) => void): Promise<void> {
  const wanted = process.env.BENCH_DEDUPE ?? (process.env.BENCH_ONLY ? '0' : '1');
  if (wanted === '0') return;
  const size = Math.round(Number(process.env.BENCH_DEDUPE_MB ?? (cfg.quick ? 8 : 16)) * MB);
  const rounds = Math.max(1, Number(process.env.BENCH_DEDUPE_ROUNDS ?? (cfg.quick ? 3 : 7)));
  const servers: Array<{ name: Mode; berth: BerthProcess }> = [];
  try {
    for (const name of ['on', 'off'] as const) {
      servers.push({ name, berth: await spawnBerth({ storage: { dedupe: name === 'on', gc: false }, log: { level: 'warn' } }) });
    }
    const workloads = [
      { key: 'shared', label: `one ${size / MB} MB blob into ${REPOS} repositories`, seeds: (r: number) => Array.from({ length: REPOS }, () => 5000 + r) },
      { key: 'unique', label: `${REPOS} different ${size / MB} MB blobs`, seeds: (r: number) => Array.from({ length: REPOS }, (_, i) => 6000 + r * REPOS + i) },
    ];
    for (const w of workloads) {
      const mbps: Record<Mode, number[]> = { on: [], off: [] };
      const ratios: number[] = [];
      const cpu: Record<Mode, number> = { on: 0, off: 0 };
      for (let r = 0; r < rounds; r++) {
        const seeds = w.seeds(r);
        for (const seed of new Set(seeds)) digestOf(seed, size); // hashed before the clock starts
        const t = await pushPaired(servers, `dd/${w.key}${r}`, seeds, size);
        for (const m of ['on', 'off'] as const) {
          mbps[m].push((seeds.length * size) / MB / t[m].seconds);
          cpu[m] += t[m].cpu;
        }
        ratios.push(t.off.seconds / t.on.seconds); // throughput on/off within one round
      }
      const gb = (rounds * REPOS * size) / 1e9;
      log(`dedupe push ${w.key}: on ${mbps.on.map((x) => x.toFixed(0)).join(', ')} MB/s; off ${mbps.off.map((x) => x.toFixed(0)).join(', ')} MB/s; on/off per round ${ratios.map((x) => x.toFixed(2)).join(', ')}`);
      rows.push({ metric: `push, ${w.label} (MB/s) [columns: dedupe on | dedupe off]`, unit: 'MB/s', berth: median(mbps.on), distribution: median(mbps.off), better: 'higher' });
      rows.push({ metric: '  server CPU per GB pushed (CPU-s/GB)', unit: 'CPU-s', berth: cpu.on / gb, distribution: cpu.off / gb, better: 'lower' });
      targets.push({ name: `push ${w.label}, dedupe on/off (median of per-round ratios)`, value: median(ratios), min: 0.9, unit: '×' });
    }
    const [on, off] = servers.map((s) => diskBytes(s.berth.root) / MB);
    rows.push({ metric: 'bytes stored after those pushes (MB) [columns: dedupe on | dedupe off]', unit: 'MB', berth: on, distribution: off, better: 'lower' });
  } finally {
    await Promise.allSettled(servers.map((s) => s.berth.stop()));
  }
}

// Alone: its own table (the berth column is dedupe on, the distribution column dedupe off) and verdicts.
if (require.main === module) runAlone(runDedupeBench);
