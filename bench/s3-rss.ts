// berth's memory with its blobs on S3 (issue 11: ≤ 150 MB): peak RSS (VmHWM, reset first) during one big
// streamed push (BENCH_UPLOAD_MIB, 2 GiB) and during BENCH_CONCURRENCY (16) concurrent GETs of a big blob
// (BENCH_BIG_MIB, 1 GiB) that berth streams from S3. Run by bench/s3-throughput.ts on its S3-backed berth.
import { downloadRound, pushMonolithic, timedPush } from './client.js';
import { MB, MiB, type BenchConfig } from './config.js';
import { digestOf } from './gen.js';
import type { Row, Target } from './report.js';
import { memStatus, sampleRss, type RssSampler, type Server } from './servers.js';

const RSS_MAX = 150 * MB;
const SEED_UPLOAD = 3900;
const SEED_BIG = 3901;
const REPO = 'bench/s3-rss';

/** Bytes this phase stores in the S3 server. */
export const s3RssBytes = (cfg: BenchConfig): number => cfg.uploadBytes + cfg.bigBytes;

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2).replace(/\.?0+$/, '')} GiB`;

/** `work`'s result and berth's peak RSS meanwhile; the sampler stops also when `work` fails (its timer would keep the run alive). */
async function sampled<T>(pid: number, everyMs: number, work: () => Promise<T>): Promise<{ value: T; peak: number; peakExact: boolean }> {
  const sampler = sampleRss(pid, everyMs);
  let result: ReturnType<RssSampler['stop']> | undefined;
  try {
    const value = await work();
    result = sampler.stop();
    return { value, ...result };
  } finally {
    if (!result) sampler.stop();
  }
}

export async function runS3Rss(cfg: BenchConfig, berth: Server, rows: Row[], targets: Target[], log: (m: string) => void): Promise<void> {
  digestOf(SEED_UPLOAD, cfg.uploadBytes);
  const upBase = memStatus(berth.pid).rss;
  const up = await sampled(berth.pid, 100, () => timedPush(() => pushMonolithic(berth.url, REPO, SEED_UPLOAD, cfg.uploadBytes), cfg.uploadBytes));
  const upMBps = up.value;
  log(`S3 ${gib(cfg.uploadBytes)} push: ${upMBps.toFixed(0)} MB/s, berth RSS ${(upBase / MB).toFixed(0)} MB before, peak ${(up.peak / MB).toFixed(0)} MB${up.peakExact ? '' : ' (sampled)'}`);

  log(`S3 RSS: pushing the ${cfg.bigBytes / MiB} MiB blob for the concurrent GETs`);
  const bigDigest = await pushMonolithic(berth.url, REPO, SEED_BIG, cfg.bigBytes);
  const getBase = memStatus(berth.pid).rss;
  const get = await sampled(berth.pid, 50, () => downloadRound(`${berth.url}/v2/${REPO}/blobs/${bigDigest}`, cfg.concurrency, 1, cfg.getClient));
  const res = get.value;
  log(`S3 ${cfg.concurrency}x GET of ${gib(cfg.bigBytes)}: ${res.mbps.toFixed(0)} MB/s, berth RSS ${(getBase / MB).toFixed(0)} MB before, peak ${(get.peak / MB).toFixed(0)} MB${get.peakExact ? '' : ' (sampled)'}`);

  const pushName = `berth peak RSS, one ${gib(cfg.uploadBytes)} push to S3`;
  const getName = `berth peak RSS, ${cfg.concurrency}× GET of ${gib(cfg.bigBytes)} from S3`;
  rows.push({ metric: `${pushName} (MB)`, unit: 'MB', berth: up.peak / MB, better: 'lower' });
  rows.push({ metric: '  RSS just before that push (MB)', unit: 'MB', berth: upBase / MB, better: 'lower' });
  rows.push({ metric: '  throughput of that push, POST+PUT (MB/s)', unit: 'MB/s', berth: upMBps, better: 'higher' });
  rows.push({ metric: `${getName} (MB)`, unit: 'MB', berth: get.peak / MB, better: 'lower' });
  rows.push({ metric: '  RSS just before those GETs (MB)', unit: 'MB', berth: getBase / MB, better: 'lower' });
  rows.push({ metric: `  throughput of those ${cfg.concurrency} GETs (MB/s)`, unit: 'MB/s', berth: res.mbps, better: 'higher' });
  targets.push({ name: pushName, value: up.peak, max: RSS_MAX, unit: 'B' });
  targets.push({ name: getName, value: get.peak, max: RSS_MAX, unit: 'B' });
}
