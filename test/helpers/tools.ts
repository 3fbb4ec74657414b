// Real tools for tests: install what is missing, run commands, free ports, temp dirs, readiness polls.
import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian package that ships each command the tests call. */
const PACKAGE_OF: Record<string, string> = {
  skopeo: 'skopeo',
  umoci: 'umoci',
  ctr: 'containerd',
  containerd: 'containerd',
  'docker-registry': 'docker-registry',
  dockerd: 'docker.io',
  docker: 'docker.io',
  podman: 'podman',
  htpasswd: 'apache2-utils',
  slapd: 'slapd',
  slapadd: 'slapd',
  ldapsearch: 'ldap-utils',
  ldapadd: 'ldap-utils',
  ldapmodify: 'ldap-utils',
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  haproxy: 'haproxy',
  openssl: 'openssl',
  sqlite3: 'sqlite3',
  prometheus: 'prometheus',
  promtool: 'prometheus',
  'nats-server': 'nats-server',
};

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Default 120 s; a hung tool must fail the test, not stall the run. */
  timeoutMs?: number;
  /** Resolve with the exit code instead of throwing on non-zero. */
  allowFail?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command to completion; throws with its stderr on non-zero exit unless `allowFail`. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const line = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: 'pipe' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${line}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code: code ?? -1 };
      if (timedOut) return reject(new Error(`${line}: timed out after ${timeoutMs} ms\n${result.stderr}`));
      if (result.code !== 0 && !opts.allowFail) {
        const why = signal ? `killed by ${signal}` : `exited ${result.code}`;
        return reject(new Error(`${line}: ${why}\n${result.stderr || result.stdout}`));
      }
      resolve(result);
    });
    child.stdin.end(opts.input);
  });
}

async function hasCommand(cmd: string): Promise<boolean> {
  return (await run('sh', ['-c', 'command -v "$0"', cmd], { allowFail: true })).code === 0;
}

const ensured = new Map<string, Promise<void>>();
let aptUpdated: Promise<void> | undefined;
// apt takes a dpkg lock, so installs from concurrent ensureTools calls run one after another.
let aptQueue: Promise<unknown> = Promise.resolve();

const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', DEBCONF_NONINTERACTIVE_SEEN: 'true' };

async function aptInstall(packages: string[]): Promise<void> {
  aptUpdated ??= run('apt-get', ['update'], { env: aptEnv, timeoutMs: 300_000 }).then(() => undefined);
  await aptUpdated;
  // Without a policy-rc.d, postinst scripts start system daemons (registry on :5000, slapd, redis):
  // tests own their servers, so keep the packages from starting any while we install.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    await run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], {
      env: aptEnv,
      timeoutMs: 600_000,
    });
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}

/** Makes every command in `tools` available, apt-installing the Debian packages of missing ones. */
export function ensureTools(tools: string[]): Promise<void> {
  return Promise.all(tools.map(ensureTool)).then(() => undefined);
}

function ensureTool(tool: string): Promise<void> {
  let pending = ensured.get(tool);
  if (!pending) {
    pending = (async () => {
      if (await hasCommand(tool)) return;
      const pkg = PACKAGE_OF[tool];
      if (!pkg) throw new Error(`ensureTools: ${tool} is missing and no Debian package is known for it`);
      const step = aptQueue.then(() => aptInstall([pkg]));
      aptQueue = step.catch(() => undefined);
      await step;
      if (!(await hasCommand(tool))) throw new Error(`ensureTools: installed ${pkg} but ${tool} is still not on PATH`);
    })();
    // A failed install is retried by the next caller rather than cached as failed forever.
    pending.catch(() => ensured.delete(tool));
    ensured.set(tool, pending);
  }
  return pending;
}

/** A port that was free a moment ago on 127.0.0.1 (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const tempDirs = new Set<string>();

/** A fresh directory under the OS temp dir, removed by `cleanupTempDirs()` or at process exit. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `berth-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export async function cleanupTempDirs(): Promise<void> {
  const dirs = [...tempDirs];
  tempDirs.clear();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

process.on('exit', () => {
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort at exit: a leftover temp dir must not turn a passing run into a crash.
    }
  }
});

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until `url` answers with any HTTP status (401 counts: the server is up). */
export async function waitForHttp(url: string, timeoutMs = 15_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return res;
    } catch (e) {
      last = e;
      await sleep(50);
    }
  }
  throw new Error(`waitForHttp: ${url} did not answer within ${timeoutMs} ms: ${String(last)}`);
}
