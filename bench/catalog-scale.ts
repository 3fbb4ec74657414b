// The registry at size (issue 9, "Fast at size"): N repositories (default 100k), each with a small image tagged
// `latest`, generated directly on disk once in Zot's layout for berth and once in Distribution's layout for
// docker-registry (test/helpers/repo-root.ts, distribution-root.ts). Each server is started as a process on its
// root, alone on the machine, and measured the same way: time from spawn to the first 200 on /v2/,
// `_catalog?n=100` at the first, a middle and the last page, tag list and manifest GET of random repositories,
// RSS after that warm-up. berth also: its background reconcile, `_catalog` while it runs (the first request and
// the same three pages), and a restart on the reconciled root. Targets (issue 9): ready ≤ 2 s, any `_catalog?n=100` page ≤ 50 ms.
//   part of `npm run bench` (BENCH_ONLY=catalog for this section alone), or on its own:
//   npx tsc -p . && node dist/bench/catalog-scale.js [N]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateDistributionRoot } from '../test/helpers/distribution-root.js';
import { GENERATED_TAG, OCI_MANIFEST, generateRepoRoot, generatedRepo, generatedRootDir } from '../test/helpers/repo-root.js';
import { cleanupTempDirs, ensureTools } from '../test/helpers/tools.js';
import { median } from './config.js';
import { table, verdict, type Row, type Target } from './report.js';
import { memStatus, startBerthProcess, startDistribution, type Server } from './servers.js';

const READY_MAX_MS = 2000;
const PAGE_MAX_MS = 50;
/** Timed requests per latency figure (the median is reported). */
const ROUNDS = 5;
/** Random repositories asked for their tag list and manifest. */
const SAMPLES = 25;

type Log = (msg: string) => void;

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** One GET that must answer 200 (the body is read, so the time covers the whole answer). */
async function getMs(url: string, headers: Record<string, string> = {}): Promise<number> {
  const { ms, value } = await timed(async () => {
    const res = await fetch(url, { headers });
    return { status: res.status, body: await res.text() };
  });
  if (value.status !== 200) throw new Error(`GET ${url}: ${value.status} ${value.body.slice(0, 200)}`);
  return ms;
}

function reconcileLogged(stdoutFile: string): boolean {
  return readFileSync(stdoutFile, 'utf8').includes('"catalog reconciled"');
}

/** The `catalog reconciled` log line, once berth wrote it (polled, not slept for). */
async function reconciledLine(stdoutFile: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = readFileSync(stdoutFile, 'utf8').split('\n').find((l) => l.includes('"catalog reconciled"'));
    if (line) return JSON.parse(line) as Record<string, unknown>;
    if (Date.now() > deadline) throw new Error('no "catalog reconciled" line');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `_catalog?n=100` after `last` (the first page without): median of ROUNDS; checks the page is full. */
async function pageMs(url: string, last: string | undefined): Promise<number> {
  const query = last === undefined ? '?n=100' : `?n=100&last=${encodeURIComponent(last)}`;
  const res = await fetch(`${url}/v2/_catalog${query}`);
  const body = (await res.json()) as { repositories?: string[] };
  if (res.status !== 200 || body.repositories?.length !== 100) throw new Error(`_catalog${query}: ${res.status}, ${body.repositories?.length} names`);
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) times.push(await getMs(`${url}/v2/_catalog${query}`));
  return median(times);
}

interface Figures {
  readyMs: number;
  pages: Record<'first' | 'middle' | 'last', number>;
  tagsMs: number;
  manifestMs: number;
  rss: number;
}

/** The measurements both servers get, on a server already started (and, for berth, reconciled). */
async function measure(server: Server, n: number, readyMs: number): Promise<Figures> {
  const pages = {
    first: await pageMs(server.url, undefined),
    middle: await pageMs(server.url, generatedRepo(Math.floor(n / 2) - 1)),
    last: await pageMs(server.url, generatedRepo(n - 101)),
  };
  // A fixed seed: both servers are asked for the same repositories.
  let x = 12345;
  const random = () => ((x = (x * 1103515245 + 12345) % 2 ** 31), generatedRepo(x % n));
  const tags: number[] = [];
  const manifests: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const repo = random();
    tags.push(await getMs(`${server.url}/v2/${repo}/tags/list`));
    manifests.push(await getMs(`${server.url}/v2/${repo}/manifests/${GENERATED_TAG}`, { accept: OCI_MANIFEST }));
  }
  return { readyMs, pages, tagsMs: median(tags), manifestMs: median(manifests), rss: memStatus(server.pid).rss };
}

export interface CatalogScaleResult {
  rows: Row[];
  targets: Target[];
}

export async function runCatalogScale(n: number, log: Log): Promise<CatalogScaleResult> {
  await ensureTools(['docker-registry']);
  const rows: Row[] = [];
  const targets: Target[] = [];
  const berthExtra: Row[] = [];
  const figures: Partial<Record<'berth' | 'distribution', Figures>> = {};

  // berth on Zot's layout.
  const zot = await generatedRootDir('bench-scale-zot');
  try {
    const root = join(zot.dir, 'root');
    const gen = await timed(async () => generateRepoRoot(root, n, { image: true }));
    log(`generated ${n} repositories in Zot's layout in ${(gen.ms / 1000).toFixed(1)} s`);
    let start = await timed(() => startBerthProcess([], { root, logLevel: 'info' }));
    let berth = start.value;
    try {
      // On a root no reconcile indexed yet the root itself answers until the first one ends (walked in catalog
      // order from `last`): the very first request, then the three pages as measured after the reconcile.
      const during = await timed(() => fetch(`${berth.url}/v2/_catalog?n=100`).then((r) => r.arrayBuffer()));
      const duringPages = {
        first: await pageMs(berth.url, undefined),
        middle: await pageMs(berth.url, generatedRepo(Math.floor(n / 2) - 1)),
        last: await pageMs(berth.url, generatedRepo(n - 101)),
      };
      if (reconcileLogged(berth.stdoutFile)) throw new Error('the first reconcile ended before the pages during it were measured');
      const line = await reconciledLine(berth.stdoutFile, 900_000);
      log(`berth reconcile: ${String(line.repositories)} repositories, ${String(line.added)} added, ${String(line.durationMs)} ms`);
      figures.berth = await measure(berth, n, start.ms);
      berthExtra.push(
        { metric: '  berth: background reconcile, first start (ms)', unit: 'ms', berth: Number(line.durationMs), better: 'lower' },
        { metric: '  berth: _catalog?n=100 during that reconcile, the first request (ms)', unit: 'ms', berth: during.ms, better: 'lower' },
        ...(['first', 'middle', 'last'] as const).map((p): Row => ({ metric: `  berth: _catalog?n=100 during that reconcile, ${p} page (ms)`, unit: 'ms', berth: duringPages[p], better: 'lower' })),
      );
      const worstDuring = Math.max(during.ms, ...Object.values(duringPages));
      targets.push({ name: 'berth first start on a never-indexed root, slowest _catalog?n=100 page during its reconcile (ms)', value: worstDuring, max: PAGE_MAX_MS, unit: 'ms' });
      // A restart on the reconciled root: the index is there, the reconcile runs again in the background.
      await berth.stop();
      start = await timed(() => startBerthProcess([], { root, logLevel: 'info' }));
      berth = start.value;
      const again = await timed(() => fetch(`${berth.url}/v2/_catalog?n=100`).then((r) => r.arrayBuffer()));
      const line2 = await reconciledLine(berth.stdoutFile, 900_000);
      berthExtra.push(
        { metric: '  berth restarted: first 200 on /v2/ (ms)', unit: 'ms', berth: start.ms, better: 'lower' },
        { metric: '  berth restarted: _catalog?n=100 during its reconcile (ms)', unit: 'ms', berth: again.ms, better: 'lower' },
        { metric: '  berth restarted: background reconcile (ms)', unit: 'ms', berth: Number(line2.durationMs), better: 'lower' },
      );
      targets.push({ name: 'berth restarted, _catalog?n=100 during its reconcile (ms)', value: again.ms, max: PAGE_MAX_MS, unit: 'ms' });
    } finally {
      await berth.stop();
    }
  } finally {
    await zot.remove();
  }

  // Distribution on its own layout, the same content.
  const dist = await generatedRootDir('bench-scale-dist');
  try {
    const root = join(dist.dir, 'storage');
    const gen = await timed(async () => generateDistributionRoot(root, n));
    log(`generated ${n} repositories in Distribution's layout in ${(gen.ms / 1000).toFixed(1)} s`);
    const start = await timed(() => startDistribution({ root }));
    try {
      figures.distribution = await measure(start.value, n, start.ms);
    } finally {
      await start.value.stop();
    }
  } finally {
    await dist.remove();
  }

  const b = figures.berth!;
  const d = figures.distribution!;
  const k = `${Math.round(n / 1000)}k repositories`;
  const row = (metric: string, unit: string, f: (x: Figures) => number) => {
    const r: Row = { metric: `${k}: ${metric}`, unit, berth: f(b), distribution: f(d), better: 'lower' };
    rows.push(r);
    return r;
  };
  row('start to first 200 on /v2/ (ms)', 'ms', (x) => x.readyMs);
  for (const p of ['first', 'middle', 'last'] as const) row(`_catalog?n=100, ${p} page (ms)`, 'ms', (x) => x.pages[p]);
  row('tag list, random repository (ms)', 'ms', (x) => x.tagsMs);
  row('manifest GET by tag, random repository (ms)', 'ms', (x) => x.manifestMs);
  row('RSS after warm-up (MB)', 'MB', (x) => x.rss / 1e6);
  rows.push(...berthExtra);
  targets.push({ name: `berth start to first 200 on /v2/, ${k} (ms)`, value: b.readyMs, max: READY_MAX_MS, unit: 'ms' });
  const worst = Math.max(...Object.values(b.pages));
  targets.push({ name: `berth slowest _catalog?n=100 page, ${k}, reconciled (ms)`, value: worst, max: PAGE_MAX_MS, unit: 'ms' });
  return { rows, targets };
}

if (require.main === module) {
  const n = Number(process.argv[2] ?? 100_000);
  const log: Log = (msg) => process.stderr.write(`[bench] ${msg}\n`);
  runCatalogScale(n, log)
    .then(({ rows, targets }) => {
      console.log(table(rows));
      console.log('\ntargets:');
      for (const t of targets) console.log(`  ${verdict(t).text}`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => cleanupTempDirs());
}
