// berth's S3 driver vs CNCF Distribution's (Debian docker-registry 2.8, `storage.s3`) on the same S3 server
// (bench/s3-backend.ts): blob push, monolithic (POST + one streaming PUT) and chunked (POST, PATCHes, PUT), and
// blob GET, each at concurrency 1 and 4, fresh blobs every round; both serve blob bytes themselves
// (redirectBlobURL off, Distribution's `redirect.disable`). Then berth's memory on S3 (bench/s3-rss.ts), on a
// fresh berth process. Part of
// `npm run bench` (skipped with BENCH_S3=0; with BENCH_ONLY set it runs only when BENCH_S3=1), or alone:
//   npx tsc -p . && node dist/bench/s3-throughput.js
import { downloadRound, pushChunked, pushMonolithic } from './client.js';
import { MB, MiB, median, type BenchConfig } from './config.js';
import { digestOf } from './gen.js';
import { CpuTally, withCpu, type PerServer } from './phases.js';
import type { Row, Target } from './report.js';
import { startS3Backend } from './s3-backend.js';
import { runS3Rss, s3RssBytes } from './s3-rss.js';
import { cpuSeconds, memStatus, startBerthProcess, startDistribution, type Server } from './servers.js';
import { runAlone } from './standalone.js';

const REPO = 'bench/s3';
const CONCURRENCY = [1, 4] as const;

type Kind = 'mono' | 'chunked' | 'get';
interface Figure {
  mbps: PerServer;
  cpuPerGB: PerServer;
  /** CPU of the S3 server and the shim per GB: how much S3 work the registry's requests cause. */
  s3CpuPerGB: PerServer;
}

/** `n` distinct seeds for one kind, round and concurrency, the same on both servers. */
const seedsFor = (kind: Kind, round: number, conc: number): number[] =>
  Array.from({ length: conc }, (_, i) => 3000 + ['mono', 'chunked', 'get'].indexOf(kind) * 1000 + round * 10 + conc * 100 + i);

export async function runS3Throughput(cfg: BenchConfig, rows: Row[], targets: Target[], log: (m: string) => void): Promise<void> {
  const wanted = process.env.BENCH_S3 ?? (process.env.BENCH_ONLY ? '0' : '1');
  if (wanted === '0') return;
  const size = Math.round(Number(process.env.BENCH_S3_BLOB_MIB ?? (cfg.quick ? 32 : 128)) * MiB);
  const rounds = Math.max(1, Number(process.env.BENCH_S3_ROUNDS ?? (cfg.quick ? 1 : 3)));
  const perRound = 2 * (CONCURRENCY[0] + CONCURRENCY[1]) * size; // pushed per server per round
  const need = 2 * (rounds * perRound + 2 * size) + s3RssBytes(cfg);
  const backend = await startS3Backend(['berth', 'dist'], need * 1.2, 'the S3 bench');
  const servers: Server[] = [];
  try {
    // remoteCache off: dedupe on a cloud driver needs a remote cache otherwise (Zot's rule); one process here.
    const berthStorage = { remoteCache: false, redirectBlobURL: false, storageDriver: backend.berthDriver('berth') };
    servers.push(await startBerthProcess(cfg.berthNodeFlags, { storage: berthStorage }));
    servers.push(await startDistribution({ s3: backend.distributionS3('dist'), storage: { redirect: { disable: true } } }));
    log(`S3 bench: s3rver pid ${backend.s3.pid} behind the shim at ${backend.shimUrl}; berth pid ${servers[0]!.pid}, distribution pid ${servers[1]!.pid}; ${size / MiB} MiB blobs, ${rounds} rounds`);

    const backendCpu = () => backend.pids.reduce((n, pid) => n + cpuSeconds(pid), 0);

    // The GET blobs, pushed once: one per client.
    const getSeeds = seedsFor('get', 0, CONCURRENCY[1]);
    for (const s of servers) for (const seed of getSeeds) await pushMonolithic(s.url, REPO, seed, size);
    // One unmeasured GET each: the first one through a fresh process pays for its JIT warm-up.
    for (const s of servers) await downloadRound(`${s.url}/v2/${REPO}/blobs/${digestOf(getSeeds[0]!, size)}`, 1, 1);

    const figures: Record<string, Figure> = {};
    for (const kind of ['mono', 'chunked', 'get'] as const) {
      for (const conc of CONCURRENCY) {
        const runs: Record<string, number[]> = {};
        const cpu = new CpuTally();
        const s3Cpu = new CpuTally();
        for (let r = 0; r < rounds; r++) {
          const seeds = kind === 'get' ? getSeeds.slice(0, conc) : seedsFor(kind, r + 1, conc);
          for (const seed of seeds) digestOf(seed, size); // hash before the clock starts
          // Alternate which server goes first, so drift on the machine falls on both alike.
          for (const s of r % 2 === 0 ? servers : [...servers].reverse()) {
            const one = (seed: number) =>
              kind === 'mono'
                ? pushMonolithic(s.url, REPO, seed, size)
                : kind === 'chunked'
                  ? pushChunked(s.url, REPO, seed, size, cfg.chunkBytes)
                  : downloadRound(`${s.url}/v2/${REPO}/blobs/${digestOf(seed, size)}`, 1, 1);
            const s3Cpu0 = backendCpu();
            const m = await withCpu(s, () => Promise.all(seeds.map(one)));
            const bytes = seeds.length * size;
            cpu.add(s.name, m, bytes / 1e9);
            s3Cpu.add(s.name, { serverCpu: backendCpu() - s3Cpu0, clientCpu: 0, wall: m.wall }, bytes / 1e9);
            (runs[s.name] ??= []).push(bytes / 1e6 / m.wall);
          }
        }
        const f: Figure = { mbps: {}, cpuPerGB: cpu.perUnit(), s3CpuPerGB: s3Cpu.perUnit() };
        for (const s of servers) {
          f.mbps[s.name] = median(runs[s.name]!);
          log(`S3 ${kind} c=${conc} ${s.name}: ${runs[s.name]!.map((x) => x.toFixed(0)).join(', ')} MB/s -> median ${f.mbps[s.name]!.toFixed(0)}; ${cpu.describe(s.name)}`);
        }
        figures[`${kind}${conc}`] = f;
      }
    }

    const label: Record<Kind, string> = {
      mono: `S3 push ${size / MiB} MiB POST+PUT`,
      chunked: `S3 push ${size / MiB} MiB PATCH ${cfg.chunkBytes / 1e6} MB chunks`,
      get: `S3 blob GET ${size / MiB} MiB, served by the registry`,
    };
    for (const kind of ['mono', 'chunked', 'get'] as const) {
      for (const conc of CONCURRENCY) {
        const f = figures[`${kind}${conc}`]!;
        const row: Row = { metric: `${label[kind]}, c=${conc} (MB/s)`, unit: 'MB/s', berth: f.mbps.berth, distribution: f.mbps.distribution, better: 'higher' };
        rows.push(row);
        targets.push({ name: `${label[kind]}, c=${conc}, berth/distribution`, value: row.berth! / row.distribution!, min: 1.0, unit: '×' });
      }
      for (const conc of CONCURRENCY) {
        const f = figures[`${kind}${conc}`]!;
        rows.push({ metric: `  server CPU per GB, c=${conc} (CPU-s/GB)`, unit: 'CPU-s', berth: f.cpuPerGB.berth, distribution: f.cpuPerGB.distribution, better: 'lower' });
      }
      for (const conc of CONCURRENCY) {
        const f = figures[`${kind}${conc}`]!;
        rows.push({ metric: `  S3 server + shim CPU per GB, c=${conc} (CPU-s/GB)`, unit: 'CPU-s', berth: f.s3CpuPerGB.berth, distribution: f.s3CpuPerGB.distribution, better: 'lower' });
      }
    }

    // What the pushes at c=4 left resident (the allocator keeps freed part buffers), for reference.
    rows.push({ metric: '  berth RSS after these S3 phases (MB)', unit: 'MB', berth: memStatus(servers[0]!.pid).rss / MB, better: 'lower' });
    // The memory phase runs on a fresh berth (same bucket) alone on the machine: its peaks are those of the
    // push and of the GETs, not what earlier phases left behind.
    while (servers.length > 0) await servers.pop()!.stop();
    servers.push(await startBerthProcess(cfg.berthNodeFlags, { storage: berthStorage }));
    await runS3Rss(cfg, servers[0]!, rows, targets, log);
  } finally {
    for (const s of servers.reverse()) await s.stop().catch((err: unknown) => log(`S3 bench: stopping ${s.name}: ${String(err)}`));
    await backend.stop().catch((err: unknown) => log(`S3 bench: stopping the S3 server: ${String(err)}`));
  }
}

if (require.main === module) runAlone(runS3Throughput);
