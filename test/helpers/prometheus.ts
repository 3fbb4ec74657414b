// A real Prometheus server (Debian's prometheus 2.42) scraping test servers, queried through its HTTP API.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, waitReady } from './daemon.js';
import { ensureTools, freePort, run, tempDir } from './tools.js';

export interface ScrapeJob {
  job: string;
  /** `host:port` */
  target: string;
  path?: string;
  basicAuth?: { username: string; password: string };
}

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface PromTarget {
  job: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

export interface Prometheus {
  url: string;
  /** An instant PromQL query; rejects on a query error. */
  query(promql: string): Promise<PromSample[]>;
  targets(): Promise<PromTarget[]>;
  stop(): Promise<void>;
}

/** Prometheus on a free port with its TSDB in a temp dir, scraping `jobs` every `interval` (default 1s). */
export async function startPrometheus(jobs: ScrapeJob[], interval = '1s'): Promise<Prometheus> {
  await ensureTools(['prometheus']);
  const dir = await tempDir('prometheus');
  const port = await freePort();
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    scrape_configs: jobs.map((j) => ({
      job_name: j.job,
      metrics_path: j.path ?? '/metrics',
      static_configs: [{ targets: [j.target] }],
      ...(j.basicAuth ? { basic_auth: j.basicAuth } : {}),
    })),
  };
  // JSON is YAML: no YAML writer needed.
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const daemon = startDaemon('prometheus', 'prometheus', [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], { cwd: dir, stdoutFile: join(dir, 'stdout.log'), stderrFile: join(dir, 'stderr.log') });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(daemon, async () => {
    const res = await fetch(`${url}/-/ready`);
    if (res.status !== 200) throw new Error(`not ready: ${res.status}`);
  }, 30_000);
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  return {
    url,
    async query(promql) {
      const data = await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(promql)}`);
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async targets() {
      const data = await api<{ activeTargets: Array<{ labels: Record<string, string>; health: PromTarget['health']; lastError: string }> }>('/api/v1/targets');
      return data.activeTargets.map((t) => ({ job: t.labels.job ?? '', health: t.health, lastError: t.lastError }));
    },
    stop: () => daemon.stop(),
  };
}

/** `promtool check metrics` over Prometheus text: its exit code and what it printed (nothing when clean). */
export async function promtoolCheckMetrics(text: string): Promise<{ code: number; output: string }> {
  await ensureTools(['promtool']);
  const r = await run('promtool', ['check', 'metrics'], { input: text, allowFail: true });
  return { code: r.code, output: `${r.stdout}${r.stderr}`.trim() };
}
