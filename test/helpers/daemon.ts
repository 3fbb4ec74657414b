// Long-running test servers as children: output to files, stopped by PID, killed when the test process ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { sleep } from './tools.js';

export interface Daemon {
  readonly name: string;
  readonly pid: number;
  readonly stdoutFile: string;
  readonly stderrFile: string;
  /** Resolves with the exit code (or signal name) once the process has gone. */
  readonly exited: Promise<number | string>;
  /** SIGTERM by PID, SIGKILL after `graceMs`; safe to call twice or after a crash. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines of stderr and stdout, for error messages. */
  tail(lines?: number): string;
}

const live = new Map<number, ChildProcess>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // prependListener: children must be dead before tools.ts removes their temp dirs on 'exit'.
  process.prependListener('exit', () => {
    for (const pid of live.keys()) signal(pid, 'SIGKILL');
  });
  // Node exits on these signals without emitting 'exit'; route them through it so children die too.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
  }
}

/** False when the process is already gone (ESRCH), which stop() treats as success. */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

export interface DaemonOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  stdoutFile: string;
  stderrFile: string;
}

/** Spawns `cmd` detached from the event loop (files, not pipes), so a forgotten stop() cannot hang the run. */
export function startDaemon(name: string, cmd: string, args: string[], opts: DaemonOptions): Daemon {
  installExitHooks();
  // 'a': a test may read the file while the daemon appends; O_APPEND keeps writes at the end.
  const outFd = openSync(opts.stdoutFile, 'a');
  const errFd = openSync(opts.stderrFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', outFd, errFd] });
  } finally {
    closeSync(outFd);
    closeSync(errFd);
  }
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
    child.once('error', (e) => resolve(`spawn error: ${e.message}`));
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not spawn ${cmd}`);
  live.set(pid, child);
  void exited.then(() => live.delete(pid));
  child.unref();

  const tail = (lines = 20): string => {
    const read = (f: string) => {
      try {
        return readFileSync(f, 'utf8').split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    };
    return `--- ${name} stderr ---\n${read(opts.stderrFile)}\n--- ${name} stdout ---\n${read(opts.stdoutFile)}`;
  };

  // The child is unref'd: a bare `await exited` (after SIGKILL, say) leaves nothing holding the event loop,
  // and node:test then abandons the test ("Promise resolution is still pending").
  const gone = async (): Promise<void> => {
    const keepAlive = setInterval(() => undefined, 50);
    await exited.finally(() => clearInterval(keepAlive));
  };
  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 5_000): Promise<void> => {
    stopping ??= (async () => {
      if (!live.has(pid)) return;
      if (!signal(pid, 'SIGTERM')) return gone();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<false>((r) => (timer = setTimeout(r, graceMs, false)));
      // Cleared once the daemon is gone, so a quick stop does not hold the test process open.
      const done = await Promise.race([exited.then(() => true), grace]).finally(() => clearTimeout(timer));
      if (!done) {
        signal(pid, 'SIGKILL');
        await gone();
      }
    })();
    return stopping;
  };

  return { name, pid, stdoutFile: opts.stdoutFile, stderrFile: opts.stderrFile, exited, stop, tail };
}

/**
 * Waits for `probe` to succeed, failing fast with the daemon's output if it exits first
 * (a bad config should read as the daemon's own error, not as a timeout).
 */
export async function waitReady(d: Daemon, probe: () => Promise<unknown>, timeoutMs = 15_000): Promise<void> {
  let exitCode: number | string | undefined;
  void d.exited.then((c) => (exitCode = c));
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`${d.name} exited (${exitCode}) before it was ready\n${d.tail()}`);
    try {
      await probe();
      return;
    } catch (e) {
      last = e;
      await sleep(50);
    }
  }
  await d.stop();
  throw new Error(`${d.name} not ready after ${timeoutMs} ms: ${String(last)}\n${d.tail()}`);
}

/** Waits for the `READY <port>` line a test server written for these helpers prints on stdout; its port. */
export async function readyPort(daemon: Daemon, stdoutFile: string, timeoutMs = 20_000): Promise<number> {
  let exited: number | string | undefined;
  void daemon.exited.then((c) => (exited = c));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = /READY (\d+)/.exec(readFileSync(stdoutFile, 'utf8'));
    if (m) return Number(m[1]);
    if (exited !== undefined) throw new Error(`${daemon.name} exited (${exited}) before it was ready\n${daemon.tail()}`);
    await sleep(25);
  }
  await daemon.stop();
  throw new Error(`${daemon.name} printed no READY line within ${timeoutMs / 1000} s\n${daemon.tail()}`);
}
