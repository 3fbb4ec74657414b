// A private Docker daemon (Debian's docker.io) in a temp dir, driven by the docker CLI, stopped by PID.
//
// What works here, as root, found by trying: `dockerd --data-root <tmp>/data --exec-root <tmp>/exec
// --pidfile <tmp>/docker.pid -H unix://<tmp>/docker.sock --storage-driver=vfs --iptables=false
// --ip6tables=false --bridge=none --insecure-registry 127.0.0.0/8`. No `--containerd`: dockerd then starts
// its own containerd under the exec-root (socket <tmp>/exec/containerd/containerd.sock), which never meets a
// system containerd and exits with dockerd on SIGTERM. vfs needs no overlay mounts; without a bridge and
// iptables the daemon touches no host networking. `docker info` answers about a second after the start.
//
// The CLI is Debian's /usr/bin/docker when present (this machine also has a newer one in /usr/local/bin; the
// daemon does the registry work either way). DOCKER_CONFIG points into the temp dir, so `docker login`
// stores its credentials there and never in ~/.docker.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, waitReady } from './daemon.js';
import { ensureTools, run, tempDir, type RunOptions, type RunResult } from './tools.js';

export interface Dockerd {
  /** `docker -H unix://<socket> ...args` with this daemon's own DOCKER_CONFIG; throws on non-zero unless `allowFail`. */
  docker(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** SIGTERM by PID (dockerd stops its containerd), then the temp dir goes with the test's cleanup. */
  stop(): Promise<void>;
}

const DEBIAN_CLI = '/usr/bin/docker';

export interface DockerdOptions {
  /** More dockerd flags, e.g. `--registry-mirror http://127.0.0.1:<port>`. */
  args?: string[];
}

export async function startDockerd(opts: DockerdOptions = {}): Promise<Dockerd> {
  await ensureTools(['dockerd', 'docker']);
  const dir = await tempDir('dockerd');
  const socket = join(dir, 'docker.sock'); // short path: unix sockets are capped at 108 bytes
  const config = join(dir, 'cli-config');
  await mkdir(config);
  const daemon = startDaemon('dockerd', 'dockerd', [
    '--data-root', join(dir, 'data'),
    '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'docker.pid'),
    '-H', `unix://${socket}`,
    '--storage-driver=vfs', '--iptables=false', '--ip6tables=false', '--bridge=none',
    '--insecure-registry', '127.0.0.0/8',
    ...(opts.args ?? []),
  ], { cwd: dir, stdoutFile: join(dir, 'dockerd.out.log'), stderrFile: join(dir, 'dockerd.log') });
  const cli = existsSync(DEBIAN_CLI) ? DEBIAN_CLI : 'docker';
  const env = { ...process.env, DOCKER_CONFIG: config, DOCKER_HOST: undefined, DOCKER_CONTEXT: undefined };
  const docker = (args: string[], opts: RunOptions = {}) =>
    run(cli, ['-H', `unix://${socket}`, ...args], { ...opts, env: { ...env, ...opts.env } });
  await waitReady(daemon, () => docker(['info'], { timeoutMs: 5_000 }), 30_000);
  // dockerd may take a while to unmount and stop its containerd: a longer grace than the default.
  return { docker, stop: () => daemon.stop(15_000) };
}
