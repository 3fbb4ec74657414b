// What extensions cost a manifest push and pull (issue 10: at most 10%): one berth process per configuration
// in configs(), identical but for `extensions`, take the same manifest PUTs and GETs one at a time, alternating
// which server goes first each round, and each configuration's median latency is printed as a ratio to "all
// off". To measure another extension, add a line to configs(). Part of `npm run bench` (skipped with
// BENCH_EXTENSIONS=0; with BENCH_ONLY set it runs only when BENCH_EXTENSIONS=1), or alone:
//   npx tsc -p . && node dist/bench/extensions-cost.js
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { httpMetrics } from '../extensions/metrics/http-metrics.js';
import { spawnBerth, type BerthProcess } from '../test/helpers/berth-process.js';
import { pushSmall, putManifest, request } from './client.js';
import { median, type BenchConfig } from './config.js';
import { cpuSeconds } from './servers.js';
import type { Row, Target } from './report.js';
import { runAlone } from './standalone.js';

/**
 * The configurations compared; the first is the baseline every other is divided by. A `control` runs the
 * baseline again in a process of its own: how far two identical servers differ on this machine now (no target).
 */
const configs = (sink: string): Array<{ name: string; extensions: Record<string, unknown>; control?: boolean }> => [
  { name: 'all off', extensions: {} },
  { name: 'metrics', extensions: { metrics: {} } },
  { name: 'search', extensions: { search: {} } },
  { name: 'events', extensions: { events: { enable: true, sinks: [{ type: 'http', address: sink }] } } },
  { name: 'metrics+search+events', extensions: { metrics: {}, search: {}, events: { enable: true, sinks: [{ type: 'http', address: sink }] } } },
  { name: 'all off again', extensions: {}, control: true },
];
/** The goal: an extension costs a manifest push or pull at most this much. */
const MAX_RATIO = 1.1;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const REPO = 'cost/app';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Image {
  config: { bytes: Buffer; digest: string };
  layer: { bytes: Buffer; digest: string };
}

function image(): Image {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = Buffer.from('a small layer\n');
  return { config: { bytes: config, digest: sha256(config) }, layer: { bytes: layer, digest: sha256(layer) } };
}

/** A distinct manifest per `n` (an annotation), so every push writes a new manifest. */
function manifest(img: Image, n: number): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: img.config.digest, size: img.config.bytes.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: img.layer.digest, size: img.layer.bytes.length }],
    annotations: { 'bench.n': String(n) },
  }));
}

interface Server {
  name: string;
  control: boolean;
  berth: BerthProcess;
  /** Latencies (ms), one array per round. */
  push: number[][];
  pull: number[][];
  cpu: number;
}

const all = (rounds: number[][]) => rounds.flat();
/** The median over rounds of (this round's median / the baseline's median that round): drift cancels out. */
const perRoundRatio = (s: number[][], base: number[][]) => median(s.map((round, r) => median(round) / median(base[r]!)));

/**
 * What the metrics extension adds to every request, in-process and free of the machine's noise: its request
 * observer (four series updated) called with a manifest GET's observation. Microseconds per request.
 */
function observerMicros(calls = 200_000): number {
  const observe = httpMetrics(new Registry(), () => false);
  const o = { method: 'GET', route: '/v2/*name/manifests/:reference', status: 200, durationSeconds: 0.001, repo: REPO, bytes: 500, aborted: false };
  for (let i = 0; i < 10_000; i++) observe(o); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) observe(o);
  return ((performance.now() - t0) * 1000) / calls;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}

export async function runExtensionsCost(cfg: BenchConfig, rows: Row[], targets: Target[], log: (m: string) => void): Promise<void> {
  const wanted = process.env.BENCH_EXTENSIONS ?? (process.env.BENCH_ONLY ? '0' : '1');
  if (wanted === '0') return;
  const rounds = Math.max(1, Number(process.env.BENCH_EXTENSIONS_ROUNDS ?? (cfg.quick ? 5 : 15)));
  const perRound = Math.max(1, Number(process.env.BENCH_EXTENSIONS_OPS ?? 40));
  const img = image();
  const servers: Server[] = [];
  // The events sink: a local HTTP receiver that answers at once, counting what it got.
  let delivered = 0;
  const sink = createServer((req, res) => {
    req.resume().on('end', () => {
      delivered++;
      res.end();
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const CONFIGS = configs(`http://127.0.0.1:${(sink.address() as AddressInfo).port}/events`);
  try {
    for (const c of CONFIGS) {
      const berth = await spawnBerth({ storage: { gc: false }, log: { level: 'warn' }, extensions: c.extensions });
      await pushSmall(berth.url, REPO, img.config.bytes, img.config.digest);
      await pushSmall(berth.url, REPO, img.layer.bytes, img.layer.digest);
      servers.push({ name: c.name, control: c.control === true, berth, push: [], pull: [], cpu: 0 });
    }
    // A warm-up round each, not measured (JIT, first index reads).
    for (const s of servers) {
      for (let i = 0; i < perRound; i++) await putManifest(s.berth.url, REPO, `warm${i}`, OCI_MANIFEST, manifest(img, -1 - i));
    }
    let n = 0;
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? servers : [...servers].reverse();
      const bytes = Array.from({ length: perRound }, () => manifest(img, n++));
      for (const s of order) {
        const cpu0 = cpuSeconds(s.berth.daemon.pid);
        const [push, pull] = [[] as number[], [] as number[]];
        s.push.push(push);
        s.pull.push(pull);
        for (let i = 0; i < perRound; i++) push.push(await timed(() => putManifest(s.berth.url, REPO, `r${r}-${i}`, OCI_MANIFEST, bytes[i]!)));
        for (let i = 0; i < perRound; i++) {
          pull.push(await timed(async () => {
            const reply = await request('GET', `${s.berth.url}/v2/${REPO}/manifests/r${r}-${i}`, { Accept: OCI_MANIFEST });
            if (reply.status !== 200) throw new Error(`GET manifest: ${reply.status}`);
          }));
        }
        s.cpu += cpuSeconds(s.berth.daemon.pid) - cpu0;
      }
    }
    // Never pretend: an "on" configuration must really have counted what it was measured doing.
    for (const s of servers.filter((x) => 'metrics' in (CONFIGS.find((c) => c.name === x.name)?.extensions ?? {}))) {
      const text = (await request('GET', `${s.berth.url}/metrics`)).body.toString('utf8');
      if (!/^zot_repo_uploads_total\{repo="cost\/app"\} [1-9]/m.test(text)) throw new Error(`${s.name}: the metrics route does not show the pushes`);
    }
    if (delivered === 0) throw new Error('events: the sink received nothing');
    for (const s of servers.filter((x) => 'search' in (CONFIGS.find((c) => c.name === x.name)?.extensions ?? {}))) {
      const reply = await request('GET', `${s.berth.url}/v2/_zot/ext/search?query=${encodeURIComponent('{ ExpandedRepoInfo(repo: "cost/app") { Images { Tag } } }')}`);
      const tags = (JSON.parse(reply.body.toString('utf8')) as { data?: { ExpandedRepoInfo?: { Images?: unknown[] } } }).data?.ExpandedRepoInfo?.Images?.length ?? 0;
      if (tags === 0) throw new Error(`${s.name}: search does not show the pushes`);
    }
    const micros = observerMicros();
    log(`extensions metrics: request observer ${micros.toFixed(2)} µs per request (in-process)`);
    rows.push({ metric: 'metrics request observer, in-process (µs per request) [columns: metrics | none]', unit: 'µs', berth: micros, distribution: 0, better: 'lower' });
    const base = servers[0]!;
    const ops = rounds * perRound;
    for (const s of servers) {
      const ratios = s === base ? '' : `; per-round ratios PUT ${s.push.map((x, r) => (median(x) / median(base.push[r]!)).toFixed(2)).join(' ')}, GET ${s.pull.map((x, r) => (median(x) / median(base.pull[r]!)).toFixed(2)).join(' ')}`;
      log(`extensions ${s.name}: manifest PUT median ${median(all(s.push)).toFixed(2)} ms, GET median ${median(all(s.pull)).toFixed(2)} ms, CPU ${((s.cpu / (2 * ops)) * 1e6).toFixed(0)} µs/op${ratios}`);
    }
    for (const s of servers.slice(1)) {
      const label = `${s.name} vs ${base.name}`;
      rows.push({ metric: `manifest PUT latency, ${label} (median ms) [columns: ${s.name} | ${base.name}]`, unit: 'ms', berth: median(all(s.push)), distribution: median(all(base.push)), better: 'lower' });
      rows.push({ metric: `manifest GET latency, ${label} (median ms)`, unit: 'ms', berth: median(all(s.pull)), distribution: median(all(base.pull)), better: 'lower' });
      rows.push({ metric: `  server CPU per manifest PUT+GET, ${label} (µs)`, unit: 'µs', berth: (s.cpu / (2 * ops)) * 1e6, distribution: (base.cpu / (2 * ops)) * 1e6, better: 'lower' });
      const push = perRoundRatio(s.push, base.push);
      const pull = perRoundRatio(s.pull, base.pull);
      if (s.control) {
        log(`extensions noise floor (${label}): per-round ratio medians PUT ${push.toFixed(2)}×, GET ${pull.toFixed(2)}×`);
        continue;
      }
      targets.push({ name: `manifest PUT latency, ${label} (median of per-round ratios)`, value: push, max: MAX_RATIO, unit: '×' });
      targets.push({ name: `manifest GET latency, ${label} (median of per-round ratios)`, value: pull, max: MAX_RATIO, unit: '×' });
    }
  } finally {
    await Promise.allSettled(servers.map((s) => s.berth.stop()));
    await new Promise<void>((resolve) => sink.close(() => resolve()));
  }
}

// Alone: its own table (the berth column is the configuration, the distribution column "all off") and verdicts.
if (require.main === module) runAlone(runExtensionsCost);
