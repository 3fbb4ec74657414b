// One GC pass over a large generated root (issue 9, "GC pass time and RSS"): N repositories (default 100k), each
// one tagged image (manifest, config, layer) and every tenth also an orphan blob and a crash-leftover temp file
// from two hours ago. berth runs in this process; the pass is started with `app.gc.runNow()`. Prints the first
// pass (which collects the orphans), a second one (nothing left to do: the steady-state cost of visiting every
// repository) and the process RSS, sampled every 50 ms.
//   part of `npm run bench` (BENCH_ONLY=gc, size BENCH_REPOS), or alone: npx tsc -p . && node dist/bench/gc-scale.js [N]
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { createApp } from '../core/app.js';
import { parseConfig } from '../core/config/load.js';
import { generatedRepo } from '../test/helpers/repo-root.js';
import type { Row } from './report.js';
import { cleanupTempDirs, tempDir } from '../test/helpers/tools.js';

const OLD = new Date(Date.now() - 2 * 3_600_000);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Writes repositories 0..n-1 with content; returns how many orphan blobs it left. */
function generate(root: string, n: number): number {
  let orphans = 0;
  for (let i = 0; i < n; i++) {
    const dir = join(root, generatedRepo(i));
    const blobs = join(dir, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const put = (data: Buffer) => {
      const hex = sha(data);
      writeFileSync(join(blobs, hex), data);
      utimesSync(join(blobs, hex), OLD, OLD);
      return { digest: `sha256:${hex}`, size: data.length };
    };
    const layer = put(Buffer.from(`layer of repository ${i} `.repeat(40)));
    const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, i })));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    }));
    const m = put(manifest);
    if (i % 10 === 0) {
      put(Buffer.from(`orphan ${i}`));
      writeFileSync(join(blobs, `.${'0'.repeat(64)}.tmp-${i.toString(16).padStart(16, '0')}`), 'x');
      utimesSync(join(blobs, `.${'0'.repeat(64)}.tmp-${i.toString(16).padStart(16, '0')}`), OLD, OLD);
      orphans++;
    }
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, 'index.json'), JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }));
  }
  return orphans;
}

/** One GC pass and a second over N generated repositories: pass times, repositories/s and peak RSS as rows. */
export async function runGcScale(N: number, log: (line: string) => void = console.log): Promise<Row[]> {
  const rows: Row[] = [];
  const root = join(await tempDir('bench-gc-'), 'root');
  const t0 = performance.now();
  const orphans = generate(root, N);
  log(`generated ${N} repositories (${orphans} orphan blobs) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // gcInterval 0: no scheduled pass competes with the measured ones.
  const config = parseConfig({ storage: { rootDirectory: root, gc: true, gcDelay: '1h', gcInterval: '0s' }, http: { address: '127.0.0.1', port: '0' } }, 'bench');
  const app = await createApp(config, { logger: pino({ level: 'warn' }) });
  try {
    const catalog = app.registry.repos.catalog;
    await catalog.whenReconciled();
    const rssBefore = process.memoryUsage().rss;
    for (const label of ['first pass', 'second pass']) {
      let peak = process.memoryUsage().rss;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
      const started = performance.now();
      const r = await app.gc.runNow();
      const ms = performance.now() - started;
      clearInterval(sampler);
      // With --expose-gc: what stays live after the pass (a peak may be garbage V8 had not collected yet).
      const gcNow = (globalThis as { gc?: () => void }).gc;
      if (gcNow) {
        gcNow();
        const m = process.memoryUsage();
        log(`${label}: after a forced collection heap ${(m.heapUsed / 2 ** 20).toFixed(0)} MiB, external ${(m.external / 2 ** 20).toFixed(0)} MiB, RSS ${(m.rss / 2 ** 20).toFixed(0)} MiB`);
      }
      log(`${label}: ${(ms / 1000).toFixed(1)} s for ${r.repositories} repositories (${Math.round(r.repositories / (ms / 1000))}/s), `
        + `${r.blobs} blobs (${r.bytes} B) and ${r.leftovers} leftovers removed, ${r.failed} failed; `
        + `RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, peak ${(peak / 2 ** 20).toFixed(0)} MiB`);
      if (r.repositories !== N || r.failed > 0) throw new Error(`visited ${r.repositories} of ${N}, ${r.failed} failed`);
      if (label === 'first pass' && r.blobs !== orphans) throw new Error(`removed ${r.blobs} blobs, expected the ${orphans} orphans`);
      if (label === 'second pass' && r.blobs !== 0) throw new Error('the second pass removed blobs');
      rows.push({ metric: `GC ${label} over ${N} repositories (s)`, unit: 's', berth: ms / 1000, better: 'lower' });
      rows.push({ metric: `  GC ${label}: peak RSS (MB)`, unit: 'MB', berth: peak / 1e6, better: 'lower' });
    }
  } finally {
    await app.close();
    await cleanupTempDirs();
  }
  return rows;
}

if (require.main === module) {
  runGcScale(Number(process.argv[2] ?? 100_000)).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
