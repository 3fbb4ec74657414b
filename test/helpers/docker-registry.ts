// A real CNCF Distribution registry (Debian's docker-registry 2.8) as an upstream or reference server.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, waitReady } from './daemon.js';
import { ensureTools, freePort, run, sleep, tempDir } from './tools.js';

export interface DockerRegistryOptions {
  htpasswd?: { user: string; password: string };
  /** Deep-merged over the generated config (e.g. `{ proxy: { remoteurl } }`). */
  extraConfig?: Record<string, unknown>;
  /** Serve this existing storage root (a generated one, `docker/registry/v2/...` below it) instead of a new one. */
  root?: string;
  /**
   * Distribution's `storage.s3` block instead of the filesystem driver. The registry then runs without
   * AWS_CA_BUNDLE in its environment: aws-sdk-go v1 rejects the driver's own transport when it is set and the
   * registry panics at start (LoadCustomCABundleError).
   */
  s3?: Record<string, unknown>;
}

export interface DockerRegistry {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `127.0.0.1:<port>`, the form image references and skopeo's docker:// use. */
  host: string;
  port: number;
  /** Storage root (`docker/registry/v2/...` below it). */
  root: string;
  /** Apache combined access log, one line per request; see `countRequests`. */
  logFile: string;
  /** The registry's own logrus output (errors, "response completed" lines). */
  appLogFile: string;
  configFile: string;
  /** `user:password` when started with htpasswd, for skopeo's --creds. */
  creds?: string;
  pid: number;
  stop(): Promise<void>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k] as Obj, v) : v;
  return out;
}

export async function startDockerRegistry(opts: DockerRegistryOptions = {}): Promise<DockerRegistry> {
  await ensureTools(opts.htpasswd ? ['docker-registry', 'htpasswd'] : ['docker-registry']);
  const dir = await tempDir('docker-registry');
  const root = opts.root ?? join(dir, 'storage');
  if (!opts.root) await mkdir(root);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;

  let config: Obj = {
    version: '0.1', // a string: Distribution rejects a YAML float here
    log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
    storage: {
      ...(opts.s3 ? { s3: opts.s3 } : { filesystem: { rootdirectory: root } }),
      delete: { enabled: true },
      // The purger would delete uploads a slow test still holds open.
      maintenance: { uploadpurging: { enabled: false } },
    },
    // A fixed secret silences the "No HTTP secret provided" warning and keeps upload state tokens stable.
    http: { addr: host, secret: 'berth-test-secret', headers: { 'X-Content-Type-Options': ['nosniff'] } },
  };
  let creds: string | undefined;
  if (opts.htpasswd) {
    const { user, password } = opts.htpasswd;
    // Distribution's htpasswd auth accepts bcrypt entries only, hence -B.
    const { stdout } = await run('htpasswd', ['-Bbn', user, password]);
    const file = join(dir, 'htpasswd');
    await writeFile(file, stdout.trim() + '\n');
    config.auth = { htpasswd: { realm: 'berth-test', path: file } };
    creds = `${user}:${password}`;
  }
  if (opts.extraConfig) config = deepMerge(config, opts.extraConfig);

  // JSON is valid YAML, so the config needs no YAML writer and extraConfig merges as plain objects.
  const configFile = join(dir, 'config.yml');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const logFile = join(dir, 'access.log');
  const appLogFile = join(dir, 'registry.log');
  // Distribution writes the access log to stdout and its own log to stderr.
  const env = { ...process.env };
  if (opts.s3) delete env.AWS_CA_BUNDLE;
  const daemon = startDaemon(`docker-registry ${host}`, 'docker-registry', ['serve', configFile], {
    cwd: dir,
    env,
    stdoutFile: logFile,
    stderrFile: appLogFile,
  });
  const url = `http://${host}`;
  await waitReady(daemon, async () => {
    const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    if (res.status !== 200 && res.status !== 401) throw new Error(`GET /v2/ answered ${res.status}`);
  });
  return { url, host, port, root, logFile, appLogFile, configFile, creds, pid: daemon.pid, stop: () => daemon.stop() };
}

export interface AccessLogEntry {
  method: string;
  /** Request URI as sent, query string included (e.g. `?ns=docker.io` from containerd mirrors). */
  path: string;
  status: number;
  userAgent: string;
}

// 127.0.0.1 - - [23/Nov/2026:13:21:09 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"
const COMBINED = /^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3}) \S+ "[^"]*" "([^"]*)"/;

/** Parses the access log written since start (or since byte `fromOffset`). */
export async function accessLogEntries(logFile: string, fromOffset = 0): Promise<AccessLogEntry[]> {
  // gorilla's logging handler writes the line after the response is sent, so a client can
  // see its response a moment before the line exists; a short settle avoids undercounting.
  await sleep(50);
  const text = (await readFile(logFile)).subarray(fromOffset).toString('utf8');
  const entries: AccessLogEntry[] = [];
  for (const line of text.split('\n')) {
    const m = COMBINED.exec(line);
    if (m) entries.push({ method: m[1]!, path: m[2]!, status: Number(m[3]), userAgent: m[4]! });
  }
  return entries;
}

/** Counts requests whose `"METHOD /path?query"` matches, e.g. `/^GET \/v2\/lib\/a\/blobs\//`. */
export async function countRequests(logFile: string, methodAndPath: RegExp, fromOffset = 0): Promise<number> {
  // Drop a /g flag: RegExp.test with /g carries lastIndex from one line to the next.
  const re = new RegExp(methodAndPath.source, methodAndPath.flags.replace('g', ''));
  const entries = await accessLogEntries(logFile, fromOffset);
  return entries.filter((e) => re.test(`${e.method} ${e.path}`)).length;
}

/** Current size of the access log, to count only requests made after this point. */
export async function logOffset(logFile: string): Promise<number> {
  await sleep(50); // same settle as accessLogEntries, so earlier requests fall before the offset
  return (await stat(logFile)).size;
}
