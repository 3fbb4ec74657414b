// The catalog at size (issue 9, "Fast at size"): a generated root of N repositories (default 100k), berth
// started on it as a process. Prints the time to the first 200 on /v2/ (target ≤ 2 s: the reconcile runs in
// the background), the background reconcile's duration, `_catalog?n=100` latency at the first, a middle and
// the last page once the index answers (target ≤ 50 ms), and RSS.
//   npx tsc -p . && node dist/bench/catalog-scale.js [N]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateRepoRoot, generatedRepo } from '../test/helpers/repo-root.js';
import { cleanupTempDirs, tempDir } from '../test/helpers/tools.js';
import { memStatus, startBerthProcess } from './servers.js';

const N = Number(process.argv[2] ?? 100_000);

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
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

async function pageMs(url: string, last: string | undefined): Promise<number> {
  const query = last === undefined ? '?n=100' : `?n=100&last=${encodeURIComponent(last)}`;
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    const { ms, value } = await timed(async () => {
      const res = await fetch(`${url}/v2/_catalog${query}`);
      return { status: res.status, body: (await res.json()) as { repositories: string[] } };
    });
    if (value.status !== 200 || value.body.repositories.length === 0) throw new Error(`_catalog${query}: ${value.status}`);
    best = Math.min(best, ms);
  }
  return best;
}

async function main(): Promise<void> {
  const root = join(await tempDir('bench-catalog-'), 'root');
  const gen = await timed(async () => generateRepoRoot(root, N));
  console.log(`generated ${N} repositories in ${(gen.ms / 1000).toFixed(1)} s`);
  const start = await timed(() => startBerthProcess([], { root, logLevel: 'info' }));
  const berth = start.value;
  try {
    console.log(`first 200 on /v2/ after ${start.ms.toFixed(0)} ms (target ≤ 2000)`);
    const during = await timed(() => fetch(`${berth.url}/v2/_catalog?n=100`).then((r) => r.arrayBuffer()));
    console.log(`_catalog?n=100 during the reconcile (walk fallback): ${during.ms.toFixed(0)} ms`);
    const line = await reconciledLine(berth.stdoutFile, 600_000);
    console.log(`reconcile: ${String(line.repositories)} repositories, ${String(line.added)} added, ${String(line.durationMs)} ms`);
    for (const [label, last] of [['first', undefined], ['middle', generatedRepo(Math.floor(N / 2))], ['last', generatedRepo(N - 101)]] as const) {
      console.log(`_catalog?n=100, ${label} page: ${(await pageMs(berth.url, last)).toFixed(1)} ms (target ≤ 50)`);
    }
    const mem = memStatus(berth.pid);
    console.log(`RSS ${(mem.rss / 2 ** 20).toFixed(0)} MiB, peak ${(mem.hwm / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    await berth.stop();
    await cleanupTempDirs();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
