import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NODE_FLAGS } from '../../core/node-flags';
import { startDaemon, waitReady, type Daemon } from './daemon';
import { freePort, tempDir } from './tools';

/** The repository checkout (dist/test/helpers → ../../..). */
export const REPO_ROOT = join(__dirname, '..', '..', '..');
export const BERTH_BIN = join(REPO_ROOT, 'bin', 'berth.js');

export interface BerthProcess {
  url: string;
  host: string;
  root: string;
  configFile: string;
  logFile: string;
  daemon: Daemon;
  /** SIGTERM and wait (graceful shutdown). */
  stop(): Promise<void>;
  /** SIGKILL: the crash case. */
  kill9(): Promise<void>;
}

type Json = Record<string, unknown>;

export interface SpawnOptions {
  port?: number;
  /** The berth executable to run (default this checkout's bin/berth.js), e.g. one installed from a tarball. */
  bin?: string;
  /** Where config.json is written (modules named in it resolve from there); default the temp work dir. */
  configDir?: string;
  /** The child's environment (default this process's). */
  env?: NodeJS.ProcessEnv;
}

/**
 * berth as a real child process (`node bin/berth.js serve <config>`), for crash, signal and CLI tests.
 * `root` may be reused across restarts by passing `storage.rootDirectory`.
 */
export async function spawnBerth(config: Json = {}, opts: SpawnOptions = {}): Promise<BerthProcess> {
  const work = await tempDir('berth-proc-');
  const storage = (config.storage ?? {}) as Json;
  const root = typeof storage.rootDirectory === 'string' ? storage.rootDirectory : join(work, 'root');
  const port = opts.port ?? (await freePort());
  const logFile = join(work, 'berth.log');
  const raw = {
    ...config,
    storage: { ...storage, rootDirectory: root },
    http: { address: '127.0.0.1', port: String(port), ...((config.http ?? {}) as Json) },
    log: { level: 'info', output: logFile, ...((config.log ?? {}) as Json) },
  };
  const configFile = join(opts.configDir ?? work, 'config.json');
  await writeFile(configFile, JSON.stringify(raw, null, 2));
  const daemon = startDaemon('berth', process.execPath, [...NODE_FLAGS, opts.bin ?? BERTH_BIN, 'serve', configFile], {
    cwd: work,
    stdoutFile: join(work, 'stdout.log'),
    stderrFile: join(work, 'stderr.log'),
    env: opts.env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(daemon, async () => {
    const res = await fetch(`${url}/v2/`);
    // 401: authentication is configured and berth is up.
    if (res.status !== 200 && res.status !== 401) throw new Error(`status ${res.status}`);
  });
  return {
    url,
    host: `127.0.0.1:${port}`,
    root,
    configFile,
    logFile,
    daemon,
    stop: () => daemon.stop(15_000),
    async kill9() {
      process.kill(daemon.pid, 'SIGKILL');
      // The child is unref'd: keep the loop alive while its exit is reported.
      const keepAlive = setInterval(() => undefined, 50);
      await daemon.exited.finally(() => clearInterval(keepAlive));
    },
  };
}
