// The two servers under test, each a child process on a free 127.0.0.1 port with a temp root,
// plus /proc readers for their memory.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { startDaemon, waitReady } from '../test/helpers/daemon.js';
import { startDockerRegistry } from '../test/helpers/docker-registry.js';
import { freePort, tempDir } from '../test/helpers/tools.js';
import { NODE_FLAGS } from '../core/node-flags';
import { memStatus } from '../test/helpers/proc-status.js';

export interface Server {
  name: string;
  url: string;
  pid: number;
  root: string;
  stop(): Promise<void>;
  /** Last lines of its logs, for error messages. */
  tail(): string;
}

/** Repository root (bench/ compiles to dist/bench/, so two levels up from there). */
export function repoRoot(): string {
  for (const up of ['..', join('..', '..')]) {
    const dir = resolve(__dirname, up);
    if (existsSync(join(dir, 'bin', 'berth.js')) && existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`cannot find bin/berth.js above ${__dirname}`);
}

/**
 * `opts.root`: serve an existing (generated) root; `opts.logLevel`: instead of warn; `opts.extensions`: the config's;
 * `opts.storage`: keys merged over the storage block (a `storageDriver`, say).
 */
export async function startBerthProcess(
  nodeFlags: string[],
  opts: { root?: string; logLevel?: string; extensions?: Record<string, unknown>; storage?: Record<string, unknown> } = {},
): Promise<Server & { stdoutFile: string }> {
  const dir = await tempDir('bench-berth');
  const root = opts.root ?? join(dir, 'root');
  if (!opts.root) await mkdir(root);
  const port = await freePort();
  const configFile = join(dir, 'config.json');
  const config = {
    // No online GC while measuring (Distribution has none either): its pass is benchmarked on its own (gc-scale.ts).
    storage: { rootDirectory: root, gc: false, ...opts.storage },
    http: { address: '127.0.0.1', port: String(port) },
    log: { level: opts.logLevel ?? 'warn' },
    ...(opts.extensions ? { extensions: opts.extensions } : {}),
  };
  await writeFile(configFile, JSON.stringify(config, null, 2));
  // BENCH_BERTH_BIN points at another build's bin/berth.js, to A/B a change against the same Distribution.
  const berthJs = process.env.BENCH_BERTH_BIN ? resolve(process.env.BENCH_BERTH_BIN) : join(repoRoot(), 'bin', 'berth.js');
  const daemon = startDaemon(`berth :${port}`, process.execPath, [...NODE_FLAGS, ...nodeFlags, berthJs, 'serve', configFile], {
    cwd: dir,
    stdoutFile: join(dir, 'stdout.log'),
    stderrFile: join(dir, 'stderr.log'),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(daemon, async () => {
    const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET /v2/ answered ${res.status}`);
  });
  // A profiler (--cpu-prof) writes its file at exit, which a large heap can make slow: allow 30 s.
  return { name: 'berth', url, pid: daemon.pid, root, stdoutFile: join(dir, 'stdout.log'), stop: () => daemon.stop(30_000), tail: () => daemon.tail() };
}

/**
 * `opts.root`: serve an existing (generated) storage root; `opts.s3`: Distribution's `storage.s3` block instead;
 * `opts.storage`: more keys of its storage block (`redirect`, say).
 */
export async function startDistribution(opts: { root?: string; s3?: Record<string, unknown>; storage?: Record<string, unknown> } = {}): Promise<Server> {
  const reg = await startDockerRegistry({
    root: opts.root,
    s3: opts.s3,
    extraConfig: {
      // Like berth's log level warn: no per-request log lines. The blob-descriptor cache is what
      // Debian's packaged config.yml enables, so Distribution runs as it would be deployed.
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { cache: { blobdescriptor: 'inmemory' }, ...opts.storage },
    },
  });
  const tail = () => {
    const read = (f: string) => {
      try {
        return readFileSync(f, 'utf8').split('\n').slice(-20).join('\n');
      } catch {
        return '';
      }
    };
    return `--- docker-registry ---\n${read(reg.appLogFile)}`;
  };
  return { name: 'distribution', url: reg.url, pid: reg.pid, root: reg.root, stop: () => reg.stop(), tail };
}

export { memStatus, type MemStatus } from '../test/helpers/proc-status.js';

/** Resets VmHWM to the current RSS (Linux ≥ 4.0, own or root's processes); false when not allowed. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface RssSampler {
  /** Stops sampling; returns the samples (bytes) and the kernel's peak over the sampled period. */
  stop(): { samples: number[]; peak: number; peakExact: boolean };
}

/** Samples VmRSS every `everyMs`; the peak comes from VmHWM (reset at start) when the kernel allows. */
export function sampleRss(pid: number, everyMs: number): RssSampler {
  const peakExact = resetPeak(pid);
  const samples: number[] = [memStatus(pid).rss];
  const timer = setInterval(() => {
    try {
      samples.push(memStatus(pid).rss);
    } catch {
      // the process went away; the caller's request will fail and say why
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const now = memStatus(pid);
      samples.push(now.rss);
      const sampledMax = Math.max(...samples);
      return { samples, peak: peakExact ? Math.max(now.hwm, sampledMax) : sampledMax, peakExact };
    },
  };
}

const CLK_TCK = 100; // USER_HZ: /proc reports times in 1/100 s on every Linux architecture Node runs on

/**
 * CPU seconds (user + system) the process has used so far, from /proc/<pid>/stat; with `children`, plus
 * that of its exited children (curl clients).
 */
export function cpuSeconds(pid: number, children = false): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may itself contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const own = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (children ? own + Number(fields[13]) + Number(fields[14]) : own) / CLK_TCK; // cutime, cstime
}
