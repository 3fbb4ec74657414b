// The search extension at size (issue 10): N repositories (default 10k), each one small image tagged `latest`,
// generated on disk in Zot's layout (test/helpers/repo-root.ts) and indexed by search's background pass, as for a
// root written before search was on. berth runs as a process. Measured: the background index of the whole root,
// then zui's own documents, `RepoListWithNewestImage` (its home page) and `GlobalSearch` (its search box), at the
// first, a middle and the last page of 15; a search matching 100 repositories; and the first page after a push
// (every berth re-reads the summaries once something changed). Target (issue 10): ≤ 100 ms per page.
//   part of `npm run bench` (BENCH_ONLY=search, size BENCH_SEARCH_REPOS), or alone:
//   npx tsc -p . && node dist/bench/search-scale.js [N]
import { join } from 'node:path';
import { generateRepoRoot, generatedRepo, generatedRootDir } from '../test/helpers/repo-root.js';
import { pushArtifactWithSubject } from '../test/helpers/artifact-push.js';
import { cleanupTempDirs } from '../test/helpers/tools.js';
import { median } from './config.js';
import type { Row, Target } from './report.js';
import { memStatus, startBerthProcess } from './servers.js';

const PAGE_MAX_MS = 100;
const ROUNDS = 7;
const PAGE = 15;

type Log = (msg: string) => void;

const repoList = (offset: number) =>
  `{RepoListWithNewestImage(requestedPage: {limit:${PAGE} offset:${offset}}){Page {TotalCount ItemCount} Results {Name LastUpdated Size Platforms {Os Arch}  NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description  Licenses Title Source IsSigned SignatureInfo { Tool IsTrusted Author } Documentation Vendor Labels} IsStarred IsBookmarked StarCount DownloadCount}}}`;
const globalSearch = (query: string, offset: number) =>
  `{GlobalSearch(query:"${query}", requestedPage: {limit:${PAGE} offset:${offset} sortBy: RELEVANCE} ) {Page {TotalCount ItemCount} Repos {Name LastUpdated Size Platforms { Os Arch } IsStarred IsBookmarked NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description IsSigned SignatureInfo { Tool IsTrusted Author } Licenses Vendor Labels } StarCount DownloadCount}}}`;

interface Answer { ms: number; total: number; items: number }

/** One GET as zui sends it (the document in the URL); the body is read, so the time covers the whole answer. */
async function query(url: string, doc: string): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v2/_zot/ext/search?query=${encodeURIComponent(doc)}`);
  const body = (await res.json()) as { data?: Record<string, { Page: { TotalCount: number; ItemCount: number } }>; errors?: unknown };
  const ms = performance.now() - t0;
  if (res.status !== 200 || body.errors || !body.data) throw new Error(`search answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
  const page = Object.values(body.data)[0]!.Page;
  return { ms, total: page.TotalCount, items: page.ItemCount };
}

async function medianOf(url: string, doc: string, expect: { total: number; items: number }): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const a = await query(url, doc);
    if (a.total !== expect.total || a.items !== expect.items) throw new Error(`expected ${expect.total}/${expect.items}, got ${a.total}/${a.items}`);
    times.push(a.ms);
  }
  return median(times);
}

export async function runSearchScale(n: number, log: Log): Promise<{ rows: Row[]; targets: Target[] }> {
  const rows: Row[] = [];
  const targets: Target[] = [];
  const root = await generatedRootDir('bench-search');
  try {
    const dir = join(root.dir, 'root');
    const t0 = performance.now();
    generateRepoRoot(dir, n, { image: true });
    log(`generated ${n} repositories in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const started = performance.now();
    const berth = await startBerthProcess([], { root: dir, extensions: { search: {} } });
    try {
      // The background index: polled until every repository is listed.
      for (;;) {
        const a = await query(berth.url, repoList(0));
        if (a.total === n) break;
        if (performance.now() - started > 30 * 60_000) throw new Error(`indexed ${a.total} of ${n} after 30 min`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const indexS = (performance.now() - started) / 1000;
      log(`search indexed ${n} repositories in ${indexS.toFixed(1)} s`);
      rows.push({ metric: `search: background index of ${n} repositories (s)`, unit: 's', berth: indexS, better: 'lower' });

      const last = n - (n % PAGE || PAGE);
      const pages: Array<[string, string, { total: number; items: number }]> = [
        ['RepoListWithNewestImage, first page', repoList(0), { total: n, items: PAGE }],
        ['RepoListWithNewestImage, middle page', repoList(Math.floor(n / 2)), { total: n, items: PAGE }],
        ['RepoListWithNewestImage, last page', repoList(last), { total: n, items: n - last }],
        ['GlobalSearch "", first page', globalSearch('', 0), { total: n, items: PAGE }],
        ['GlobalSearch "", last page', globalSearch('', last), { total: n, items: n - last }],
      ];
      // "r0001" is in the last path segment of r000100..r000199 only (when n > 199).
      if (n > 199) pages.push(['GlobalSearch "r0001" (100 matches), first page', globalSearch('r0001', 0), { total: 100, items: PAGE }]);
      for (const [name, doc, expect] of pages) {
        const ms = await medianOf(berth.url, doc, expect);
        rows.push({ metric: `search: ${name} over ${n} repositories (ms)`, unit: 'ms', berth: ms, better: 'lower' });
        targets.push({ name: `search: ${name} ≤ ${PAGE_MAX_MS} ms`, value: ms, max: PAGE_MAX_MS, unit: 'ms' });
      }
      // After a write every berth re-reads the summaries once: the first page then pays for it.
      const after: number[] = [];
      for (let i = 0; i < 3; i++) {
        const subject = await fetch(`${berth.url}/v2/${generatedRepo(i)}/manifests/latest`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
        const digest = subject.headers.get('docker-content-digest')!;
        const size = Number(subject.headers.get('content-length'));
        await pushArtifactWithSubject(berth.url, generatedRepo(i), { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size }, `application/vnd.berth.bench.${i}`);
        await new Promise((r) => setTimeout(r, 300)); // the index follows the push asynchronously
        after.push((await query(berth.url, repoList(0))).ms);
      }
      const afterMs = median(after);
      rows.push({ metric: `search: RepoListWithNewestImage, first page after a push (ms)`, unit: 'ms', berth: afterMs, better: 'lower' });
      targets.push({ name: `search: first page after a push ≤ ${PAGE_MAX_MS} ms`, value: afterMs, max: PAGE_MAX_MS, unit: 'ms' });
      rows.push({ metric: `search: berth RSS after the queries (MB)`, unit: 'MB', berth: memStatus(berth.pid).rss / 1e6, better: 'lower' });
    } finally {
      await berth.stop();
    }
  } finally {
    await root.remove();
    await cleanupTempDirs();
  }
  return { rows, targets };
}

if (require.main === module) {
  const n = Number(process.argv[2] ?? 10_000);
  runSearchScale(n, (m) => process.stderr.write(`[bench] ${m}\n`)).then(({ rows, targets }) => {
    for (const r of rows) console.log(`${r.metric}: ${r.berth?.toFixed(1)}`);
    for (const t of targets) console.log(`${t.name}: ${t.value?.toFixed(1)} ${t.value! <= t.max! ? 'pass' : 'MISS'}`);
  }, (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
