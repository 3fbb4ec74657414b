// podman (Debian 4.3) as a daemonless client with its own storage, run root and auth file in a temp dir.
// `--storage-driver vfs` (no overlay on the temp dir's filesystem), `--cgroup-manager cgroupfs` (no systemd
// here), `--events-backend none` (no journald); registry commands get `--tls-verify=false` (test registries
// speak plain HTTP) and REGISTRY_AUTH_FILE keeps `podman login` out of the user's own auth file.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureTools, run, tempDir, type RunOptions, type RunResult } from './tools.js';

export interface Podman {
  /** `podman <global flags> ...args`; throws on non-zero unless `allowFail`. */
  podman(args: string[], opts?: RunOptions): Promise<RunResult>;
}

const REGISTRY_COMMANDS = new Set(['login', 'push', 'pull', 'search']);

export async function startPodman(): Promise<Podman> {
  await ensureTools(['podman']);
  const dir = await tempDir('podman');
  const global = [
    '--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--tmpdir', join(dir, 'tmp'),
    '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none',
  ];
  // podman 4.3 fails any pull whose REGISTRY_AUTH_FILE does not exist yet.
  const authFile = join(dir, 'auth.json');
  await writeFile(authFile, '{}');
  const env = { ...process.env, REGISTRY_AUTH_FILE: authFile, XDG_RUNTIME_DIR: join(dir, 'run') };
  const podman = (args: string[], opts: RunOptions = {}) => {
    const [command, ...rest] = args;
    const tls = command && REGISTRY_COMMANDS.has(command) ? ['--tls-verify=false'] : [];
    return run('podman', [...global, ...(command ? [command] : []), ...tls, ...rest], { ...opts, env: { ...env, ...opts.env } });
  };
  return { podman };
}
