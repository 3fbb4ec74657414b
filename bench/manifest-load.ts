// Manifest GET load: wrk (C, event loop) when installed, else a Node keep-alive client. The same
// client is used for both servers in a run.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import { run } from '../test/helpers/tools.js';

export interface LoadResult {
  rps: number;
  requests: number;
  errors: number;
  /** Median latency in ms, when the client reports it. */
  p50Ms?: number;
  p99Ms?: number;
}

async function hasWrk(): Promise<boolean> {
  return (await run('sh', ['-c', 'command -v wrk'], { allowFail: true })).code === 0;
}

/** wrk if present, else try `apt-get install wrk` (Debian ships it), else undefined. */
export async function ensureWrk(): Promise<boolean> {
  if (await hasWrk()) return true;
  if (!existsSync('/usr/bin/apt-get')) return false;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '--no-install-recommends', 'wrk'], { env, allowFail: true, timeoutMs: 300_000 });
  if ((await install()).code !== 0) {
    await run('apt-get', ['update'], { env, allowFail: true, timeoutMs: 300_000 });
    await install();
  }
  return hasWrk();
}

const LATENCY_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

function wrkMs(text: string, pct: string): number | undefined {
  const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text);
  return m ? Number(m[1]) * LATENCY_UNITS[m[2]!]! : undefined;
}

export async function wrkLoad(url: string, accept: string, concurrency: number, seconds: number, threads: number): Promise<LoadResult> {
  const args = [`-t${threads}`, `-c${concurrency}`, `-d${seconds}s`, '--latency', '-H', `Accept: ${accept}`, url];
  const { stdout } = await run('wrk', args, { timeoutMs: (seconds + 30) * 1000 });
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(stdout);
  const total = /^\s*(\d+) requests in/m.exec(stdout);
  if (!rps || !total) throw new Error(`cannot parse wrk output:\n${stdout}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout);
  const sockErr = /Socket errors:.*?connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = Number(non2xx?.[1] ?? 0) + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps: Number(rps[1]), requests: Number(total[1]), errors, p50Ms: wrkMs(stdout, '50'), p99Ms: wrkMs(stdout, '99') };
}

/** `concurrency` keep-alive connections, each issuing GETs back to back for `seconds`. */
export async function nodeLoad(url: string, accept: string, concurrency: number, seconds: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const deadline = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  let errors = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = http.get(url, { agent, headers: { Accept: accept } }, (res) => {
        if (res.statusCode !== 200) errors++;
        res.on('data', () => undefined);
        res.on('end', () => {
          latencies.push(performance.now() - t0);
          resolve();
        });
        res.on('error', () => (errors++, resolve()));
      });
      req.on('error', () => (errors++, resolve()));
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) await one();
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))];
  return { rps: latencies.length / elapsed, requests: latencies.length, errors, p50Ms: pct(50), p99Ms: pct(99) };
}
