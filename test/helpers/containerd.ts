// A private containerd (own root, state and socket in a temp dir) driven with ctr, as a real pulling client.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, waitReady } from './daemon.js';
import { ensureTools, run, tempDir, type RunOptions, type RunResult } from './tools.js';

export interface ContainerdOptions {
  /** Directory of `<host>/hosts.toml` files; created if missing, default a fresh temp dir. */
  hostsDir?: string;
  /** Default `berth-test`. */
  namespace?: string;
}

export interface CtrPullOptions extends RunOptions {
  /** For a registry addressed directly over http (`127.0.0.1:port/repo:tag`). */
  plainHttp?: boolean;
  /** Use the hosts.toml mirrors under this handle's hostsDir; default true. */
  useHostsDir?: boolean;
  /** e.g. `linux/arm64`; default this machine's. */
  platform?: string;
  allPlatforms?: boolean;
  /** `user:password` */
  user?: string;
  /** Default overlayfs; `native` where overlay-on-overlay is refused. */
  snapshotter?: string;
}

export interface Containerd {
  /** The grpc socket path. */
  address: string;
  root: string;
  hostsDir: string;
  namespace: string;
  pid: number;
  /** `ctr --address <sock> --namespace <ns> ...args`; throws on non-zero unless `allowFail`. */
  ctr(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** `ctr images pull` (with `--hosts-dir` unless `useHostsDir: false`). */
  pull(ref: string, opts?: CtrPullOptions): Promise<RunResult>;
  stop(): Promise<void>;
}

const toml = (s: string) => JSON.stringify(s); // a JSON string is a valid TOML basic string

export async function startContainerd(opts: ContainerdOptions = {}): Promise<Containerd> {
  await ensureTools(['containerd', 'ctr']);
  const dir = await tempDir('containerd');
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  // The socket lives in the short temp path: unix socket paths are capped at 108 bytes.
  const address = join(dir, 'containerd.sock');
  const hostsDir = opts.hostsDir ?? join(dir, 'hosts.d');
  await mkdir(hostsDir, { recursive: true });
  const namespace = opts.namespace ?? 'berth-test';

  // No CRI: it needs CNI and runc and binds a stream server. aufs/btrfs/zfs/devmapper cannot run
  // on a temp dir and would only log errors. Mirrors are not daemon config here: the CRI plugin's
  // `registry.config_path` is read by CRI alone; ctr resolves hosts.toml itself from `--hosts-dir`.
  const config = [
    'version = 2',
    `root = ${toml(root)}`,
    `state = ${toml(state)}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",',
    '  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
    '[grpc]',
    `  address = ${toml(address)}`,
    '[ttrpc]',
    `  address = ${toml(address + '.ttrpc')}`,
    // Default is /opt/containerd, shared with any system containerd.
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${toml(join(dir, 'opt'))}`,
    '',
  ].join('\n');
  const configFile = join(dir, 'config.toml');
  await writeFile(configFile, config);

  const daemon = startDaemon('containerd', 'containerd', ['--config', configFile], {
    cwd: dir,
    stdoutFile: join(dir, 'containerd.out.log'),
    stderrFile: join(dir, 'containerd.log'),
  });
  const ctr = (args: string[], runOpts: RunOptions = {}) =>
    run('ctr', ['--address', address, '--namespace', namespace, ...args], runOpts);
  await waitReady(daemon, () => ctr(['version'], { timeoutMs: 5_000 }));

  const pull = (ref: string, p: CtrPullOptions = {}) => {
    const args = ['images', 'pull'];
    if (p.plainHttp) args.push('--plain-http');
    if (p.useHostsDir !== false) args.push('--hosts-dir', hostsDir);
    if (p.platform) args.push('--platform', p.platform);
    if (p.allPlatforms) args.push('--all-platforms');
    if (p.user) args.push('--user', p.user);
    if (p.snapshotter) args.push('--snapshotter', p.snapshotter);
    return ctr([...args, ref], p);
  };
  return { address, root, hostsDir, namespace, pid: daemon.pid, ctr, pull, stop: () => daemon.stop() };
}

/** `sha256:<hex>` of the bytes containerd stored for `digest` (`ctr content get`, raw, hashed without buffering). */
export async function contentSha256(c: Containerd, digest: string): Promise<string> {
  const script = 'ctr --address "$1" --namespace "$2" content get "$3" | sha256sum';
  const { stdout } = await run('sh', ['-c', script, 'sh', c.address, c.namespace, digest], { timeoutMs: 30_000 });
  return `sha256:${stdout.split(' ')[0]}`;
}

export interface HostsTomlOptions {
  /** For an https mirror with a self-signed certificate. */
  skipVerify?: boolean;
  /** Default `["pull", "resolve"]`: the mirror may answer tags as well as digests. */
  capabilities?: string[];
  /** Default `https://<upstreamHost>`, tried after the mirror fails. */
  server?: string;
  /** Mirror URL already ends in the API root (containerd appends `/v2` otherwise). */
  overridePath?: boolean;
}

/**
 * Writes `<hostsDir>/<upstreamHost>/hosts.toml` sending pulls of `<upstreamHost>/...` to `mirrorUrl`
 * first. containerd then asks the mirror for `/v2/<repo>/...?ns=<upstreamHost>`.
 */
export async function writeHostsToml(
  hostsDir: string,
  upstreamHost: string,
  mirrorUrl: string,
  opts: HostsTomlOptions = {},
): Promise<string> {
  const caps = (opts.capabilities ?? ['pull', 'resolve']).map(toml).join(', ');
  const lines = [
    `server = ${toml(opts.server ?? `https://${upstreamHost}`)}`,
    '',
    `[host.${toml(mirrorUrl)}]`,
    `  capabilities = [${caps}]`,
  ];
  if (opts.skipVerify) lines.push('  skip_verify = true');
  if (opts.overridePath) lines.push('  override_path = true');
  const dir = join(hostsDir, upstreamHost);
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'hosts.toml');
  await writeFile(file, lines.join('\n') + '\n');
  return file;
}
